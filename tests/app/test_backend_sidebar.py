"""The sidebar's "Runs train on" setting (AppTest): it shows the store's backend, saves a
change, and says why a change is refused without changing anything.

(AppTest leaves the sidebar out of its element tree after a rerun of a multipage app, so what a
change shows is read from a fresh session, or from the session's state.)"""

from __future__ import annotations

import importlib.util

import pytest

from jobs import runner
from tests.app.apptest import open_page


@pytest.fixture
def lab(store, monkeypatch):
    monkeypatch.delenv("LAB_BACKEND", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return store


def _box(at):
    return at.sidebar.selectbox(key="sidebar_backend")


def test_the_setting_shows_and_saves_the_store_backend(lab):
    pytest.importorskip("ray")
    at = open_page()
    assert _box(at).value == "local" and _box(at).options == ["this machine", "a Ray cluster"]
    _box(at).set_value("ray").run()
    assert not at.exception and "sidebar_backend_error" not in at.session_state
    assert runner.chosen_backend(lab) == "ray" and (lab.root / runner.BACKEND_SETTING).read_text() == "ray"
    assert _box(open_page()).value == "ray"
    runner.choose_backend(lab, "local")  # changed elsewhere (a CLI, another browser): the box follows
    assert _box(open_page()).value == "local"


def test_ray_missing_is_refused_with_a_message(lab, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    at = open_page()
    _box(at).set_value("ray").run()
    assert not at.exception
    assert not (lab.root / runner.BACKEND_SETTING).exists()  # the store's setting, unchanged
    assert "Ray is not installed here" in at.session_state["sidebar_backend_error"]


def test_lab_backend_in_the_environment_decides_and_the_box_is_off(lab, monkeypatch):
    monkeypatch.setenv("LAB_BACKEND", "local")
    at = open_page()
    assert _box(at).disabled and _box(at).value == "local"


def test_a_backend_that_could_not_start_is_named_with_what_to_do(lab):
    """A scheduler whose Ray backend found no cluster leaves its reason; the sidebar shows it while
    Ray is the store's choice, and not once this machine is chosen again."""
    pytest.importorskip("ray")
    runner.choose_backend(lab, "ray")
    sched = runner.Scheduler(lab, umap=False)
    sched._backend_failed(ConnectionError("Could not find any running Ray instance"))
    assert runner.backend_error(lab).startswith("the scheduler's ray backend could not start: ConnectionError")
    warnings = [w.value for w in open_page().sidebar.warning]
    assert any("ray backend could not start" in w and "choose this machine" in w for w in warnings)
    runner.choose_backend(lab, "local")
    assert not [w.value for w in open_page().sidebar.warning]
