"""Shared fixtures: a temporary lab store, fast configs, and the browser launch args."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# tests never start UMAP in the scheduler unless they ask for it, and keep workers to 1 thread
os.environ.setdefault("LAB_UMAP", "0")
os.environ.setdefault("LAB_SCHEDULER_IDLE", "20")
# no warm worker (a process that imports torch) for every scheduler a test starts; the tests of
# the warm worker and the browser test of the Train page turn it on
os.environ.setdefault("LAB_WARM", "0")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "args": CHROMIUM_ARGS}


FAST = dict(dataset="digits", loss="nt_xent", epochs=4, batch_size=128, hidden_dim=64, rep_dim=32, proj_dim=16, threads=1)


@pytest.fixture
def fast_config():
    from trainers.config import RunConfig

    return RunConfig(**FAST)


@pytest.fixture
def store(tmp_path, monkeypatch):
    from jobs.store import Store

    root = tmp_path / "store"
    monkeypatch.setenv("LAB_STORE", str(root))
    s = Store(root)
    yield s
    kill_store_processes(s)


def kill_store_processes(s) -> None:
    """Stop every worker and scheduler of a test store (they run in their own sessions)."""
    pids = [r.pid for r in s.list_runs() if r.pid]
    pid_file = Path(s.root) / "scheduler.pid"
    if pid_file.exists():
        try:
            pids.append(int(pid_file.read_text().strip()))
        except ValueError:
            pass
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    time.sleep(0.05)


def wait_for(pred, timeout: float = 60.0, every: float = 0.1, what: str = "condition"):
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        v = pred()
        if v:
            return v
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
