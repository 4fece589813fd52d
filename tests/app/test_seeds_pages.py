"""Runs over seeds on the pages (AppTest): the Runs page's table of configurations with mean ± sd,
the Compare page's error bars, bands and paired differences, and the Train page's Seeds field.

The store holds one real digits run (2 epochs) whose snapshots are copied into runs of three
configurations with metrics set to numbers the tests know: A over seeds 0, 1, 2, B (a hostile
name) over the same seeds, C over seed 0 only."""

from __future__ import annotations

import math
import time

import pytest

from jobs import store as st
from tests.app.apptest import chart, decode, open_page
from tests.app.browser import HOSTILE_NAME
from tests.conftest import FAST, kill_store_processes
from trainers.config import RunConfig
from trainers.train import train_run

KNN = {"A": [0.90, 0.92, 0.97], "B": [0.85, 0.90, 0.89], "C": [0.70]}
ALIGN = {"A": [0.6, 0.7, 0.8], "B": [0.5, 0.5, 0.5], "C": [0.4]}
LOSS = {"A": "nt_xent", "B": "dcl", "C": "supcon"}
NAME = {"A": "A", "B": HOSTILE_NAME, "C": "C"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeds_store")
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_STORE", str(root))
    s = st.Store(root)
    real = s.create_run(RunConfig(**{**FAST, "epochs": 2, "lr": 2e-3, "name": "source"}), status=st.RUNNING)
    train_run(s, real, log=lambda m: None)
    snaps = s.snapshots(real)
    ids: dict[str, list[str]] = {}
    for c, knn in KNN.items():
        for seed, (acc, al) in enumerate(zip(knn, ALIGN[c], strict=True)):
            cfg = RunConfig(**{**FAST, "epochs": 2, "loss": LOSS[c], "seed": seed, "group": "three seeds",
                               "name": f"{NAME[c]} · seed {seed}"})
            rid = s.create_run(cfg, status=st.FINISHED)
            for snap in snaps:  # epoch e holds (e + 1) / 3 of the final value: a curve to band
                frac = (snap.epoch + 1) / 3
                m = {**snap.metrics, "knn_accuracy": acc * frac, "alignment": al * frac}
                s.add_snapshot(rid, snap.epoch, snap.step, s.load_snapshot(real, snap.epoch), m)
            s.update_run(rid, metrics={**snaps[-1].metrics, "knn_accuracy": acc, "alignment": al}, epoch=2)
            ids.setdefault(c, []).append(rid)
    yield s, ids, real
    kill_store_processes(s)
    mp.undo()


def _sd(xs: list[float]) -> float:
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def _table(at, column: str):
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with a column {column!r}")


def test_runs_page_aggregates_runs_that_differ_only_by_seed(lab):
    s, ids, real = lab
    at = open_page("pages/runs.py")
    table = _table(at, "n seeds").sort_values("configuration", key=lambda c: c != "A")  # A first
    # A and B have three finished seeds each; C (one seed) and the source run are not repeated
    assert list(table["configuration"]) == ["A", HOSTILE_NAME]  # the hostile name as typed, as text
    assert list(table["n seeds"]) == [3, 3] and list(table["seeds"]) == ["0, 1, 2", "0, 1, 2"]
    # written out: A's kNN 0.90, 0.92, 0.97 -> 0.930 ± sqrt(0.0013) = 0.036; B's 0.85, 0.90, 0.89 -> 0.880 ± 0.026
    assert list(table["kNN acc"]) == ["0.930 ± 0.036", "0.880 ± 0.026"]
    assert list(table["alignment"]) == ["0.700 ± 0.100", "0.500 ± 0.000"]
    assert f"{_sd(KNN['B']):.3f}" == "0.026"
    # a run that has not finished leaves the table
    s.update_run(ids["A"][2], status=st.RUNNING)
    try:
        table = _table(open_page("pages/runs.py"), "n seeds").sort_values("configuration", key=lambda c: c != "A")
        assert list(table["n seeds"]) == [2, 3] and list(table["kNN acc"])[0] == f"0.910 ± {_sd([0.90, 0.92]):.3f}"
    finally:
        s.update_run(ids["A"][2], status=st.FINISHED)


def test_runs_page_has_no_seed_table_without_repeated_configurations(lab):
    s, ids, _ = lab
    at = open_page("pages/runs.py", runs_group="three seeds")
    assert "Over seeds" in [h.value for h in at.subheader]
    at.selectbox(key="runs_group").set_value("(all runs)").run()
    for rid in ids["A"][1:] + ids["B"][1:]:
        s.update_run(rid, status=st.FAILED)
    try:
        at = open_page("pages/runs.py")
        assert "Over seeds" not in [h.value for h in at.subheader]
        assert all("n seeds" not in df.value.columns for df in at.dataframe)
    finally:
        for rid in ids["A"][1:] + ids["B"][1:]:
            s.update_run(rid, status=st.FINISHED)


def _compare(ids, **state):
    runs = ids["A"] + ids["B"] + ids["C"]
    return open_page("pages/compare.py", cmp_runs=runs, **state)


def test_compare_groups_runs_by_configuration_with_mean_and_sd(lab):
    _, ids, _ = lab
    at = _compare(ids)
    table = _table(at, "n seeds")
    assert list(table["configuration"]) == ["A", HOSTILE_NAME, "C"]
    assert list(table["n seeds"]) == [3, 3, 1]
    assert list(table["kNN acc"]) == ["0.930 ± 0.036", "0.880 ± 0.026", "0.700 (one seed)"]
    assert list(table["alignment"]) == ["0.700 ± 0.100", "0.500 ± 0.000", "0.400 (one seed)"]
    # the per-run table and maps are still there
    assert len(chart(at, "cmp_maps")["layout"]["annotations"]) == 7
    assert any("mean ± sd" in m.value for m in at.markdown)


def test_compare_bars_have_error_bars_of_one_sd_and_none_for_one_seed(lab):
    _, ids, _ = lab
    fig = chart(_compare(ids), "cmp_seed_bars")
    assert "mean ± sd" in fig["layout"]["title"]["text"]
    knn = [t for t in fig["data"] if t.get("xaxis", "x") == "x"]  # the first panel: kNN acc
    assert fig["layout"]["annotations"][0]["text"] == "kNN acc"
    assert knn[0]["name"] == "A" and knn[2]["name"] == "C"
    means = [float(decode(t["y"])[0]) for t in knn]
    assert means == pytest.approx([0.93, 0.88, 0.70])
    bars = [float(decode(t["error_y"]["array"])[0]) for t in knn]
    assert bars[:2] == pytest.approx([math.sqrt(0.0013), _sd(KNN["B"])])
    assert [t["error_y"]["visible"] for t in knn] == [True, True, False]
    assert [t["text"][0] for t in knn] == ["", "", "one seed"]
    assert "&lt;b id=" in knn[1]["name"] and "<b" not in knn[1]["name"]  # the hostile name is escaped for Plotly


def test_compare_band_is_mean_plus_minus_sd_over_epochs(lab):
    _, ids, _ = lab
    at = _compare(ids)
    assert at.selectbox(key="cmp_seed_metric").value == "knn_accuracy"
    fig = chart(at, "cmp_seed_band")
    lines = [t for t in fig["data"] if t.get("mode") == "lines+markers"]
    bands = [t for t in fig["data"] if t.get("fill") == "toself"]
    assert len(lines) == 3 and len(bands) == 2  # C has one seed: a line, no band
    a_line, a_band = lines[0], bands[0]
    epochs = [int(e) for e in decode(a_line["x"])]
    fracs = [(e + 1) / 3 for e in epochs]
    assert list(decode(a_line["y"])) == pytest.approx([0.93 * f for f in fracs])
    sd = [_sd([v * f for v in KNN["A"]]) for f in fracs]
    upper = list(decode(a_band["y"]))[: len(epochs)]
    assert upper == pytest.approx([0.93 * f + d for f, d in zip(fracs, sd, strict=True)])
    at.selectbox(key="cmp_seed_metric").set_value("alignment").run()
    fig = chart(at, "cmp_seed_band")
    assert fig["layout"]["yaxis"]["title"]["text"] == "alignment"
    lines = [t for t in fig["data"] if t.get("mode") == "lines+markers"]
    assert float(decode(lines[0]["y"])[-1]) == pytest.approx(0.7)


def test_compare_draws_the_raw_input_reference_once_it_is_computed(lab):
    """The probes on the raw digits (computed in the background on the first visit) as a dashed
    line in the kNN and linear accuracy panels and on the kNN band; alignment has none."""
    from trainers import data, evaluate

    _, ids, _ = lab
    want = evaluate.raw_probes(data.load(RunConfig(**FAST)))
    deadline = time.monotonic() + 90
    while True:
        at = _compare(ids)
        fig = chart(at, "cmp_seed_bars")
        if any(t.get("name") == "raw input (no learning)" for t in fig["data"]):
            break
        assert time.monotonic() < deadline, "the raw-input reference never appeared"
        time.sleep(1.0)
    lines = {s["yref"]: s["y0"] for s in fig["layout"]["shapes"] if s.get("line", {}).get("dash") == "dash"}
    titles = {a["text"]: a["yref"] if "yref" in a else None for a in fig["layout"]["annotations"]}
    assert lines["y"] == pytest.approx(want["knn_accuracy"])  # the first panel: kNN acc
    assert lines["y2"] == pytest.approx(want["linear_accuracy"])
    assert len(lines) == 2 and "kNN acc" in titles
    band = chart(at, "cmp_seed_band")
    ref = next(t for t in band["data"] if t.get("name") == "raw input (no learning)")
    assert list(decode(ref["y"])) == pytest.approx([want["knn_accuracy"]] * 2)
    assert any("raw input" in c.value for c in at.caption)


def test_compare_paired_difference_with_its_interval(lab):
    _, ids, _ = lab
    at = _compare(ids)
    pairs = _table(at, "A − B").set_index("metric")
    # kNN: d = 0.05, 0.02, 0.08 -> mean 0.05, sd 0.03, t_{0.975,2} = 4.3027 -> ± 0.0745
    assert pairs.loc["kNN acc", "A − B"] == "+0.050 [95% CI -0.025, +0.125] over 3 seeds"
    assert pairs.loc["kNN acc", "sd of differences"] == "0.03"
    assert pairs.loc["kNN acc", "shared seeds"] == "0, 1, 2" and pairs.loc["kNN acc", "better"] == "–"
    # alignment: d = 0.1, 0.2, 0.3 -> mean 0.2, sd 0.1, half width 4.3027 * 0.1 / sqrt(3) = 0.248
    assert pairs.loc["alignment", "A − B"] == "+0.200 [95% CI -0.048, +0.448] over 3 seeds"
    # A against the one-seed configuration C: labelled, no interval
    at.selectbox(key="cmp_pair_b").set_value(2).run()
    pairs = _table(at, "A − B").set_index("metric")
    assert pairs.loc["kNN acc", "A − B"] == "+0.200 (one seed: no error bar)"
    assert pairs.loc["kNN acc", "shared seeds"] == "0" and pairs.loc["kNN acc", "sd of differences"] == "–"
    at.selectbox(key="cmp_pair_b").set_value(0).run()
    assert any("two different configurations" in c.value for c in at.caption)


def test_compare_says_when_two_configurations_share_no_seed(lab):
    s, ids, _ = lab
    at = open_page("pages/compare.py", cmp_runs=ids["A"][1:] + ids["C"])
    assert any("no seed in common" in i.value for i in at.info)
    at = open_page("pages/compare.py", cmp_runs=[ids["A"][0], ids["C"][0]])
    assert any("ran one seed: no error bars" in c.value for c in at.caption)
    pairs = _table(at, "A − B").set_index("metric")
    assert pairs.loc["kNN acc", "A − B"] == "+0.200 (one seed: no error bar)"


def test_train_page_seeds_launch_one_group(lab, monkeypatch):
    s, _, _ = lab
    monkeypatch.setattr("jobs.runner.ensure_scheduler", lambda store: False)
    at = open_page()
    at.number_input(key="train_epochs").set_value(3).run()
    at.text_input(key="train_seeds").set_value("4, 6-7").run()
    assert at.number_input(key="train_seed").disabled
    assert any("3 seeds" in c.value for c in at.caption)
    before = {r.id for r in s.list_runs()}
    launch = next(b for b in at.button if "Train" in b.label)
    assert launch.label.endswith("(3 runs)")
    launch.click().run()
    assert not at.exception
    new = [r for r in s.list_runs() if r.id not in before]
    try:
        assert sorted(r.config["seed"] for r in new) == [4, 6, 7] and len({r.group for r in new}) == 1
        assert new[0].group.startswith("nt_xent on digits · seeds 4, 6, 7")
        assert {r.name for r in new} == {f"nt_xent on digits · seed {k}" for k in (4, 6, 7)}
        assert all(r.status == st.QUEUED and r.config["epochs"] == 3 for r in new)
        assert at.session_state["lab_compare_group"] == new[0].group  # Compare opens the group
    finally:
        for r in new:
            s.update_run(r.id, status=st.CANCELLED)


@pytest.mark.parametrize(("text", "message"), [("1,1", "seed 1 is given twice"), ("0,x", "is not a whole number"),
                                               ("<b>x</b>", "is not a whole number")])
def test_train_page_refuses_bad_seeds_with_a_message(lab, monkeypatch, text, message):
    s, _, _ = lab
    monkeypatch.setattr("jobs.runner.ensure_scheduler", lambda store: False)
    at = open_page()
    at.text_input(key="train_seeds").set_value(text).run()
    assert any(message in w.value for w in at.warning)
    n = len(s.list_runs())
    next(b for b in at.button if "Train" in b.label).click().run()
    assert not at.exception
    assert any("Cannot start: Seeds" in e.value and message in e.value.replace("\\", "") for e in at.error)
    assert len(s.list_runs()) == n
    if "<b>" in text:  # shown as text: the Markdown escapes every bracket
        assert all("<b>" not in w.value for w in at.warning)


def test_compare_leaves_runs_that_stopped_early_out_of_the_aggregates(lab):
    """A cancelled fourth seed of A (its last snapshot at epoch 1, kNN 0.10) is not averaged in."""
    s, ids, real = lab
    cfg = RunConfig(**{**FAST, "epochs": 2, "loss": "nt_xent", "seed": 3, "group": "three seeds", "name": "A · seed 3"})
    rid = s.create_run(cfg, status=st.CANCELLED)
    snap = s.snapshots(real)[1]
    s.add_snapshot(rid, snap.epoch, snap.step, s.load_snapshot(real, snap.epoch), {**snap.metrics, "knn_accuracy": 0.10})
    s.update_run(rid, metrics={**snap.metrics, "knn_accuracy": 0.10}, epoch=1)
    try:
        at = open_page("pages/compare.py", cmp_runs=ids["A"] + [rid] + ids["B"])
        table = _table(at, "n seeds").set_index("configuration")
        assert table.loc["A", "n seeds"] == 3 and table.loc["A", "kNN acc"] == "0.930 ± 0.036"
        assert any("Left out here: 1 run(s) that stopped before their last epoch (cancelled)" in c.value
                   for c in at.caption)
    finally:
        s.delete_run(rid)
