"""A crash loses at most about `checkpoint_seconds` of training, and the run's elapsed time
never goes back after a resume (real worker processes)."""

import os
import re
import signal

import numpy as np
import pytest

from jobs import runner
from jobs import store as st
from tests.conftest import FAST, wait_for
from trainers.config import ConfigError, RunConfig

BUDGET = 1.0  # checkpoint_seconds of the test run
SLACK = 1.5  # one epoch, the checkpoint write and the half-second progress poll, on a busy machine


def _pow2_at_or_below(e: int) -> int:
    return 1 << (e.bit_length() - 1)


def test_killed_worker_resumes_within_the_checkpoint_budget_and_time_never_goes_back(store):
    # snapshots (and their checkpoints) at powers of two; 2,000 epochs: the run never finishes here
    cfg = RunConfig(**{**FAST, "epochs": 2000, "checkpoint_seconds": BUDGET})
    rid = store.create_run(cfg)
    proc = runner.launch_worker(store, rid, threads=1)

    def far_from_the_last_snapshot() -> bool:
        # an epoch well past a power of two (and not about to reach the next), seconds after its snapshot
        rec = store.get_run(rid)
        e = rec.epoch
        p = _pow2_at_or_below(max(e, 1))
        if e < 8 or not p < e < 2 * p - 3:
            return False
        h = store.history(rid)
        at_p = h["seconds"][h["epoch"] == p]
        return len(at_p) == 1 and rec.seconds - at_p[0] > BUDGET + SLACK + 0.5

    wait_for(far_from_the_last_snapshot, 120, every=0.05, what="an epoch seconds past its snapshot")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    killed = store.get_run(rid)
    shown = killed.seconds  # the last elapsed time the app could show
    before = store.history(rid)
    assert runner.reap(store) == [rid]
    assert "resume continues from the last checkpoint" in store.get_run(rid).reason

    runner.resume(store, rid, start=False)
    store.transition(rid, (st.QUEUED,), status=st.RUNNING)
    proc = runner.launch_worker(store, rid, threads=1)
    seen = []

    def progressed() -> bool:
        rec = store.get_run(rid)
        seen.append(rec.seconds)
        return rec.epoch >= killed.epoch + 3

    wait_for(progressed, 120, every=0.05, what="progress after the resume")
    runner.cancel(store, rid)
    wait_for(lambda: store.get_run(rid).status == st.CANCELLED, 30, what="cancel")
    proc.wait(10)
    seen.append(store.get_run(rid).seconds)

    # it restarted from an epoch within the budget of the kill, not from the last power of two
    resumed_from = int(re.search(r"resumed from epoch (\d+)", store.log_path(rid).read_text()).group(1))
    assert _pow2_at_or_below(killed.epoch) < resumed_from <= killed.epoch
    at_ckpt = before["seconds"][before["epoch"] == resumed_from]
    assert len(at_ckpt) == 1 and shown - at_ckpt[0] <= BUDGET + SLACK, (shown, at_ckpt, resumed_from, killed.epoch)
    # the elapsed time never went below what was shown before the kill, and never went back
    assert min(seen) >= shown and np.all(np.diff(seen) >= 0)
    # every epoch is in the history once, in order, with its steps, and time only moves forward
    h = store.history(rid)
    whole = h["epoch"] == np.round(h["epoch"])
    epochs = h["epoch"][whole].astype(int)
    assert epochs.tolist() == list(range(1, len(epochs) + 1)) and len(epochs) >= killed.epoch + 3
    steps_per_epoch = int(h["step"][whole][0])
    np.testing.assert_array_equal(h["step"][whole], epochs * steps_per_epoch)
    assert np.all(np.diff(h["seconds"]) >= 0)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), 10**6, "30"])
def test_checkpoint_seconds_out_of_range_is_refused(bad):
    with pytest.raises(ConfigError, match="checkpoint seconds"):
        RunConfig(checkpoint_seconds=bad)


def test_worker_dead_at_epoch_0_says_resume_starts_from_scratch(store):
    from jobs.store import boot_id

    rid = store.create_run(RunConfig(**FAST))
    # a pid whose start time does not match counts as dead (its process was replaced)
    store.update_run(rid, status=st.RUNNING, pid=os.getpid(), pid_start="1", boot_id=boot_id(), epoch=0)
    assert runner.reap(store) == [rid]
    reason = store.get_run(rid).reason
    assert "died (killed or crashed) at epoch 0" in reason and reason.endswith("resume starts from scratch")
