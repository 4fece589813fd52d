"""Snapshot benchmark: seconds for one ``evaluate.snapshot`` (embed every sample, PCA maps,
held-out metrics, kNN and linear probes) of a default MLP on generated sets of N samples,
and the size of the snapshot file, with the kNN probes on at most ``KNN_MAX_QUERIES``
held-out samples (the lab) and, as the baseline in the same run, on every held-out sample.

    .venv/bin/python bench/bench_snapshots.py                      # N = 10,000 / 50,000 / 200,000
    .venv/bin/python bench/bench_snapshots.py --sizes 50000 --repeats 3

Prints figures (medians over ``--repeats``); never passes or fails on time.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from trainers import data, evaluate  # noqa: E402
from trainers.config import RunConfig  # noqa: E402
from trainers.encoders import build_encoder  # noqa: E402


def one(n: int, repeats: int, cap: int | None) -> tuple[float, dict]:
    cfg = RunConfig(dataset="gmm_sphere", n_samples=n)
    ds = data.load(cfg)
    torch.manual_seed(0)
    model = build_encoder(cfg.encoder, ds.n_features, hidden_dim=cfg.hidden_dim, rep_dim=cfg.rep_dim, proj_dim=cfg.proj_dim)
    old = evaluate.KNN_MAX_QUERIES
    evaluate.KNN_MAX_QUERIES = cap if cap is not None else 10**12
    try:
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            arrays, metrics = evaluate.snapshot(model, ds, device=torch.device("cpu"), aug_strength=1.0)
            times.append(time.perf_counter() - t)
    finally:
        evaluate.KNN_MAX_QUERIES = old
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    metrics["_mb"] = len(buf.getvalue()) / 2**20
    metrics["_n_test"] = len(ds.x_test)
    return statistics.median(times), metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,50000,200000")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    print(f"# {os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads); "
          f"load average at start {os.getloadavg()[0]:.2f}; repeats {a.repeats}", flush=True)
    head = (f"{'N':>8} {'held-out':>9} {'kNN on':>7} {'snapshot s':>11} {'every held-out s':>17} {'speed-up':>9} "
            f"{'kNN acc':>8} {'(every)':>8} {'file MB':>8}")
    print(head)
    print("-" * len(head))
    for n in (int(x) for x in a.sizes.split(",")):
        lab_s, lab_m = one(n, a.repeats, evaluate.KNN_MAX_QUERIES)
        all_s, all_m = one(n, a.repeats, None)
        print(f"{n:>8,} {lab_m['_n_test']:>9,} {int(lab_m['n_knn_eval']):>7,} {lab_s:>10.2f}s {all_s:>16.2f}s "
              f"{all_s / lab_s:>8.1f}x {lab_m['knn_accuracy']:>8.4f} {all_m['knn_accuracy']:>8.4f} {lab_m['_mb']:>8.1f}",
              flush=True)
    print("snapshot = evaluate.snapshot of a freshly initialised default MLP (embed all, PCA, held-out metrics, "
          "probes); 'every held-out' = the same with the kNN probes on every held-out sample")
    print(f"# load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
