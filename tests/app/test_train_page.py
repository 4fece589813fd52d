"""AppTest of the Train page: the queue (running runs first, queued runs compactly, the live
chart on a run with a loss curve), sweep presets that launch what the page shows, delete
only after a confirmation, and user-supplied text shown as text."""

from __future__ import annotations

import os
import time

import pytest

from jobs import store as stmod
from tests.app.apptest import open_page
from tests.app.browser import HOSTILE_NAME
from tests.conftest import FAST
from trainers.config import RunConfig
from ui.text import md_escape, plot_escape


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """An empty store; no scheduler or worker starts (runs stay as the test sets them)."""
    monkeypatch.setenv("LAB_STORE", str(tmp_path / "store"))
    monkeypatch.setattr("jobs.runner.ensure_scheduler", lambda store: False)
    monkeypatch.setattr("jobs.runner.reap", lambda store: [])
    return stmod.Store(tmp_path / "store")


def _run(s: stmod.Store, name: str, status: str, *, started: float | None = None, losses: tuple = (),
         reason: str = "") -> str:
    rid = s.create_run(RunConfig(**{**FAST, "name": name}), status=stmod.QUEUED)
    fields = {"status": status, "total_epochs": 4, "epoch": len(losses), "reason": reason}
    if status == stmod.RUNNING:
        fields |= {"pid": os.getpid(), "started": started or time.time()}
    elif status != stmod.QUEUED:
        fields |= {"started": started or time.time(), "finished": time.time()}
    s.update_run(rid, **fields)
    s.append_history(rid, [{"step": i, "epoch": float(i + 1), "seconds": 0.1 * i, "loss": v} for i, v in enumerate(losses)])
    time.sleep(0.01)  # distinct creation times: the queue orders by them
    return rid


def _texts(at) -> list[str]:
    """Every Markdown and caption text of the page, in page order."""
    return [m.value for m in at.get("markdown")] + [c.value for c in at.caption]


def _title(at) -> str:
    import json

    (c,) = [c for c in at.get("plotly_chart") if "train_loss_chart" in c.proto.id]
    return json.loads(c.proto.spec)["layout"]["title"]["text"]


def test_queue_lists_running_runs_first_and_queued_runs_compactly(lab):
    s = lab
    old = _run(s, "first running", stmod.RUNNING, started=time.time() - 60, losses=(5.0, 4.0))
    new = _run(s, "second running", stmod.RUNNING, started=time.time() - 10, losses=(6.0,))
    queued = [_run(s, f"waiting {i}", stmod.QUEUED) for i in range(5)]  # the newest runs of the store
    at = open_page()
    assert any("Queue · 7 active" in h.value for h in at.subheader)
    assert "2 running · 5 queued" in [c.value for c in at.caption]
    assert len(at.get("progress")) == 2  # a card (progress bar) for each running run, none for queued ones
    (exp,) = [e for e in at.expander if e.label == "5 queued"]
    lines = [m.value for m in exp.markdown]
    assert [ln.split(" · ")[1] for ln in lines] == [f"waiting {i}" for i in range(5)]  # start order
    texts = [m.value for m in at.get("markdown")]
    first_queued = next(i for i, t in enumerate(texts) if "waiting 0" in t)
    assert max(i for i, t in enumerate(texts) if "running** ·" in t) < first_queued  # cards come first
    # the chart follows a running run with a loss curve (the newest started), and can follow the other
    pick = at.selectbox(key="train_chart_run")
    assert pick.options == [f"second running · {new}", f"first running · {old}"]
    assert _title(at) == "Loss · second running · running"
    pick.set_value(old).run()
    assert _title(at) == "Loss · first running · running"
    assert queued[0] not in pick.options


def test_chart_follows_the_latest_run_with_a_loss_curve_when_none_runs(lab):
    s = lab
    _run(s, "done", stmod.FINISHED, losses=(3.0, 2.0, 1.0))
    _run(s, "not started", stmod.QUEUED)
    at = open_page()
    assert _title(at) == "Loss · done · finished"
    assert not at.get("selectbox") or "train_chart_run" not in [w.key for w in at.selectbox]


def test_launch_confirmation_shows_then_clears(lab):
    at = open_page()
    at.number_input(key="train_epochs").set_value(2).run()
    at.button[0].click().run()
    assert "Queued 1 run" in at.success[0].value
    at.run()
    assert "Queued 1 run" in at.success[0].value  # still fresh
    at.session_state["train_launched"] = {**at.session_state["train_launched"], "at": time.time() - 60}
    at.run()
    assert not at.success and "train_launched" not in at.session_state
    assert lab.list_runs()[0].status == stmod.QUEUED  # the queue shows the run from now on


def test_sweep_preset_shows_its_runs_and_launches_shared_edits_on_all(lab):
    s = lab
    at = open_page()
    at.selectbox(key="train_preset").set_value("Claim · DCL vs NT-Xent across batch sizes").run()
    # the fields the preset varies are greyed out; the shared ones stay editable
    assert at.selectbox(key="train_loss").disabled and at.number_input(key="train_batch_size").disabled
    assert at.text_input(key="train_name").disabled
    assert not at.number_input(key="train_epochs").disabled and not at.number_input(key="train_seed").disabled
    assert any("This preset launches 8 runs" in t for t in _texts(at))
    assert any(c.value.startswith("Loss, Batch size, Run name: set per run") for c in at.caption)
    at.number_input(key="train_epochs").set_value(3).run()
    at.number_input(key="train_seed").set_value(5).run()
    table = at.dataframe[0].value
    assert list(table["Batch size"]) == [32, 32, 64, 64, 128, 128, 256, 256]
    assert set(table["Epochs"]) == {3}
    assert list(table["Run name"])[:2] == ["NT-Xent · B=32", "DCL · B=32"]
    [b for b in at.button if b.label.startswith(":material/rocket_launch: Train (8 runs)")][0].click().run()
    assert not at.error, [e.value for e in at.error]
    runs = sorted(s.list_runs(), key=lambda r: r.created)
    assert len(runs) == 8 and len({r.group for r in runs}) == 1
    assert [r.config["batch_size"] for r in runs] == list(table["Batch size"])
    assert {(r.config["epochs"], r.config["seed"]) for r in runs} == {(3, 5)}
    assert [r.name for r in runs] == list(table["Run name"])


def test_delete_asks_first_and_keep_keeps_the_run(lab):
    s = lab
    rid = _run(s, "to delete", stmod.FINISHED, losses=(1.0,))
    at = open_page()
    at.button(key=f"train_delete_{rid}").click().run()
    assert s.get_run(rid).name == "to delete"  # one click deletes nothing
    assert any(t.startswith("Delete run **to delete**") for t in _texts(at))
    at.button(key=f"train_delete_no_{rid}").click().run()
    assert s.get_run(rid).name == "to delete"
    assert not any(t.startswith("Delete run") for t in _texts(at))
    at.button(key=f"train_delete_{rid}").click().run()
    at.button(key=f"train_delete_yes_{rid}").click().run()
    assert rid not in [r.id for r in s.list_runs()]
    assert not (s.root / "runs" / rid).exists() or not any((s.root / "runs" / rid).iterdir())


def test_user_text_is_shown_as_text(lab):
    s = lab
    reason = '<img src=x onerror="alert(1)"> **not bold** [link](javascript:alert(1))'
    _run(s, HOSTILE_NAME, stmod.FAILED, losses=(2.0, 1.0), reason=reason)
    _run(s, HOSTILE_NAME + " running", stmod.RUNNING, losses=(2.0,))
    _run(s, HOSTILE_NAME + " queued", stmod.QUEUED)
    at = open_page()
    elements = at.get("markdown") + list(at.caption)
    assert not any(m.proto.allow_html for m in elements)
    texts = _texts(at)
    assert any(md_escape(HOSTILE_NAME) in t for t in texts)  # the failed run in the recent list
    assert any(f"**▶ {md_escape(HOSTILE_NAME + ' running')}**" in t for t in texts)  # its card
    assert any(md_escape(HOSTILE_NAME + " queued") in t for t in texts)  # the queued list
    assert md_escape(reason) in texts  # the failure reason
    assert not any(HOSTILE_NAME in t for t in texts)  # never unescaped
    assert _title(at) == f"Loss · {plot_escape(HOSTILE_NAME + ' running')} · running"


def test_the_form_keeps_its_edits_while_a_person_visits_other_pages(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.app.apptest import APP

    monkeypatch.setenv("LAB_STORE", str(tmp_path / "store"))
    monkeypatch.setattr("jobs.runner.ensure_scheduler", lambda store: False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.number_input(key="train_epochs").set_value(33).run()
    at.selectbox(key="train_loss").set_value("dcl").run()
    at.switch_page("pages/alignment_uniformity.py").run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert at.number_input(key="train_epochs").value == 33
    assert at.selectbox(key="train_loss").value == "dcl"


def _launch(at) -> None:
    [b for b in at.button if b.label.startswith(":material/rocket_launch: Train")][0].click().run()
    assert not at.error, [e.value for e in at.error]


def test_loss_options_come_from_the_spec_and_reach_the_run(lab):
    """The options of the chosen loss are widgets with the spec's bounds and defaults; a changed
    one goes into the run's config, an untouched one stays the loss's default (not written)."""
    from trainers import registry

    at = open_page()
    at.selectbox(key="train_dataset").set_value("diabetes").run()
    at.selectbox(key="train_loss").set_value("supremix").run()
    spec = registry.LOSSES["supremix"]
    window = at.number_input(key="train_option_supremix_window")
    assert window.value == spec.options["window"].default
    assert spec.options["window"].describe() in window.help
    assert at.checkbox(key="train_option_supremix_distance_weight").value is True
    window.set_value(1.5).run()
    at.number_input(key="train_epochs").set_value(2).run()
    _launch(at)
    (run,) = lab.list_runs()
    assert run.config["loss"] == "supremix" and run.config["loss_options"] == {"window": 1.5}
    # a loss without options says so; switching back keeps the other loss's edits apart
    at.selectbox(key="train_loss").set_value("rnc").run()
    assert any("rnc takes no options" in c.value for c in at.caption)


def test_bounds_and_dataset_fields_come_from_the_rules(lab):
    from trainers import registry
    from trainers.config import NUMBERS

    at = open_page()
    assert NUMBERS["batch_size"].describe() in at.number_input(key="train_batch_size").help
    # a value out of range reaches the config's check: refused with its message, nothing launched
    at.number_input(key="train_batch_size").set_value(1).run()
    [b for b in at.button if b.label.startswith(":material/rocket_launch: Train")][0].click().run()
    assert any("batch_size" in e.value and "at least 2" in e.value for e in at.error), [e.value for e in at.error]
    assert lab.list_runs() == []
    at.number_input(key="train_batch_size").set_value(256).run()
    for ds in ("gmm_sphere", "diabetes", "digits"):
        at.selectbox(key="train_dataset").set_value(ds).run()
        shown = {w.key[len("train_"):] for w in at.number_input if w.key.startswith("train_")}
        dataset_fields = {"n_samples", "n_classes", "data_dim", "imbalance_ratio", "few_samples"}
        assert shown & dataset_fields == set(registry.DATASETS[ds].options), ds
    # distillation kinds offered for the dataset: kd needs classes
    at.selectbox(key="train_dataset").set_value("diabetes").run()
    assert "kd" not in at.selectbox(key="train_distill").options
    at.selectbox(key="train_dataset").set_value("digits").run()
    assert "kd" in at.selectbox(key="train_distill").options


def test_the_shapes_preset_shows_its_augmentations_and_launches_them(lab):
    """The shapes world's fields (shapes, augmentation switches) come from its spec; the preset
    that compares colour augmentation with crop only launches both runs with their switches."""
    from trainers.presets import PRESETS

    at = open_page()
    at.selectbox(key="train_dataset").set_value("shapes").run()
    assert not at.exception
    shown = {w.key for w in at.number_input}
    assert {"train_n_shapes", "train_aug_crop", "train_aug_colour", "train_aug_channels"} <= shown
    (preset,) = [p for p in PRESETS if p.name.startswith("Shapes")]
    at.selectbox(key="train_preset").set_value(preset.name).run()
    assert not at.exception, [e.value for e in at.exception]
    at.number_input(key="train_epochs").set_value(1).run()
    [b for b in at.button if b.label.startswith(":material/rocket_launch: Train")][0].click().run()
    assert not at.error, [e.value for e in at.error]
    runs = sorted(lab.list_runs(), key=lambda r: r.created)
    assert [r.config["dataset"] for r in runs] == ["shapes"] * len(preset.configs)
    assert [r.config["aug_colour"] for r in runs] == [c.get("aug_colour", 0.8) for c in preset.configs]
