"""Profile of one cold UMAP map (1,797 digits points, PCA start, as the projection worker
computes it), idle and under CPU load: where the time goes, sampled by py-spy.

The only map target missed (docs/benchmarks.md, section 1) is the cold 1,797-point map
under a load average of 9 to 11 on 2 cores. This script shows why: it times
``ProjectionWorker.compute`` (numba warm) with the machine idle and with ``--load`` busy
processes beside it, and py-spy samples the map computations so that each stage's share
is printed: the exact kNN (torch), umap-learn's fuzzy graph, the layout optimisation
(numba SGD), the Procrustes alignment and the rest.

    .venv/bin/pip install py-spy   # not a project dependency
    .venv/bin/python bench/profile_map.py --maps 5 --load 8

Prints figures; never passes or fails on time.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STAGES = [  # (name, substring of a frame's function or file), first match from the leaf up wins
    ("kNN (torch, exact)", "exact_knn"),
    ("fuzzy graph (umap)", "fuzzy_simplicial_set"),
    ("layout SGD (numba)", "optimize_layout"),  # numba: no Python frame of its own, so also its caller:
    ("layout SGD (numba)", "simplicial_set_embedding"),
    ("Procrustes", "procrustes_align"),
    ("snapshot load", "load_snapshot"),
]


def _busy(stop) -> None:
    x = 0
    while not stop.is_set():
        x = (x * 1103515245 + 12345) % 2**31


def child(n_maps: int, root: str, out: str) -> None:
    """Warm the worker, then time ``n_maps`` cold maps of epoch 0 (each from PCA)."""
    from jobs import store as st
    from jobs.projector import ProjectionWorker

    s = st.Store(root)
    run = s.list_runs()[0]
    pw = ProjectionWorker(s)
    pw.warm_up()
    pw.compute(run.id, 0, "emb")  # first full-size map: any remaining compilation
    times = [_timed_map(pw, run.id) for _ in range(n_maps)]
    Path(out).write_text(" ".join(f"{x:.4f}" for x in times))


def _timed_map(pw, run_id: str) -> float:  # the profile counts the samples under this frame only
    t = time.perf_counter()
    pw.compute(run_id, 0, "emb")
    return time.perf_counter() - t


def make_store(root: str) -> None:
    from jobs import store as st
    from trainers.config import RunConfig
    from trainers.train import train_run

    s = st.Store(root)
    rid = s.create_run(RunConfig(dataset="digits", loss="nt_xent", epochs=1), status=st.RUNNING)
    train_run(s, rid, log=lambda m: None)


def profile(n_maps: int, root: str, load: int, pyspy: str | None) -> tuple[list[float], dict[str, float]]:
    stop = mp.Event()
    busy = [mp.Process(target=_busy, args=(stop,), daemon=True) for _ in range(load)]
    for p in busy:
        p.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out, raw = os.path.join(tmp, "times"), os.path.join(tmp, "prof.txt")
            cmd = [sys.executable, __file__, "--child", str(n_maps), root, out]
            if pyspy:
                cmd = [pyspy, "record", "--format", "raw", "--rate", "200", "--nonblocking", "-o", raw, "--", *cmd]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times = [float(x) for x in Path(out).read_text().split()]
            shares: dict[str, float] = {}
            if pyspy and os.path.exists(raw):
                shares = stage_shares(raw)
    finally:
        stop.set()
        for p in busy:
            p.join(timeout=5)
    return times, shares


def stage_shares(raw: str) -> dict[str, float]:
    """Share of the samples taken inside the timed maps (``_timed_map``) per stage."""
    counts: collections.Counter[str] = collections.Counter()
    for line in Path(raw).read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if not any(f.startswith("_timed_map ") for f in frames):
            continue
        name = "other"
        for f in reversed(frames):
            hit = next((s for s, key in STAGES if key in f), None)
            if hit:
                name = hit
                break
        counts[name] += int(n)
    total = sum(counts.values()) or 1
    return {k: v / total for k, v in counts.most_common()}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), sys.argv[3], sys.argv[4])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--maps", type=int, default=5, help="timed cold maps per setting")
    ap.add_argument("--load", type=int, default=8, help="busy processes beside the map in the loaded setting")
    a = ap.parse_args()
    pyspy = shutil.which("py-spy") or (str(Path(sys.executable).parent / "py-spy")
                                       if (Path(sys.executable).parent / "py-spy").exists() else None)
    print(f"# {os.cpu_count()} CPUs; py-spy: {pyspy or 'not installed (timings only)'}; "
          f"load average at start {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as root:
        make_store(root)
        results = {}
        for label, load in (("idle", 0), (f"{a.load} busy processes", a.load)):
            times, shares = profile(a.maps, root, load, pyspy)
            results[label] = (times, shares, os.getloadavg()[0])
            print(f"{label}: cold 1,797-point map median {statistics.median(times):.2f} s "
                  f"(min {min(times):.2f}, max {max(times):.2f}; load average {os.getloadavg()[0]:.2f})", flush=True)
    print()
    labels = list(results)
    names = list(dict.fromkeys(s for s, _ in STAGES)) + ["other"]
    print(f"{'stage':<22}" + "".join(f"{lab:>24}" for lab in labels))
    for name in names:
        cells = []
        for lab in labels:
            times, shares, _ = results[lab]
            share = shares.get(name)
            cells.append("-" if share is None else f"{share:5.1%} {share * statistics.median(times):6.2f} s")
        print(f"{name:<22}" + "".join(f"{c:>24}" for c in cells))
    idle, loaded = (statistics.median(results[lab][0]) for lab in labels)
    print(f"{'total (median)':<22}{idle:>22.2f} s{loaded:>22.2f} s   loaded / idle {loaded / idle:.2f}x")
    print("shares: py-spy samples (200 Hz, on-CPU) inside the timed ProjectionWorker.compute calls; "
          "seconds = share x median map time")
    print(f"# load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
