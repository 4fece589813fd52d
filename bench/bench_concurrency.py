"""Concurrency benchmark: aggregate training throughput of two runs at once vs one alone.

Worker processes are started with the real runner (``runner.launch_worker``, as the
scheduler does), on the default run (digits, MLP, NT-Xent, batch 256) with snapshots only
at epoch 0 and at the end (the loop's throughput is what is compared). Configurations:

- ``alone``: one run, threads = all cores (what the scheduler gives a run alone);
- ``two``: two runs started together, threads = cores // 2 each (what the scheduler gives
  two runs queued together: ``runner.threads_per_worker(2)``);
- ``two-oversub``: two runs with threads = all cores each (what happens without the
  thread split), for comparison;
- ``late-second``: a run alone with all cores, and a second run (cores // 2 threads)
  started 3 s later, as when a user queues a run while another trains.

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
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from trainers import runner, store as st  # noqa: E402
from trainers.config import RunConfig  # noqa: E402


def run_config(s: st.Store, cfg: RunConfig, threads: list[int], delays: list[float]) -> dict:
    """Launch one worker per entry of ``threads`` (after its delay); wait; return figures."""
    ids = []
    procs = []
    t0 = time.perf_counter()
    for k, (th, delay) in enumerate(zip(threads, delays, strict=True)):
        while time.perf_counter() - t0 < delay:
            time.sleep(0.01)
        rid = s.create_run(cfg.replace(seed=k), status=st.QUEUED)
        s.transition(rid, (st.QUEUED,), status=st.RUNNING, started=time.time())
        procs.append(runner.launch_worker(s, rid, threads=th))
        ids.append(rid)
    for p in procs:
        p.wait()
    recs = [s.get_run(i) for i in ids]
    bad = [r for r in recs if r.status != st.FINISHED]
    if bad:
        raise RuntimeError(f"run {bad[0].id} ended {bad[0].status}: {bad[0].reason}")
    starts = [r.finished - r.seconds for r in recs]
    ends = [r.finished for r in recs]
    steps = sum(r.step for r in recs)
    per_run = [r.step / r.seconds for r in recs]
    return {"steps_per_s": steps / (max(ends) - min(starts)), "per_run": per_run}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=200, help="epochs per run (5 steps each on digits at batch 256)")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    cores = os.cpu_count() or 1
    half = max(1, cores // 2)
    cfg = RunConfig(epochs=a.epochs, snapshot_every=str(a.epochs))
    configs = {
        "alone": ([cores], [0.0]),
        "two": ([half, half], [0.0, 0.0]),
        "two-oversub": ([cores, cores], [0.0, 0.0]),
        "late-second": ([cores, runner.threads_per_worker(2)], [0.0, 3.0]),
    }
    import torch

    load0 = os.getloadavg()
    print(f"# {cores} CPUs, torch {torch.__version__}; default digits run, {a.epochs} epochs x "
          f"{1438 // cfg.batch_size} steps, snapshots at epochs 0 and {a.epochs}; runner.threads_per_worker(1) = "
          f"{runner.threads_per_worker(1)}, (2) = {runner.threads_per_worker(2)}; "
          f"load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    res: dict[str, list[dict]] = {k: [] for k in configs}
    with tempfile.TemporaryDirectory() as root:
        s = st.Store(root)
        for r in range(a.repeats):
            for name, (threads, delays) in configs.items():
                out = run_config(s, cfg, threads, delays)
                res[name].append(out)
                print(f"  repeat {r + 1} {name:<12} threads {threads}: {out['steps_per_s']:7.1f} steps/s aggregate "
                      f"(per run {', '.join(f'{x:.1f}' for x in out['per_run'])}; load {os.getloadavg()[0]:.2f})",
                      flush=True)
    alone = statistics.median(x["steps_per_s"] for x in res["alone"])
    print()
    print(f"{'configuration':<14}{'threads':>10}{'steps/s':>10}{'vs alone':>10}")
    for name, (threads, _) in configs.items():
        v = statistics.median(x["steps_per_s"] for x in res[name])
        print(f"{name:<14}{'+'.join(map(str, threads)):>10}{v:>10.1f}{v / alone:>9.2f}x")
    print("aggregate = steps of all runs / wall time from the first loop's start to the last loop's end; "
          "medians of the repeats; target: two / alone >= 0.9x")
    load1 = os.getloadavg()
    print(f"# load average at end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")


if __name__ == "__main__":
    main()
