"""The sweep command on the local workers: presets by name, seeds, --set, the progress bar,
the JSON result, and the flags it refuses (nothing queued then). The same sweep on Ray is
compared with the local one in tests/jobs/test_ray_backend.py."""

from __future__ import annotations

import io
import json

import pytest

from jobs import runner, sweep
from jobs import store as st
from trainers import registry
from trainers.config import RunConfig
from trainers.presets import get_preset

TINY = ["--set", "epochs=2", "--set", "threads=1", "--set", "hidden_dim=32", "--set", "rep_dim=16",
        "--set", "proj_dim=16"]


def test_find_preset_by_name_or_a_unique_part():
    assert sweep.find_preset("Digits · DCL").name == "Digits · DCL"
    assert sweep.find_preset("kd vs alone").name.startswith("Distillation: KD vs alone")
    with pytest.raises(ValueError, match="matches .* presets"):
        sweep.find_preset("digits")
    with pytest.raises(ValueError, match="no preset called '<img src=x onerror=alert\\(1\\)>'"):
        sweep.find_preset("<img src=x onerror=alert(1)>")


def test_overrides_are_json_values_of_known_fields():
    assert sweep.parse_overrides(["epochs=5", "loss=dcl", "temperature=0.3", "snapshot_every=\"2\""]) == {
        "epochs": 5, "loss": "dcl", "temperature": 0.3, "snapshot_every": "2"}
    with pytest.raises(ValueError, match="not a config field"):
        sweep.parse_overrides(["epoch=5"])
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        sweep.parse_overrides(["epochs"])


def test_sweep_configs_take_the_presets_runs_per_seed():
    # a single-run preset: its own values (the Train page's form), then --set, once per seed
    cfgs = sweep.sweep_configs(get_preset("Digits · DCL"), [3, 7], {"epochs": 2}, "g")
    assert [(c.loss, c.seed, c.epochs, c.group) for c in cfgs] == [("dcl", 3, 2, "g"), ("dcl", 7, 2, "g")]
    assert cfgs[0].temperature == registry.LOSSES["dcl"].temperature
    # a group with a teacher: each seed's students point to that seed's teacher
    kd = sweep.sweep_configs(get_preset("Distillation: KD vs alone with 10% labels"), [0, 1], {"epochs": 2}, "g")
    assert [c.teacher for c in kd] == ["", "", "@0", "@0", "", "", "@4", "@4"]
    assert [c.hidden_dim for c in kd[:2]] == [512, 32] and {c.epochs for c in kd} == {2}
    assert [c.seed for c in kd] == [0] * 4 + [1] * 4


@pytest.mark.parametrize("argv, message", [
    (["--preset", "nope"], "no preset called 'nope'"),
    (["--preset", "Digits · DCL", "--seeds", "1,1"], "seed"),
    (["--preset", "Digits · DCL", "--set", "epochs=0"], "epochs"),
    (["--preset", "Digits · DCL", "--set", "colour=red"], "not a config field"),
])
def test_bad_flags_queue_nothing(store, capsys, argv, message):
    assert sweep.main([*argv, "--store", str(store.root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert store.list_runs() == []


def test_ray_backend_without_ray_says_how_to_install_it(store, capsys, monkeypatch):
    from jobs import ray_backend

    monkeypatch.setattr(ray_backend, "ray_available", lambda: False)
    assert sweep.main(["--preset", "Digits · DCL", "--backend", "ray", "--store", str(store.root)]) == 2
    assert "pip install '.[ray]'" in capsys.readouterr().err
    assert store.list_runs() == []


def test_a_scheduler_of_another_backend_is_refused(store, capsys):
    import fcntl

    (store.root / runner.BACKEND_FILE).write_text("ray")
    with open(store.root / "scheduler.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert runner.scheduler_backend(store) == "ray"
        assert sweep.main(["--preset", "Digits · DCL", "--backend", "local", "--store", str(store.root)]) == 2
        fcntl.flock(lock, fcntl.LOCK_UN)
    assert "a scheduler with the ray backend is running" in capsys.readouterr().err
    assert store.list_runs() == [] and runner.scheduler_backend(store) is None


def test_local_sweep_runs_to_the_end_and_prints_json(store, capsys, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("LAB_BACKEND", raising=False)
    rc = sweep.main(["--preset", "Compare: NT-Xent vs DCL", "--seeds", "0,1", "--json", *TINY,
                     "--store", str(store.root)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    res = json.loads(out)
    assert res["preset"] == "Compare: NT-Xent vs DCL vs SupCon (digits)" and res["backend"] == "local"
    assert res["seeds"] == [0, 1] and res["group"].startswith("Compare: NT-Xent vs DCL vs SupCon (digits) · seeds 0,1")
    runs = res["runs"]
    assert [(r["name"], r["seed"]) for r in runs] == [
        ("NT-Xent · seed 0", 0), ("DCL · seed 0", 0), ("SupCon · seed 0", 0),
        ("NT-Xent · seed 1", 1), ("DCL · seed 1", 1), ("SupCon · seed 1", 1)]
    for r in runs:
        rec = store.get_run(r["run_id"])
        assert r["status"] == rec.status == st.FINISHED and rec.group == res["group"]
        assert r["metrics"] == rec.metrics and r["metrics"]["epoch"] == 2
        assert r["backend"] == "local" and r["node"]
    assert res["summary"]["knn_accuracy"]["n"] == 6
    assert "queued 6 runs" in err and "100.0%  6/6 ended" in err and err.count(": finished at epoch 2/2 on local") == 6


class _Run:
    def __init__(self, status, progress):
        self.status, self.progress, self.active = status, progress, status in ("queued", "running")


def test_progress_bar_counts_ended_runs_whole():
    text, key = sweep.progress_bar([_Run("finished", 1.0), _Run("failed", 0.2), _Run("running", 0.5), _Run("queued", 0)])
    assert text == "[" + "#" * 18 + "-" * 12 + "]  62.5%  2/4 ended, 1 running, 1 queued"
    assert key == (18, 2, 1)


def test_wait_redraws_in_place_on_a_terminal(store):
    rid = store.create_run(RunConfig(epochs=2), status=st.FINISHED)

    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    sweep.wait_for_group(store, [rid], out=out, poll=0.01)
    text = out.getvalue()
    assert text.startswith("\r\033[K" + rid) and "\r\033[K[##############################] 100.0%" in text
