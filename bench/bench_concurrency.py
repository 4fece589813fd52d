"""Concurrency benchmark: aggregate training throughput of two runs at once vs one alone.

Worker processes are started with the real runner (``runner.launch_worker``, as the
scheduler does), on the default run (digits, MLP, NT-Xent, batch 256) with snapshots only
at epoch 0 and at the end (the loop's throughput is what is compared). Configurations:

- ``alone``: one run (what the scheduler gives a run alone);
- ``two``: two runs started together (what the scheduler gives two runs queued together);
- ``two-oversub``: two runs with threads = all cores each (what happens without the
  thread split), for comparison;
- ``late-second``: a run alone, and a second run started 3 s later, as when a user queues
  a run while another trains;
- ``alone``, ``two`` and ``late-second`` use the runner's thread choice
  (``runner.threads_per_worker``: the cores but one, shared; the worker re-fits as runs
  start and end); the other configurations pin their threads in the run's config:
  ``alone-all`` (threads = all cores), ``alone-1``, ``two-half`` (cores // 2 each).

Throughput of a configuration = total optimiser steps of its runs / the wall time from
the first training loop's start to the last one's end (each loop's start is its run's
``finished - seconds`` in the store), so process start-up is excluded and non-overlap is
not flattered. The configurations are interleaved, --repeats times, and the medians
reported with the ratio two / alone (target >= 0.9x).

    .venv/bin/python bench/bench_concurrency.py [--epochs 200] [--repeats 3]

This script prints figures; it never passes or fails on time.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from jobs import runner  # noqa: E402
from jobs import store as st  # noqa: E402
from trainers.config import RunConfig  # noqa: E402


def run_config(s: st.Store, cfg: RunConfig, threads: list[int], delays: list[float], pinned: bool) -> dict:
    """Launch one worker per entry of ``threads`` (after its delay); wait; return figures.
    ``pinned``: the threads are written in the run's config, so the worker keeps them; else the
    runner's fitting applies (the worker follows the number of running runs)."""
    ids = []
    procs = []
    t0 = time.perf_counter()
    for k, (th, delay) in enumerate(zip(threads, delays, strict=True)):
        while time.perf_counter() - t0 < delay:
            time.sleep(0.01)
        rid = s.create_run(cfg.replace(seed=k, threads=th if pinned else 0), status=st.RUNNING)
        procs.append(runner.launch_worker(s, rid, threads=th))
        ids.append(rid)
    for p in procs:
        p.wait()
    recs = [s.get_run(i) for i in ids]
    bad = [r for r in recs if r.status != st.FINISHED]
    if bad:
        raise RuntimeError(f"run {bad[0].id} ended {bad[0].status}: {bad[0].reason}")
    maps_s = None
    if runner.scheduler_running(s):  # the +maps configurations: wait until every map is in
        while s.pending_projections("umap"):
            time.sleep(0.05)
        maps_s = time.perf_counter() - t0
    starts = [r.finished - r.seconds for r in recs]
    ends = [r.finished for r in recs]
    steps = sum(r.step for r in recs)
    per_run = [r.step / r.seconds for r in recs]
    return {"steps_per_s": steps / (max(ends) - min(starts)), "per_run": per_run, "maps_s": maps_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=200, help="epochs per run (5 steps each on digits at batch 256)")
    ap.add_argument("--maps-epochs", type=int, default=100, help="epochs of the +maps runs (snapshots at 0, 1, 2, 4, ...)")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    cores = os.cpu_count() or 1
    half = max(1, cores // 2)
    cfg = RunConfig(epochs=a.epochs, snapshot_every=str(a.epochs))
    cfg_maps = RunConfig(epochs=a.maps_epochs)
    one, two = runner.threads_per_worker(1), runner.threads_per_worker(2)
    # name: (threads, start delays, config, pinned, with the scheduler's UMAP maps)
    configs = {
        "alone": ([one], [0.0], cfg, False, False),  # what the scheduler gives a run alone
        "two": ([two, two], [0.0, 0.0], cfg, False, False),  # ... two runs queued together
        "late-second": ([one, two], [0.0, 3.0], cfg, False, False),  # a second run queued while the first trains
        "alone-all": ([cores], [0.0], cfg, True, False),  # one run, threads = all cores
        "alone-1": ([1], [0.0], cfg, True, False),
        "two-half": ([half, half], [0.0, 0.0], cfg, True, False),  # threads = cores // 2 each
        "two-oversub": ([cores, cores], [0.0, 0.0], cfg, True, False),  # no thread split
        "alone+maps": ([one], [0.0], cfg_maps, False, True),  # the usual case: maps computed while it trains
        "alone-all+maps": ([cores], [0.0], cfg_maps, True, True),
    }
    import torch

    load0 = os.getloadavg()
    print(f"# {cores} CPUs, torch {torch.__version__}; default digits run, {a.epochs} epochs x "
          f"{1438 // cfg.batch_size} steps, snapshots at epochs 0 and {a.epochs} (+maps: {a.maps_epochs} epochs, "
          f"snapshots at 0, 1, 2, 4, ... with the scheduler computing their UMAP maps meanwhile); "
          f"runner.threads_per_worker(1) = {one}, (2) = {two}; "
          f"load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    res: dict[str, list[dict]] = {k: [] for k in configs}
    with tempfile.TemporaryDirectory() as root, tempfile.TemporaryDirectory() as root_maps:
        s = st.Store(root)
        os.environ["LAB_UMAP"] = "1"
        os.environ["LAB_SCHEDULER_IDLE"] = "3600"
        s_maps = st.Store(root_maps)
        runner.ensure_scheduler(s_maps)
        try:
            while not (Path(root_maps) / "scheduler.pid").exists():
                time.sleep(0.1)
            time.sleep(5)  # let its projection thread import umap and warm up
            for r in range(a.repeats):
                for name, (threads, delays, c, pinned, maps) in configs.items():
                    out = run_config(s_maps if maps else s, c, threads, delays, pinned)
                    res[name].append(out)
                    extra = f", all maps in {out['maps_s']:.1f} s" if out["maps_s"] else ""
                    print(f"  repeat {r + 1} {name:<15} threads {threads}: {out['steps_per_s']:7.1f} steps/s aggregate "
                          f"(per run {', '.join(f'{x:.1f}' for x in out['per_run'])}{extra}; "
                          f"load {os.getloadavg()[0]:.2f})", flush=True)
        finally:
            pid_file = Path(root_maps) / "scheduler.pid"
            if pid_file.exists():
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
                time.sleep(1.0)
    med = {k: statistics.median(x["steps_per_s"] for x in v) for k, v in res.items()}
    print()
    print(f"{'configuration':<16}{'threads':>9}{'steps/s':>10}{'vs alone':>10}{'vs alone-all':>14}{'all maps s':>12}")
    for name, (threads, *_rest) in configs.items():
        v = med[name]
        maps = [x["maps_s"] for x in res[name] if x["maps_s"]]
        m = f"{statistics.median(maps):.1f}" if maps else "-"
        print(f"{name:<16}{'+'.join(map(str, threads)):>9}{v:>10.1f}{v / med['alone']:>9.2f}x{v / med['alone-all']:>13.2f}x{m:>12}")
    print("aggregate = steps of all runs / wall time from the first loop's start to the last loop's end; "
          "medians of the repeats; target: two / alone >= 0.9x (alone, two, late-second, alone+maps: the runner's "
          "thread choice; the others pin their threads; alone-all: threads = all cores)")
    load1 = os.getloadavg()
    print(f"# load average at end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")


if __name__ == "__main__":
    main()
