"""How many of the lab's threads want a CPU while a queue of runs trains.

Queues ``--runs`` small digits runs into a fresh store (the scheduler starts them up to the
concurrency limit, and computes their UMAP maps), then every ``--every`` seconds counts, over
every process of the store (scheduler and workers), the threads in state R (running or
runnable: wanting a core) and the worker processes alive. Prints the mean and the maximum of
both and the machine's cores: on a CPU that is not oversubscribed the lab's runnable threads
stay at or below the cores.

    .venv/bin/python bench/bench_threads.py [--runs 8] [--epochs 20] [--every 0.5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobs import runner  # noqa: E402
from jobs import store as st  # noqa: E402
from trainers.config import RunConfig  # noqa: E402


def lab_processes(root: Path) -> list[int]:
    """Pids of the scheduler and the worker processes of the store at ``root``."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0")
            env = (d / "environ").read_bytes()
        except OSError:
            continue
        if b"trainers" in cmd and (b"worker" in cmd or b"scheduler" in cmd) and str(root).encode() in env:
            pids.append(int(d.name))
    return pids


def runnable_threads(pid: int) -> int:
    n = 0
    try:
        for t in Path(f"/proc/{pid}/task").iterdir():
            try:
                if (t / "stat").read_text().rsplit(")", 1)[1].split()[0] == "R":
                    n += 1
            except (OSError, IndexError):
                continue
    except OSError:
        pass
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--every", type=float, default=0.5)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_threads_")) / "store"
    os.environ[st.ENV_VAR] = str(root)
    os.environ.setdefault("LAB_SCHEDULER_IDLE", "5")
    s = st.Store(root)
    configs = [RunConfig(epochs=args.epochs, seed=i, name=f"queued {i}") for i in range(args.runs)]
    t0 = time.monotonic()
    runner.submit_group(s, configs)
    threads, workers = [], []
    try:
        while any(r.active for r in s.list_runs()):
            pids = lab_processes(root)
            sched = set()
            try:
                sched = {int((root / "scheduler.pid").read_text())}
            except (OSError, ValueError):
                pass
            threads.append(sum(runnable_threads(p) for p in pids))
            workers.append(len([p for p in pids if p not in sched]))
            time.sleep(args.every)
    finally:
        for r in s.list_runs(status=st.ACTIVE):
            runner.cancel(s, r.id)
    wall = time.monotonic() - t0
    statuses = [r.status for r in s.list_runs()]
    print(f"{args.runs} runs x {args.epochs} epochs, concurrency {runner.concurrency()}, {os.cpu_count()} cores, "
          f"{wall:.0f} s, {len(threads)} samples every {args.every} s; statuses: "
          + ", ".join(f"{k} {statuses.count(k)}" for k in sorted(set(statuses))))
    print(f"lab threads in state R: mean {statistics.mean(threads):.2f}, median {statistics.median(threads):.0f}, "
          f"max {max(threads)}")
    print(f"worker processes alive: mean {statistics.mean(workers):.2f}, max {max(workers)} "
          f"(limit {runner.concurrency()})")


if __name__ == "__main__":
    main()
