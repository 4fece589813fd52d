"""The store's backend setting: which backend a scheduler uses, and the hand-over of a running
scheduler to one with the newly chosen backend."""

import subprocess
import sys
import threading
import time

import pytest

from jobs import runner
from jobs import store as st
from tests.conftest import FAST
from trainers.config import RunConfig


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("LAB_BACKEND", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def test_the_environment_then_the_store_setting_then_ray_address_decide(store, clean_env, monkeypatch):
    assert runner.chosen_backend(store) == "local"
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    assert runner.chosen_backend(store) == "ray"
    runner.choose_backend(store, "local")
    assert (store.root / runner.BACKEND_SETTING).read_text() == "local"
    assert runner.chosen_backend(store) == "local"  # the store's setting beats $RAY_ADDRESS
    monkeypatch.setenv("LAB_BACKEND", "ray")
    assert runner.chosen_backend(store) == "ray"  # and $LAB_BACKEND beats both


def test_a_refused_choice_says_why_and_changes_nothing(store, clean_env, monkeypatch):
    import importlib.util

    with pytest.raises(ValueError, match="unknown backend 'slurm'"):
        runner.choose_backend(store, "slurm")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(ValueError, match=r"Ray is not installed here: install the lab's ray extra"):
        runner.choose_backend(store, "ray")
    monkeypatch.setattr(importlib.util, "find_spec", real)
    monkeypatch.setenv("LAB_BACKEND", "local")
    with pytest.raises(ValueError, match="LAB_BACKEND=local is set where the app was started"):
        runner.choose_backend(store, "ray")
    assert not (store.root / runner.BACKEND_SETTING).exists()


def test_a_scheduler_hands_over_once_its_running_runs_have_ended(store, clean_env, monkeypatch, capsys):
    """A scheduler whose store now asks for another backend keeps serving while a worker of its
    own is busy, then exits and starts a successor (which picks up the new setting)."""
    pytest.importorskip("ray")
    started = []
    monkeypatch.setattr(runner, "ensure_scheduler", lambda s: started.append(s.root) or True)
    backend = runner.LocalBackend(store, warm=False)
    rid = store.create_run(RunConfig(**FAST), status=st.RUNNING)
    busy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    backend.procs[rid] = busy
    sched = runner.Scheduler(store, umap=False, backend=backend, idle_exit=60)
    threading.Timer(0.5, runner.choose_backend, args=(store, "ray")).start()
    threading.Timer(2.5, busy.kill).start()  # the run's worker ends
    t0 = time.monotonic()
    sched.serve()  # returns when it has handed over
    took = time.monotonic() - t0
    (store.root / "scheduler.pid").unlink()  # it was this test's process: not one for the fixture to stop
    busy.wait()
    assert took >= 2.5  # not while its run was training
    assert took < 10 and sched.successor and started == [store.root]
    assert store.get_run(rid).status == st.FAILED  # the ended worker was marked before the hand-over
    assert "the store's backend is now ray: handing over" in capsys.readouterr().out
