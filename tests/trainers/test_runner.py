"""The store and runner with real worker processes."""

import os
import signal

import pytest

from tests.conftest import FAST, wait_for
from trainers import runner
from trainers import store as st
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
    from trainers.train import process_start_time

    rid = store.create_run(RunConfig(**FAST))
    me = os.getpid()
    store.update_run(rid, status=st.RUNNING, pid=me, pid_start=process_start_time(me))
    from trainers.train import boot_id

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
