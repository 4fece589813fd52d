"""AppTest for every page against real runs in a temporary store, asserting on content."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from jobs import store as st
from tests.app.apptest import APP
from tests.app.apptest import charts as _figs
from tests.app.apptest import decode as _arr
from tests.app.apptest import open_page as _app
from tests.conftest import FAST, kill_store_processes
from trainers.config import RunConfig
from trainers.train import train_run


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A store with two finished runs: NT-Xent and SupCon on digits."""
    root = tmp_path_factory.mktemp("app_store")
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_STORE", str(root))
    s = st.Store(root)
    ids = {}
    for loss in ("nt_xent", "supcon"):
        cfg = RunConfig(**{**FAST, "loss": loss, "name": f"test {loss}"})
        rid = s.create_run(cfg, status=st.RUNNING)
        train_run(s, rid, log=lambda m: None)
        ids[loss] = rid
    yield s, ids
    kill_store_processes(s)
    mp.undo()


def test_train_page_form_comes_from_registry(lab):
    at = _app()
    assert at.title[0].value.endswith("Train")
    sel = {s.label: s for s in at.selectbox}
    assert "nt_xent" in sel["Loss"].options and "supcon" in sel["Loss"].options
    assert "digits" in sel["Dataset"].options and "jing_toy" in sel["Dataset"].options
    # regression losses are not offered for a classification set
    assert "rnc" not in sel["Loss"].options
    # the queue lists the finished runs and the loss curve of the newest
    text = " ".join(m.value for m in at.markdown).replace("\\", "")  # run names are Markdown-escaped
    assert "test nt_xent" in text and "test supcon" in text
    figs = _figs(at)
    assert figs and figs[0]["layout"]["xaxis"]["title"]["text"] == "epoch"


def test_train_page_refuses_bad_config_with_message(lab, monkeypatch):
    s, _ = lab
    at = _app()
    at.number_input(key="train_temperature").set_value(0.001)
    at.selectbox(key="train_loss").set_value("supcon")
    at.run()
    # views=3 is refused for a 2-view loss, with a message that says what to change
    at.number_input(key="train_views").set_value(3).run()
    n_before = len(s.list_runs())
    at.button[0].click().run()
    assert any("uses exactly 2 views" in e.value for e in at.error)
    assert len(s.list_runs()) == n_before


def test_train_page_launches_a_run(lab, monkeypatch):
    s, _ = lab
    monkeypatch.setattr("jobs.runner.ensure_scheduler", lambda store: False)
    at = _app()
    at.number_input(key="train_epochs").set_value(3).run()
    n_before = len(s.list_runs())
    at.button[0].click().run()
    assert [x.value for x in at.success] and "Queued 1 run" in at.success[0].value
    runs = s.list_runs()
    assert len(runs) == n_before + 1 and runs[0].status == st.QUEUED and runs[0].config["epochs"] == 3
    s.update_run(runs[0].id, status=st.CANCELLED)


def test_runs_page_lists_runs_and_metrics(lab):
    s, ids = lab
    at = _app("pages/runs.py")
    assert at.title[0].value.endswith("Runs")
    # the data editor holds one row per run with its final metrics, as the store has them
    table = at.dataframe[0].value
    assert set(ids.values()) <= set(table["id"])
    for loss, rid in ids.items():
        row = table.set_index("id").loc[rid]
        final = s.get_run(rid).metrics
        assert row["status"] == "finished" and row["loss"] == loss
        assert row["kNN acc"] == pytest.approx(final["knn_accuracy"])
        assert row["alignment"] == pytest.approx(final["alignment"])
    assert any('"loss": "' in c.value for c in at.code)
    # where each run trained: the backend and node its worker recorded
    s.update_run(ids["supcon"], backend="ray", node="10.0.0.7")
    table = _app("pages/runs.py").dataframe[0].value.set_index("id")
    assert table.loc[ids["supcon"], "ran on"] == "ray · 10.0.0.7"
    assert table.loc[ids["nt_xent"], "ran on"] == ""  # trained in the test's own process: no worker recorded it


def test_alignment_uniformity_page_plots_each_run(lab):
    s, ids = lab
    at = _app("pages/alignment_uniformity.py", au_runs=list(ids.values()))
    assert any("\\mathcal{L}_{\\text{align}}" in x.value for x in at.get("latex"))  # the formula it plots
    figs = _figs(at)
    assert len(figs) == 1
    traces = figs[0]["data"]
    assert {t["name"] for t in traces} == {"test nt_xent", "test supcon"}
    for t in traces:
        assert len(_arr(t["x"])) == 4  # epochs 0, 1, 2, 4
        snaps = s.snapshots(ids[t["name"].split()[-1]])
        np.testing.assert_allclose(_arr(t["y"]), [x.metrics["alignment"] for x in snaps], rtol=1e-6)
    assert figs[0]["layout"]["xaxis"]["title"]["text"].startswith("uniformity")
    shapes = figs[0]["layout"].get("shapes", [])
    assert shapes and shapes[0]["x0"] < -3.9  # the optimum of uniformity is marked


def test_collapse_page_spectrum_and_rank(lab):
    s, ids = lab
    at = _app("pages/collapse.py", dc_runs=[ids["supcon"]])
    figs = _figs(at)
    assert len(figs) == 2
    spec, rank = figs
    assert spec["layout"]["yaxis"]["type"] == "log"
    y = _arr(spec["data"][0]["y"])
    np.testing.assert_allclose(y, s.load_snapshot(ids["supcon"], 4)["spectrum_emb"], rtol=1e-6)
    names = [t["name"] for t in rank["data"]]
    assert any("RankMe" in n for n in names)
    # switch to representation space
    at.radio(key="dc_space").set_value("representation (encoder output)").run()
    y2 = _arr(_figs(at)[0]["data"][0]["y"])
    assert len(y2) == 32


def test_embedding_map_pca_then_umap(lab):
    s, ids = lab
    rid = ids["nt_xent"]
    at = _app("pages/embedding_map.py", map_run=rid)
    assert any("being computed" in i.value for i in at.info)  # no UMAP yet: PCA shown meanwhile
    fig = _figs(at)[0]
    assert fig["layout"]["title"]["text"].startswith("PCA")
    n_points = sum(len(_arr(t["x"])) for t in fig["data"])
    assert n_points == 1797
    assert "index %{customdata[0]}" in fig["data"][0]["hovertemplate"]
    # the figure as standalone HTML and the snapshot as Parquet, each one download
    downloads = {d.proto.label: d.proto for d in at.get("download_button")}
    assert set(downloads) == {"Download interactive HTML", "Download snapshot (Parquet)"}
    # the projection worker computes the map; the page then shows it
    from jobs.projector import ProjectionWorker

    pw = ProjectionWorker(s)
    y = pw.compute(rid, 4, "emb")
    s.add_projection(rid, 4, "emb", "umap", y, 1.0)
    at = _app("pages/embedding_map.py", map_run=rid)
    fig = _figs(at)[0]
    assert fig["layout"]["title"]["text"].startswith("UMAP")
    xs = np.concatenate([_arr(t["x"]) for t in fig["data"]])
    assert np.isclose(np.sort(xs), np.sort(y[:, 0]), atol=1e-4).all()


def _click(at: AppTest, customdata, x: float = 1.0) -> AppTest:
    """What Streamlit's front end sends for a click on a point: customdata of a numeric
    two-column array arrives as an object keyed by position (SVG and WebGL alike)."""
    at.session_state["map_chart"] = {"selection": {"points": [
        {"curve_number": 0, "point_number": 3, "point_index": 3, "x": x, "y": 2.0, "customdata": customdata}],
        "point_indices": [3], "box": [], "lasso": []}}
    return at.run()


def _panel(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown if "Selected sample" in m.value)


@pytest.mark.parametrize("customdata", [{"0": 17, "1": 7}, [17, 7]])
def test_embedding_map_click_shows_sample_and_digit_image(lab, customdata):
    s, ids = lab
    rid = ids["nt_xent"]
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["map_run"] = rid
    at.session_state["map_method"] = "PCA"
    at.run()
    at.switch_page("pages/embedding_map.py").run()
    _click(at, customdata)
    assert not at.exception, [e.value for e in at.exception]
    arr = s.load_snapshot(rid, 4)
    r = int(np.flatnonzero(arr["index"] == 17)[0])
    panel = _panel(at)
    assert f"Selected sample 17** · label {int(arr['y'][r])}" in panel
    assert "epoch 4" in panel and "test nt\\_xent" in panel
    image = json.loads(at.get("plotly_chart")[1].proto.spec)  # the 8x8 digit of sample 17
    from trainers import data

    digits = data.load(RunConfig(**FAST)).images
    np.testing.assert_allclose(_arr(image["data"][0]["z"]).reshape(8, 8), digits[17])
    # the map rings the sample at its place
    ring = _figs(at)[0]["data"][-1]
    assert ring["name"] == "selected" and _arr(ring["customdata"]).ravel()[0] == 17
    np.testing.assert_allclose(_arr(ring["x"]), arr["pca_emb"][r, :1], rtol=1e-5)


def test_embedding_map_selection_follows_epochs_and_clears(lab):
    s, ids = lab
    rid = ids["nt_xent"]
    at = _app("pages/embedding_map.py", map_run=rid, map_method="PCA")
    _click(at, {"0": 17, "1": 7})
    assert "epoch 4" in _panel(at)
    # another epoch: the same sample, at its place in that epoch's map
    at.select_slider(key="map_epoch").set_value(1).run()
    assert "Selected sample 17" in _panel(at) and "epoch 1" in _panel(at)
    r = int(np.flatnonzero(s.load_snapshot(rid, 1)["index"] == 17)[0])
    ring = _figs(at)[0]["data"][-1]
    np.testing.assert_allclose(_arr(ring["y"]), s.load_snapshot(rid, 1)["pca_emb"][r, 1:], rtol=1e-5)
    # clearing it sticks although the chart still reports its last click
    at.button(key="map_clear").click().run()
    assert not _panel(at) and _figs(at)[0]["data"][-1]["name"] != "selected"
    at.run()
    assert not _panel(at)
    # a new click selects again
    _click(at, {"0": 30, "1": 0}, x=5.0)
    assert "Selected sample 30" in _panel(at)


def test_embedding_map_says_epoch_zero_is_already_clustered(lab):
    s, ids = lab
    rid = ids["nt_xent"]
    at = _app("pages/embedding_map.py", map_run=rid, map_method="PCA", map_epoch=0)
    knn = s.snapshots(rid)[0].metrics["knn_accuracy"]
    note = next(c.value for c in at.caption if c.value.startswith("Epoch 0"))
    assert "raw digits data is already clustered by class" in note and f"{knn:.2f}" in note
    at.select_slider(key="map_epoch").set_value(4).run()
    assert not any(c.value.startswith("Epoch 0") for c in at.caption)


def test_runs_page_shows_config_characters_as_written(lab):
    s, _ = lab
    rid = s.create_run(RunConfig(**{**FAST, "name": "ρ · σ run"}), status=st.CANCELLED)
    try:
        at = _app("pages/runs.py", runs_detail=rid)
        config = next(c.value for c in at.code if '"loss": "' in c.value)
        assert '"name": "ρ · σ run"' in config
        assert "\\u00b7" not in config and "\\u03c1" not in config
    finally:
        s.delete_run(rid)


LONG_NAMES = ["Rank-N-Contrast on the swiss roll with a rather long descriptive name that goes on, first try of three",
              "SupReMix · swiss roll", "L1 regression on the swiss roll, a name long enough to wrap", "SupCon binned"]


def _lines(title: str) -> list[str]:
    import html
    import re

    return [html.unescape(re.sub(r"<[^>]+>", "", x)) for x in title.split("<br>")]


def _check_grid(fig: dict, *, axis_px: int) -> None:
    """Four panels in two rows: no title line wider than its column (at a 900 px wide chart),
    and the rows apart by what the second row's titles and the first row's axes need."""
    from ui.panel_grid import CHAR_PX, LINE_PX, TITLE_SIZE, WRAP

    lay = fig["layout"]
    titles = [a["text"] for a in lay["annotations"] if a.get("yref") == "paper" and "<b>" in a["text"]]
    assert len(titles) == 4
    assert all(a["font"]["size"] == TITLE_SIZE for a in lay["annotations"] if a["text"] in titles)
    for t in titles:
        assert all(len(x) <= WRAP[2] for x in _lines(t)), _lines(t)
        col = lay["xaxis"]["domain"][1] - lay["xaxis"]["domain"][0]
        gap = lay["xaxis2"]["domain"][0] - lay["xaxis"]["domain"][1]
        assert max(len(x) for x in _lines(t)) * CHAR_PX <= 900 * (col + gap)
    # the too-long name is cut to two lines with an ellipsis
    assert _lines(titles[0])[1].endswith("…") and len([x for x in titles[0].split("<br>") if "<b>" in x]) == 2
    plot_h = lay["height"] - lay["margin"]["t"] - lay["margin"]["b"]
    top_row, bottom_row = lay["yaxis"]["domain"], lay["yaxis3"]["domain"]
    gap_px = (top_row[0] - bottom_row[1]) * plot_h
    lines = max(len(t.split("<br>")) for t in titles)
    assert gap_px >= lines * LINE_PX + axis_px, (gap_px, lines)
    assert lay["margin"]["t"] >= lines * LINE_PX


def test_ordinality_titles_of_a_two_row_grid_do_not_overlap(tmp_path, monkeypatch):
    from tests.app.apptest import chart

    root = tmp_path / "store"
    monkeypatch.setenv("LAB_STORE", str(root))
    monkeypatch.setattr("jobs.runner.ensure_scheduler", lambda store: False)
    s = st.Store(root)
    ids = []
    for name, loss in zip(LONG_NAMES, ["rnc", "supremix", "l1", "supcon_binned"], strict=True):
        cfg = RunConfig(dataset="swiss_roll", loss=loss, n_samples=200, batch_size=64, epochs=1, hidden_dim=16,
                        rep_dim=8, proj_dim=8, threads=1, name=name, group="long names")
        rid = s.create_run(cfg, status=st.RUNNING)
        train_run(s, rid, log=lambda m: None)
        ids.append(rid)
    at = _app("pages/ordinality.py", ord_runs=ids)
    maps = chart(at, "ord_maps")
    _check_grid(maps, axis_px=0)
    assert [_lines(a["text"])[-1].split(" · ")[0] for a in maps["layout"]["annotations"]] == [
        "rnc", "supremix", "l1", "supcon_binned"]
    frag = chart(at, "ord_fragmentation")
    _check_grid(frag, axis_px=40)  # room for the x-axis tick labels and title of the first row
