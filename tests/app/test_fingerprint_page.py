"""AppTest of the What It Keeps page and of the Embedding Map on the shapes world, against real
short runs in a temporary store: the values shown are the snapshots' metrics and the raw-input
baseline's, a digits run gets its message, the map colours by a factor of the dataset, and a
clicked shapes sample shows as a 20x20 RGB image."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from jobs import store as st
from tests.app.apptest import chart, decode
from tests.conftest import FAST, kill_store_processes
from trainers import data, evaluate
from trainers.config import RunConfig
from trainers.train import train_run
from ui.map_selection import Selection

ROOT = Path(__file__).resolve().parents[2]
FINGERPRINT = str(ROOT / "pages" / "fingerprint.py")
MAP = str(ROOT / "pages" / "embedding_map.py")
SHAPES = dict(dataset="shapes", encoder="cnn_rgb", n_samples=300, epochs=3, batch_size=64, hidden_dim=32, rep_dim=16,
              proj_dim=8, threads=1, aug_grayscale=0.0)
NAMES = {"colour": "crop + colour", "crop": "crop only"}
FACTORS = ["label (shape)", "colour", "x", "y", "scale", "angle", "background", "noise"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Two finished shapes runs (with and without colour distortion) and a digits run."""
    root = tmp_path_factory.mktemp("fingerprint_store")
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_STORE", str(root))
    mp.setattr("jobs.runner.ensure_scheduler", lambda store: False)
    s = st.Store(root)
    ids = {}
    for key, colour in (("colour", 0.8), ("crop", 0.0)):
        rid = s.create_run(RunConfig(**SHAPES, aug_colour=colour, name=NAMES[key]), status=st.RUNNING)
        train_run(s, rid, log=lambda m: None)
        ids[key] = rid
    rid = s.create_run(RunConfig(**{**FAST, "epochs": 1, "name": "digits run"}), status=st.RUNNING)
    train_run(s, rid, log=lambda m: None)
    ids["digits"] = rid
    yield s, ids
    kill_store_processes(s)
    mp.undo()


def _open(path: str, **state) -> AppTest:
    at = AppTest.from_file(path, default_timeout=60)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metrics(s: st.Store, rid: str, epoch: int) -> dict:
    return next(x.metrics for x in s.snapshots(rid) if x.epoch == epoch)


def _expected(m: dict, space: str) -> list[float]:
    label = m["knn_accuracy"] if space == "rep" else m["knn_accuracy_emb"]
    probes = m["factor_probes"] if space == "rep" else m["factor_probes_embedding"]
    return [label] + [probes[f] for f in FACTORS[1:]]


def _bars(at: AppTest) -> dict[tuple[str, int], np.ndarray]:
    """(trace name, panel 1 or 2) -> bar heights of the What It Keeps figure."""
    fig = chart(at, "fp_bars")
    return {(t["name"], 1 if t.get("yaxis", "y") == "y" else 2): decode(t["y"]).astype(float)
            for t in fig["data"] if t["type"] == "bar"}


def _raw_input() -> dict:
    """``python -m trainers baseline``'s probes for the runs' data, computed here."""
    return evaluate.raw_probes(data.load(RunConfig(**SHAPES)))


def test_the_page_shows_the_snapshot_probes_of_each_run_and_space(lab):
    s, ids = lab
    at = _open(FINGERPRINT, lab_selected_runs=[ids["colour"], ids["crop"]])
    assert at.title[0].value == "What It Keeps"
    assert "What this shows" in at.expander[0].label
    table = at.dataframe[0].value
    assert list(table.columns[3:]) == FACTORS
    bars = _bars(at)
    for key in ("colour", "crop"):
        m = _metrics(s, ids[key], 3)  # the slider starts at the last epoch
        for panel, space, name in ((1, "rep", "representation"), (2, "emb", "projector output")):
            row = table[(table["run"] == NAMES[key]) & (table["space"] == name)]
            assert row["epoch"].tolist() == ["3"]
            np.testing.assert_allclose(row[FACTORS].to_numpy(float)[0], _expected(m, space))
            np.testing.assert_allclose(bars[(f"{NAMES[key]} · epoch 3", panel)], _expected(m, space))
    # the two runs differ (they trained with other augmentations): the figure is not one run twice
    assert not np.allclose(bars[(f"{NAMES['colour']} · epoch 3", 1)], bars[(f"{NAMES['crop']} · epoch 3", 1)])

    # an earlier epoch: every value is that snapshot's
    at.select_slider(key="fp_epoch").set_value(1).run()
    assert not at.exception
    bars = _bars(at)
    for key in ("colour", "crop"):
        m = _metrics(s, ids[key], 1)
        np.testing.assert_allclose(bars[(f"{NAMES[key]} · epoch 1", 1)], _expected(m, "rep"))
        np.testing.assert_allclose(bars[(f"{NAMES[key]} · epoch 1", 2)], _expected(m, "emb"))


def test_the_raw_input_baseline_arrives_and_is_the_baseline_command(lab):
    s, ids = lab
    at = _open(FINGERPRINT, lab_selected_runs=[ids["colour"], ids["crop"]])
    deadline = time.monotonic() + 120
    while "raw input" not in at.dataframe[0].value["run"].tolist():
        assert time.monotonic() < deadline, "the raw-input baseline did not arrive within 120 s"
        assert not at.warning, [w.value for w in at.warning]
        time.sleep(1.0)
        at.run()
    raw = _raw_input()
    want = [raw["knn_accuracy"]] + [raw["factor_probes"][f] for f in FACTORS[1:]]
    table = at.dataframe[0].value
    base = table[table["run"] == "raw input"]
    assert len(base) == 1  # both runs share their data settings: one baseline row
    assert base["space"].tolist() == ["data of crop + colour, crop only"]
    np.testing.assert_allclose(base[FACTORS].to_numpy(float)[0], want, rtol=1e-6)
    fig = chart(at, "fp_bars")
    ticks = [t for t in fig["data"] if t["type"] == "scatter" and t["name"] == "raw input"]
    assert len(ticks) == 4  # one per run and panel
    for t in ticks:
        np.testing.assert_allclose(decode(t["y"]).astype(float), want, rtol=1e-6)
        assert t["marker"]["symbol"] == "line-ew-open"
    assert not at.status  # no "computing" box once it is there
    # the over-epochs panels draw it as a dashed line at the same height
    ep = chart(at, "fp_epochs")
    lines = [t for t in ep["data"] if t["name"] == "raw input"]
    assert len(lines) == len(FACTORS)
    assert sorted(decode(t["y"]).astype(float)[0] for t in lines) == pytest.approx(sorted(want), rel=1e-6)


def test_over_epochs_follows_the_chosen_run(lab):
    s, ids = lab
    at = _open(FINGERPRINT, lab_selected_runs=[ids["colour"], ids["crop"]])

    def check(key: str) -> None:
        fig = chart(at, "fp_epochs")
        assert NAMES[key] in fig["layout"]["title"]["text"]
        epochs = [x.epoch for x in s.snapshots(ids[key])]
        rep = [t for t in fig["data"] if t["name"] == "representation"]
        emb = [t for t in fig["data"] if t["name"] == "projector output"]
        assert len(rep) == len(emb) == len(FACTORS)
        for i in range(len(FACTORS)):
            assert decode(rep[i]["x"]).tolist() == epochs
            want_rep = [_expected(_metrics(s, ids[key], e), "rep")[i] for e in epochs]
            want_emb = [_expected(_metrics(s, ids[key], e), "emb")[i] for e in epochs]
            np.testing.assert_allclose(decode(rep[i]["y"]).astype(float), want_rep)
            np.testing.assert_allclose(decode(emb[i]["y"]).astype(float), want_emb)
        titles = [a["text"] for a in fig["layout"]["annotations"]][: len(FACTORS)]
        assert titles == FACTORS

    check("colour")
    at.selectbox(key="fp_run").set_value(ids["crop"]).run()
    assert not at.exception
    check("crop")


def test_a_digits_run_gets_a_message_and_no_figure(lab):
    s, ids = lab
    at = _open(FINGERPRINT, lab_selected_runs=[ids["digits"]])
    text = " ".join(i.value for i in at.info).replace("\\", "")
    assert "digits run" in text and "has no factor probes" in text and "shapes" in text
    assert not at.get("plotly_chart") and not at.dataframe
    # beside a shapes run: the message for the digits run, the figure for the other
    at = _open(FINGERPRINT, lab_selected_runs=[ids["digits"], ids["crop"]])
    assert any("digits run" in i.value.replace("\\", "") for i in at.info)
    assert {t["name"] for t in chart(at, "fp_bars")["data"] if t["type"] == "bar"} == {"crop only · epoch 3"}


# --------------------------------------------------------------------------- the Embedding Map on shapes


def _map(at: AppTest) -> dict:
    return chart(at, "map_chart")


def test_the_map_offers_the_factors_and_colours_by_a_class_factor(lab):
    s, ids = lab
    at = _open(MAP, lab_selected_runs=[ids["crop"]], map_method="PCA")
    box = at.selectbox(key="map_colour")
    assert box.label == "Colour by"
    assert box.options == ["label / target", "colour", "x", "y", "scale", "angle", "background", "noise"]
    box.set_value("colour").run()
    assert not at.exception
    fig = _map(at)
    arr = s.load_snapshot(ids["crop"], 3)
    factor = data.load(RunConfig(**SHAPES)).factors["colour"][arr["index"]]  # the dataset's, by stable index
    traces = [t for t in fig["data"] if t["name"] != "selected"]
    assert fig["layout"]["legend"]["title"]["text"] == "colour"
    assert {t["name"] for t in traces if t["showlegend"]} == {f"colour {c}" for c in np.unique(factor)}
    colours = set()
    for t in traces:
        idx = decode(t["customdata"])[:, 0].astype(int)
        row = np.searchsorted(arr["index"], idx) if np.all(np.diff(arr["index"]) > 0) else \
            np.array([np.flatnonzero(arr["index"] == i)[0] for i in idx])
        value = int(t["name"].split()[1])
        assert (factor[row] == value).all()  # every point of a trace has that colour class
        assert (decode(t["customdata"])[:, 2].astype(int) == value).all()
        colours.add((value, t["marker"]["color"]))
    assert len({c for _, c in colours}) == len(np.unique(factor))  # one marker colour per class
    assert sum(len(decode(t["x"])) for t in traces) == len(arr["index"])


def test_the_map_colours_by_a_numeric_factor_with_a_colour_bar(lab):
    s, ids = lab
    at = _open(MAP, lab_selected_runs=[ids["colour"]], map_method="PCA", map_colour="scale")
    fig = _map(at)
    (t,) = [t for t in fig["data"] if t["name"] != "selected"]
    arr = s.load_snapshot(ids["colour"], 3)
    want = data.load(RunConfig(**SHAPES)).factors["scale"][arr["index"]]
    np.testing.assert_allclose(decode(t["marker"]["color"]).astype(float), want, rtol=1e-6)
    assert t["marker"]["showscale"] and t["marker"]["colorbar"]["title"]["text"] == "scale"
    np.testing.assert_allclose(decode(t["customdata"])[:, 2].astype(float), want, rtol=1e-6)
    # back to the label: one trace per shape
    at.selectbox(key="map_colour").set_value("label / target").run()
    names = {t["name"] for t in _map(at)["data"] if t.get("showlegend")}
    assert names == {str(c) for c in range(6)}


def test_a_clicked_shapes_sample_shows_as_its_rgb_image(lab):
    s, ids = lab
    sample = 17
    at = _open(MAP, lab_selected_runs=[ids["crop"]], map_method="PCA",
               map_selected=Selection(ids["crop"], "shapes", sample))
    fig = chart(at, "map_image")
    (img,) = fig["data"]
    assert img["type"] == "image"
    z = decode(img["z"])
    assert z.shape == (20, 20, 3) and z.dtype == np.uint8
    want = data.load(RunConfig(**SHAPES)).images[sample]  # (20, 20, 3) in [0, 1]
    np.testing.assert_array_equal(z, np.round(want * 255).astype(np.uint8))
    captions = " ".join(c.value for c in at.caption)
    assert f"Sample {sample} as the encoder sees it (20×20 RGB pixels)." in captions


def test_a_clicked_digit_still_shows_as_its_grey_image(lab):
    s, ids = lab
    at = _open(MAP, lab_selected_runs=[ids["digits"]], map_method="PCA",
               map_selected=Selection(ids["digits"], "digits", 5))
    (img,) = chart(at, "map_image")["data"]
    assert img["type"] == "heatmap"
    z = decode(img["z"]).astype(float)
    assert z.shape == (8, 8)
    np.testing.assert_allclose(z, data.load(RunConfig()).images[5])
    assert "Sample 5 as the encoder sees it (8×8 pixels)." in " ".join(c.value for c in at.caption)
    assert not [b for b in at.selectbox if b.key == "map_colour"]  # the label is the only colour
