"""AppTest for every page against real runs in a temporary store, asserting on content."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.apptest import APP
from tests.app.apptest import charts as _figs
from tests.app.apptest import decode as _arr
from tests.app.apptest import open_page as _app
from tests.conftest import FAST, kill_store_processes
from trainers import store as st
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
    text = " ".join(m.value for m in at.markdown)
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
    monkeypatch.setattr("trainers.runner.ensure_scheduler", lambda store: False)
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
    df = at.get("arrow_data_frame")[0] if at.get("arrow_data_frame") else None
    assert at.title[0].value.endswith("Runs")
    # the data editor holds one row per run with the final kNN accuracy
    ed = at.dataframe[0].value if at.dataframe else None
    assert ed is not None or df is not None
    table = at.dataframe[0].value
    assert set(ids.values()) <= set(table["id"])
    row = table.set_index("id").loc[ids["nt_xent"]]
    assert row["status"] == "finished" and 0 < row["kNN acc"] <= 1
    assert any('"loss": "' in c.value for c in at.code)


def test_alignment_uniformity_page_plots_each_run(lab):
    s, ids = lab
    at = _app("pages/alignment_uniformity.py", au_runs=list(ids.values()))
    assert any("\\mathcal{L}_{\\text{align}}" in x.value for x in at.get("latex")) or at.markdown
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
    # the projection worker computes the map; the page then shows it
    from trainers.projector import ProjectionWorker

    pw = ProjectionWorker(s)
    y = pw.compute(rid, 4, "emb")
    s.add_projection(rid, 4, "emb", "umap", y, 1.0)
    at = _app("pages/embedding_map.py", map_run=rid)
    fig = _figs(at)[0]
    assert fig["layout"]["title"]["text"].startswith("UMAP")
    xs = np.concatenate([_arr(t["x"]) for t in fig["data"]])
    assert np.isclose(np.sort(xs), np.sort(y[:, 0]), atol=1e-4).all()


def test_embedding_map_selection_shows_digit_image(lab):
    s, ids = lab
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["map_run"] = ids["nt_xent"]
    at.session_state["map_method"] = "PCA"
    at.run()
    at.switch_page("pages/embedding_map.py").run()
    at.session_state["map_chart"] = {"selection": {"points": [{"customdata": [17, 7]}], "point_indices": [0],
                                                   "box": [], "lasso": []}}
    at.run()
    assert any("index 17" in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) == 2  # the map and the 8x8 image
