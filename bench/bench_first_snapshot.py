"""Time from ``runner.submit`` to the run's first snapshot row in the store, with the scheduler
running: a warm worker (the default) against a cold worker process per run, and a cold
``python -c "import torch"`` measured in the same run for scale.

    python bench/bench_first_snapshot.py [--repeats 5] [--json]

Each figure is the median of ``--repeats`` runs submitted one after the other (each is cancelled
once its first snapshot is in, and the next waits until its worker has exited and, for the warm
case, a new warm worker has had time to get ready).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobs import runner  # noqa: E402
from jobs import store as st  # noqa: E402
from trainers.config import RunConfig  # noqa: E402


def cold_torch_import() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.perf_counter() - t


def wait_for(pred, timeout: float = 120.0, every: float = 0.01) -> float:
    t = time.perf_counter()
    while not pred():
        if time.perf_counter() - t > timeout:
            raise TimeoutError("waited too long")
        time.sleep(every)
    return time.perf_counter() - t


def stop_scheduler(store: st.Store) -> None:
    pid_file = store.root / "scheduler.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), 15)
        except (OSError, ValueError):
            pass
    wait_for(lambda: not runner.scheduler_running(store), timeout=30)


def measure(warm: bool, repeats: int, settle: float) -> list[float]:
    os.environ["LAB_WARM"] = "1" if warm else "0"
    os.environ["LAB_UMAP"] = "0"
    with tempfile.TemporaryDirectory() as d:
        store = st.Store(Path(d) / "store")
        runner.ensure_scheduler(store)
        wait_for(lambda: runner.scheduler_running(store), timeout=30)
        time.sleep(settle)  # the scheduler's warm worker gets ready, as while a person fills the form
        out = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            rid = runner.submit(store, RunConfig(epochs=50))
            wait_for(lambda rid=rid: bool(store.snapshots(rid)))
            out.append(time.perf_counter() - t0)
            runner.cancel(store, rid)
            wait_for(lambda rid=rid: store.get_run(rid).status != st.RUNNING)
            time.sleep(settle)
        stop_scheduler(store)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--settle", type=float, default=6.0, help="seconds between runs (the next warm worker gets ready)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    imports = [cold_torch_import() for _ in range(a.repeats)]
    cold = measure(False, a.repeats, a.settle)
    warm = measure(True, a.repeats, a.settle)
    med = {k: statistics.median(v) for k, v in (("import_torch", imports), ("cold", cold), ("warm", warm))}
    res = {"median_s": med, "all_s": {"import_torch": imports, "cold": cold, "warm": warm},
           "warm_over_cold": med["warm"] / med["cold"], "warm_over_import_torch": med["warm"] / med["import_torch"],
           "cores": os.cpu_count()}
    if a.json:
        print(json.dumps(res))
    else:
        print(f"submit -> first snapshot (median of {a.repeats}), scheduler running, {os.cpu_count()} cores")
        print(f"  cold python -c 'import torch': {med['import_torch']:.2f} s")
        print(f"  cold worker:                   {med['cold']:.2f} s   ({', '.join(f'{x:.2f}' for x in cold)})")
        print(f"  warm worker:                   {med['warm']:.2f} s   ({', '.join(f'{x:.2f}' for x in warm)})")
        print(f"  warm / cold = {res['warm_over_cold']:.2f}; warm / import torch = {res['warm_over_import_torch']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
