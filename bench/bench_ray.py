"""The Ray backend's overhead per run against the local worker pool.

    nice -n 10 .venv/bin/python bench/bench_ray.py --runs 7 --epochs 4

For each backend, small runs (digits, MLP 64-32-16, one thread) are submitted one at a time
to a scheduler that is already running (a first run, not counted, starts it: the Ray driver's
connection, the local warm worker); for each run it measures the time from submit to the
first snapshot in the store (epoch 0: the worker has started, built the model and its first
snapshot has reached the store) and from submit to finished. It prints the medians, the Ray
overhead (Ray's median minus local's) and one JSON line.

The Ray cluster: the one at $RAY_ADDRESS, else a local one started here (2 CPUs, bound to
127.0.0.1, no dashboard) and stopped at the end. The local pool runs as the product does
(warm worker on, unless $LAB_WARM=0).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobs import runner  # noqa: E402
from jobs import store as st  # noqa: E402
from trainers.config import RunConfig  # noqa: E402

SMALL = dict(dataset="digits", loss="nt_xent", batch_size=128, hidden_dim=64, rep_dim=32, proj_dim=16, threads=1)


def measure(store: st.Store, cfg: RunConfig, runs: int) -> list[tuple[float, float]]:
    """(submit -> first snapshot, submit -> finished) in seconds for ``runs`` runs, one at a time,
    after one uncounted run that starts the scheduler."""
    out = []
    for i in range(runs + 1):
        t0 = time.monotonic()
        rid = runner.submit(store, cfg.replace(seed=i))
        first = None
        while True:
            if first is None and store.snapshots(rid):
                first = time.monotonic() - t0
            rec = store.get_run(rid)
            if not rec.active:
                break
            time.sleep(0.02)
        done = time.monotonic() - t0
        if rec.status != st.FINISHED:
            raise RuntimeError(f"run {rid} ended {rec.status}: {rec.reason}")
        if i:
            out.append((first if first is not None else done, done))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=7, help="runs measured per backend (default 7)")
    p.add_argument("--epochs", type=int, default=4, help="epochs of each run (default 4)")
    a = p.parse_args(argv)
    os.environ.setdefault("LAB_UMAP", "0")
    os.environ.setdefault("LAB_SCHEDULER_IDLE", "30")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    cfg = RunConfig(**SMALL, epochs=a.epochs)
    tmp = Path(tempfile.mkdtemp(prefix="labbench"))
    cluster = None
    results = {}
    try:
        if not os.environ.get("RAY_ADDRESS"):
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # keep the cluster on 127.0.0.1
            os.environ["RAY_TMPDIR"] = str(tmp)
            from ray.cluster_utils import Cluster

            t = time.monotonic()
            cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "node_ip_address": "127.0.0.1",
                                                                    "include_dashboard": False})
            print(f"local Ray cluster started in {time.monotonic() - t:.1f} s at {cluster.address}", file=sys.stderr)
            os.environ["RAY_ADDRESS"] = cluster.address
        for backend in ("local", "ray"):
            os.environ["LAB_BACKEND"] = backend
            store = st.Store(tmp / f"store-{backend}")
            try:
                results[backend] = measure(store, cfg, a.runs)
            finally:
                pid_file = store.root / "scheduler.pid"
                if pid_file.exists():
                    try:
                        os.kill(int(pid_file.read_text()), 15)
                    except (OSError, ValueError):
                        pass
            first = [x[0] for x in results[backend]]
            done = [x[1] for x in results[backend]]
            print(f"{backend:>5}: submit -> first snapshot median {statistics.median(first):.2f} s "
                  f"(min {min(first):.2f}, max {max(first):.2f}); submit -> finished median "
                  f"{statistics.median(done):.2f} s (min {min(done):.2f}, max {max(done):.2f})", file=sys.stderr)
        time.sleep(2)  # the schedulers stop their backends
    finally:
        if cluster is not None:
            cluster.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    med = {b: (statistics.median(x[0] for x in r), statistics.median(x[1] for x in r)) for b, r in results.items()}
    summary = {
        "runs": a.runs, "epochs": a.epochs, "cpus": os.cpu_count(),
        "local": {"first_snapshot_s": round(med["local"][0], 3), "finished_s": round(med["local"][1], 3)},
        "ray": {"first_snapshot_s": round(med["ray"][0], 3), "finished_s": round(med["ray"][1], 3)},
        "ray_overhead_s": {"first_snapshot": round(med["ray"][0] - med["local"][0], 3),
                           "finished": round(med["ray"][1] - med["local"][1], 3)},
    }
    print(f"Ray overhead per run (median): {summary['ray_overhead_s']['first_snapshot']:+.2f} s to the first snapshot, "
          f"{summary['ray_overhead_s']['finished']:+.2f} s to finished", file=sys.stderr)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
