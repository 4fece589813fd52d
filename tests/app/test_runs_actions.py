"""The Runs page acts on any run of the store: resume a stopped run, delete one after a
confirmation, cancel a queued one; the details open on the first ticked run."""

from __future__ import annotations

import time

import pytest

from jobs import store as stmod
from tests.app.apptest import open_page
from tests.conftest import FAST
from trainers.config import RunConfig
from ui.widgets import SELECTED


@pytest.fixture
def lab(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STORE", str(tmp_path / "store"))
    monkeypatch.setattr("jobs.runner.ensure_scheduler", lambda store: False)
    monkeypatch.setattr("jobs.runner.reap", lambda store: [])
    return stmod.Store(tmp_path / "store")


def _run(s: stmod.Store, name: str, status: str) -> str:
    rid = s.create_run(RunConfig(**{**FAST, "name": name}), status=stmod.QUEUED)
    if status != stmod.QUEUED:
        s.update_run(rid, status=status, started=time.time(), finished=time.time(), epoch=0, reason="stopped")
    time.sleep(0.01)
    return rid


def _click(at, key: str):
    (b,) = [b for b in at.button if b.key == key]
    return b.click().run()


def test_delete_asks_first_then_removes_the_run(lab):
    keep = _run(lab, "keep me", stmod.FINISHED)
    gone = _run(lab, "<b>delete</b> me", stmod.FINISHED)
    at = open_page("pages/runs.py", **{SELECTED: [gone]})
    assert at.selectbox(key="runs_detail").value == gone  # the ticked run's details
    _click(at, f"runs_action_delete_{gone}")
    assert any("This cannot be undone" in w.value and "\\<b\\>delete" in w.value for w in at.warning)
    assert {r.id for r in lab.list_runs()} == {keep, gone}  # nothing yet
    _click(at, f"runs_action_delete_yes_{gone}")
    assert {r.id for r in lab.list_runs()} == {keep}


def test_resume_queues_a_cancelled_run_and_cancel_stops_a_queued_one(lab):
    stopped = _run(lab, "stopped", stmod.CANCELLED)
    at = open_page("pages/runs.py", **{SELECTED: [stopped]})
    assert not [b for b in at.button if b.key == f"runs_action_cancel_{stopped}"]  # not active: no cancel
    _click(at, f"runs_action_resume_{stopped}")
    assert lab.get_run(stopped).status == stmod.QUEUED
    at.run()
    assert not [b for b in at.button if b.key == f"runs_action_delete_{stopped}"]  # active: no delete
    _click(at, f"runs_action_cancel_{stopped}")
    assert lab.get_run(stopped).status == stmod.CANCELLED
