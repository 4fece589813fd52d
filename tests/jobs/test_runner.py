"""The store and runner with real worker processes."""

import os
import signal

import numpy as np
import pytest

from jobs import runner
from jobs import store as st
from tests.conftest import FAST, wait_for
from trainers.config import RunConfig


def _status(store, rid):
    return store.get_run(rid).status


def test_worker_progress_cancel_resume(store):
    cfg = RunConfig(**{**FAST, "epochs": 400, "snapshot_every": "100"})
    rid = store.create_run(cfg)
    proc = runner.launch_worker(store, rid, threads=1)
    wait_for(lambda: store.get_run(rid).epoch >= 2, 90, what="progress")
    rec = store.get_run(rid)
    assert rec.status == st.RUNNING and rec.pid == proc.pid and rec.heartbeat
    assert store.snapshots(rid)[0].epoch == 0
    assert len(store.history(rid)["step"]) >= 1
    assert runner.cancel(store, rid) == "cancelling"
    wait_for(lambda: _status(store, rid) == st.CANCELLED, 30, what="cancel")
    assert proc.wait(10) == 0
    stopped_at = store.get_run(rid).epoch
    assert stopped_at >= 2 and store.checkpoint_path(rid).exists()
    # resume: it continues from the checkpoint, not from scratch
    runner.resume(store, rid, start=False)
    assert _status(store, rid) == st.QUEUED
    store.transition(rid, (st.QUEUED,), status=st.RUNNING)
    proc = runner.launch_worker(store, rid, threads=1)
    wait_for(lambda: store.get_run(rid).epoch > stopped_at, 60, what="resumed progress")
    log = store.log_path(rid).read_text()
    assert f"resumed from epoch {stopped_at}" in log
    runner.cancel(store, rid)
    wait_for(lambda: _status(store, rid) == st.CANCELLED, 30, what="second cancel")
    proc.wait(10)


def test_killed_worker_is_marked_and_keeps_its_data(store):
    cfg = RunConfig(**{**FAST, "epochs": 400, "snapshot_every": "2"})
    rid = store.create_run(cfg)
    proc = runner.launch_worker(store, rid, threads=1)
    wait_for(lambda: len(store.snapshots(rid)) >= 2, 90, what="two snapshots")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert _status(store, rid) == st.RUNNING  # nobody has noticed yet
    assert runner.reap(store) == [rid]
    rec = store.get_run(rid)
    assert rec.status == st.FAILED and "died (killed or crashed)" in rec.reason
    snaps = store.snapshots(rid)
    assert store.load_snapshot(rid, snaps[-1].epoch)["emb"].shape == (1797, 16)
    # and it can be resumed from its checkpoint
    runner.resume(store, rid, start=False)
    assert store.get_run(rid).resume


def test_machine_restart_is_detected(store):
    rid = store.create_run(RunConfig(**FAST))
    store.update_run(rid, status=st.RUNNING, pid=os.getpid(), boot_id="another-boot", epoch=3)
    assert runner.reap(store) == [rid]
    assert "machine restarted" in store.get_run(rid).reason


def test_live_pid_is_not_reaped(store):
    from jobs.store import process_start_time

    rid = store.create_run(RunConfig(**FAST))
    me = os.getpid()
    store.update_run(rid, status=st.RUNNING, pid=me, pid_start=process_start_time(me))
    from jobs.store import boot_id

    store.update_run(rid, boot_id=boot_id())
    assert runner.reap(store) == []
    # a reused pid (different start time) counts as dead
    store.update_run(rid, pid_start="1")
    assert runner.reap(store) == [rid]


def test_cancel_queued_run_is_immediate(store):
    rid = runner.submit(store, RunConfig(**FAST), start=False)
    assert runner.cancel(store, rid) == st.CANCELLED
    assert "before it started" in store.get_run(rid).reason
    with pytest.raises(ValueError, match="only cancelled, failed, diverged"):
        runner.resume(store, store.create_run(RunConfig(**FAST)))


def test_scheduler_queue_respects_concurrency(store, monkeypatch):
    monkeypatch.setenv("LAB_CONCURRENCY", "1")
    ids = [runner.submit(store, RunConfig(**{**FAST, "epochs": 3, "seed": s}), start=False) for s in (1, 2)]
    assert runner.ensure_scheduler(store) is True
    wait_for(lambda: runner.scheduler_running(store), 30, what="scheduler lock")
    assert runner.ensure_scheduler(store) is False  # one per store
    seen_both_running = False

    def done():
        nonlocal seen_both_running
        sts = [_status(store, i) for i in ids]
        seen_both_running |= sts.count(st.RUNNING) > 1
        return all(s == st.FINISHED for s in sts)

    wait_for(done, 120, every=0.05, what="both runs finished")
    assert not seen_both_running
    for i in ids:
        assert store.get_run(i).metrics["epoch"] == 3


def test_an_exiting_worker_holds_its_slot_until_its_process_is_gone(store, monkeypatch):
    """A run marked finished whose worker process is still alive (exiting) keeps its core: the
    next queued run starts only when that process has gone."""
    import subprocess
    import sys

    monkeypatch.setenv("LAB_CONCURRENCY", "1")
    monkeypatch.setattr(runner, "launch_worker", lambda *a, **k: pytest.fail("started while the slot was taken"))
    done = store.create_run(RunConfig(**FAST), status=st.FINISHED)
    waiting = runner.submit(store, RunConfig(**FAST), start=False)
    sched = runner.Scheduler(store, umap=False, backend=runner.LocalBackend(store, warm=False))
    exiting = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        sched.backend.procs[done] = exiting
        assert sched.tick() is True
        assert store.get_run(waiting).status == st.QUEUED
    finally:
        exiting.kill()
        exiting.wait()
    started = []
    monkeypatch.setattr(runner, "launch_worker", lambda store, run_id, **k: started.append(run_id) or exiting)
    sched.tick()  # the process is gone: its slot is free
    assert started == [waiting]


def test_looking_for_maps_is_not_work_so_an_idle_scheduler_exits(tmp_path, monkeypatch):
    """The map thread looks for new snapshots every 50 ms; a look, however slow its query, is
    not work: a scheduling pass made while a look is under way reports idle, so the idle timer
    runs on and the scheduler exits."""
    import threading
    import time

    from jobs import projector

    s = st.Store(tmp_path / "s")
    monkeypatch.setenv("LAB_SCHEDULER_IDLE", "1")
    monkeypatch.setenv("LAB_UMAP", "1")
    monkeypatch.setattr(projector.ProjectionWorker, "warm_up", lambda self: 0.0)
    monkeypatch.setattr(runner.signal, "signal", lambda *a: None)  # serve() from a thread
    query = s.pending_projections
    looking, go_on = threading.Event(), threading.Event()

    def pending(*a, **k):  # a slow query (a big store, a busy disk): longer than a scheduling tick
        looking.set()
        go_on.wait(30)  # the first look is held until the test has made its pass
        time.sleep(0.3)
        return query(*a, **k)

    monkeypatch.setattr(s, "pending_projections", pending)
    # a scheduling pass while the map thread is inside a look
    sched = runner.Scheduler(s, umap=True)
    looker = threading.Thread(target=sched._projection_loop, daemon=True)
    looker.start()
    try:
        assert looking.wait(30), "the map thread never looked for work"
        assert not sched.proj_busy.is_set()
        assert sched.tick() is False
    finally:
        go_on.set()
        sched.stop.set()
        looker.join(5)
    # the whole scheduler, its map thread looking all the while: it exits once idle (the join's
    # timeout only keeps a scheduler that never exits from hanging the test)
    sched = runner.Scheduler(s, umap=True)
    assert sched.idle_exit == 1.0
    th = threading.Thread(target=sched.serve, daemon=True)
    th.start()
    th.join(30)
    alive = th.is_alive()
    sched.stop.set()
    th.join(5)
    assert not alive, "the idle scheduler did not exit"


def test_resume_without_checkpoint_refuses_to_discard_history(store):
    rid = store.create_run(RunConfig(**FAST))
    store.append_history(rid, [{"step": 1, "epoch": 1, "seconds": 0.1, "loss": 2.0}])
    store.add_snapshot(rid, 0, 0, {"emb": np.zeros((3, 2), np.float32)}, {})
    store.update_run(rid, status=st.FAILED, epoch=1)
    assert not store.checkpoint_path(rid).exists()
    with pytest.raises(ValueError, match="no checkpoint .* discard its 1 history points and 1 snapshots.*--from-scratch"):
        runner.resume(store, rid, start=False)
    assert store.get_run(rid).status == st.FAILED
    runner.resume(store, rid, start=False, from_scratch=True)
    assert store.get_run(rid).status == st.QUEUED and store.get_run(rid).resume
    # stopped before its first epoch ended: nothing worth keeping, it just starts again
    other = store.create_run(RunConfig(**FAST))
    store.append_history(other, [{"step": 1, "epoch": 0.5, "seconds": 0.1, "loss": 2.0}])
    store.update_run(other, status=st.CANCELLED, epoch=0)
    runner.resume(store, other, start=False)
    assert store.get_run(other).status == st.QUEUED
