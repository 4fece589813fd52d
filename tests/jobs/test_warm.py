"""The warm worker: a process with torch imported that the scheduler hands the next run."""

import os
import re
import signal
import subprocess
import sys

import pytest

from jobs import runner
from jobs import store as st
from jobs.store import pid_alive
from tests.conftest import FAST, wait_for
from trainers.config import RunConfig


def _ready_pids(store) -> list[int]:
    log = store.root / "warm_worker.log"
    return [int(m) for m in re.findall(r"warm worker (\d+) ready", log.read_text())] if log.exists() else []


@pytest.fixture
def warm_store(store, monkeypatch):
    monkeypatch.setenv("LAB_WARM", "1")
    monkeypatch.setenv("LAB_SCHEDULER_IDLE", "60")
    runner.ensure_scheduler(store)
    wait_for(lambda: _ready_pids(store), 90, what="a warm worker ready")
    return store


def test_a_run_goes_to_the_warm_worker_which_is_replaced_and_a_killed_one_is_marked(warm_store):
    store = warm_store
    first = _ready_pids(store)[0]
    rid = runner.submit(store, RunConfig(**{**FAST, "epochs": 3}))
    wait_for(lambda: store.get_run(rid).status == st.FINISHED, 90, what="the run to finish")
    rec = store.get_run(rid)
    assert rec.pid is None and rec.backend == "local" and rec.node
    log = store.log_path(rid).read_text()
    assert f"worker {first} starting run {rid}" in log  # trained by the process that was waiting
    assert [s.epoch for s in store.snapshots(rid)] == [0, 1, 2, 3]
    assert rec.metrics["knn_accuracy"] > 0.5
    # another took its place, and it takes the next run; killed, that run is marked
    wait_for(lambda: len(_ready_pids(store)) >= 2, 90, what="a second warm worker")
    second = _ready_pids(store)[1]
    assert second != first and pid_alive(second)
    rid2 = runner.submit(store, RunConfig(**{**FAST, "epochs": 400, "snapshot_every": "100"}))
    wait_for(lambda: store.snapshots(rid2), 60, what="the second run's first snapshot")
    assert store.get_run(rid2).pid == second
    os.kill(second, signal.SIGKILL)
    wait_for(lambda: store.get_run(rid2).status == st.FAILED, 30, what="the killed run marked")
    assert "killed by signal 9" in store.get_run(rid2).reason or "died" in store.get_run(rid2).reason
    assert store.load_snapshot(rid2, 0)["emb"].shape[1] == FAST["proj_dim"]


def test_the_waiting_worker_exits_with_its_scheduler(warm_store):
    store = warm_store
    waiting = _ready_pids(store)[-1]
    sched = int((store.root / "scheduler.pid").read_text())
    os.kill(sched, signal.SIGKILL)  # even a scheduler that dies without cleaning up
    wait_for(lambda: not pid_alive(waiting), 20, what="the warm worker to exit")


def test_a_dead_warm_worker_falls_back_to_a_cold_one(store, monkeypatch):
    backend = runner.LocalBackend(store, warm=False)
    backend.warm = runner.WarmWorker(store)
    backend.warm.proc = subprocess.Popen([sys.executable, "-c", "pass"], stdin=subprocess.PIPE)
    backend.warm.proc.wait(10)  # died before a run came
    started = []
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    monkeypatch.setattr(runner, "launch_worker", lambda s, run_id, **k: started.append(run_id) or sleeper)
    monkeypatch.setattr(runner.WarmWorker, "RESPAWN_BACKOFF", 3600.0)
    rid = store.create_run(RunConfig(**FAST), status=st.RUNNING)
    try:
        backend.launch(rid, 1)
        assert started == [rid] and backend.busy() == {rid}
        assert backend.warm.proc is None  # no respawn loop right after a death
    finally:
        sleeper.kill()
        sleeper.wait()
    assert backend.exited() == [(rid, -signal.SIGKILL)]
