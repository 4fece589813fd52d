"""Pages on snapshots of more than 10,000 points: a stated stratified sample drawn with WebGL,
and UMAP maps that cover only a sample (the projection worker's rows above 20,000 points)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.ordinality import local_target_gap
from jobs import projector
from jobs import store as st
from tests.app.apptest import decode as _arr
from tests.app.apptest import open_page as _app
from tests.conftest import FAST, kill_store_processes
from trainers.config import RunConfig
from trainers.train import train_run
from ui.points import MAX_SVG_POINTS, panel_notes, plot_rows


def test_panel_notes_group_panels_with_the_same_note():
    same = panel_notes([("a", "Showing x."), ("b", "Showing x.")], 2)
    assert same == ["Each map: showing x."]
    mixed = panel_notes([("a", "Showing x."), ("b", ""), ("c", "Showing y."), ("d", "Showing x.")], 4, what="plot")
    assert mixed == ["a, d: showing x.", "c: showing y."]
    assert panel_notes([("a", "")], 1) == []


def test_plot_rows_small_large_and_partly_mapped():
    y = np.repeat(np.arange(3), [6000, 4000, 2000])
    small = plot_rows(y[:5000])
    assert small.note == "" and small.scatter.__name__ == "Scatter"
    np.testing.assert_array_equal(small.rows, np.arange(5000))
    big = plot_rows(y)
    assert big.scatter.__name__ == "Scattergl" and len(big.rows) == MAX_SVG_POINTS
    assert big.note == "Showing a stratified sample of 10,000 of 12,000 points (WebGL)."
    np.testing.assert_allclose(np.bincount(y[big.rows]), [5000, 3333.3, 1666.7], atol=1)
    coords = np.zeros((12000, 2))
    coords[::3] = np.nan  # a map of 8,000 rows
    part = plot_rows(y, coords, method="UMAP map")
    assert np.isfinite(coords[part.rows]).all() and len(part.rows) == 8000
    assert part.note == "Showing 8,000 of 12,000 points; the UMAP map was computed on a stratified sample of 8,000 of 12,000 points."


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """Short runs on generated data: 25,000 points (its UMAP covers a 20,000-point sample),
    12,000 points (PCA only), and a 12,000-sample regression run."""
    root = tmp_path_factory.mktemp("big_store")
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_STORE", str(root))
    s = st.Store(root)
    ids = {}
    for n in (25_000, 12_000):
        cfg = RunConfig(**{**FAST, "dataset": "gmm_sphere", "n_samples": n, "epochs": 1, "batch_size": 512,
                           "name": f"big {n}"})
        rid = s.create_run(cfg, status=st.RUNNING)
        train_run(s, rid, log=lambda m: None)
        ids[n] = rid
    cfg = RunConfig(**{**FAST, "dataset": "swiss_roll", "loss": "l1", "n_samples": 12_000, "epochs": 1,
                       "batch_size": 512, "name": "swiss 12000"})
    ids["swiss"] = s.create_run(cfg, status=st.RUNNING)
    train_run(s, ids["swiss"], log=lambda m: None)
    snap = s.load_snapshot(ids[25_000], 1)
    assert len(snap["y"]) == 25_000
    rows = projector.map_rows(snap["y"], len(snap["y"]))
    xy = np.full((len(snap["y"]), 2), np.nan, np.float32)
    xy[rows] = np.random.default_rng(0).standard_normal((len(rows), 2))
    s.add_projection(ids[25_000], 1, "emb", "umap", xy, 1.0)
    yield s, ids, xy
    kill_store_processes(s)
    mp.undo()


def test_embedding_map_draws_a_stated_sample_with_webgl(big):
    s, ids, xy = big
    at = _app("pages/embedding_map.py", map_run=ids[25_000])  # UMAP of a 20,000-point sample
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert fig["layout"]["title"]["text"].startswith("UMAP")
    assert {t["type"] for t in fig["data"]} == {"scattergl"}
    xs = np.concatenate([_arr(t["x"]) for t in fig["data"]])
    assert len(xs) == MAX_SVG_POINTS and np.isfinite(xs).all()
    assert np.isin(xs, xy[:, 0]).all()  # drawn from the mapped rows only
    notes = [c.value for c in at.caption]
    assert ("Showing a stratified sample of 10,000 of 25,000 points (WebGL); the UMAP map was computed on a "
            "stratified sample of 20,000 of 25,000 points.") in notes

    at = _app("pages/embedding_map.py", map_run=ids[12_000], map_method="PCA")
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert fig["layout"]["title"]["text"].startswith("PCA")
    assert sum(len(_arr(t["x"])) for t in fig["data"]) == MAX_SVG_POINTS
    assert "Showing a stratified sample of 10,000 of 12,000 points (WebGL)." in [c.value for c in at.caption]


def test_compare_maps_of_large_runs_are_samples(big):
    s, ids, _ = big
    at = _app("pages/compare.py", cmp_runs=[ids[25_000], ids[12_000]], cmp_method="UMAP")
    maps = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "cmp_maps" in c.proto.id)
    assert {t["type"] for t in maps["data"]} == {"scattergl"}
    per_panel = [sum(len(_arr(t["x"])) for t in maps["data"] if t.get("xaxis", "x") == ax) for ax in ("x", "x2")]
    assert per_panel == [MAX_SVG_POINTS, MAX_SVG_POINTS]
    notes = [c.value for c in at.caption]
    assert any(n.startswith("big 25000: showing a stratified sample of 10,000 of 25,000") for n in notes)
    assert "big 12000: showing a stratified sample of 10,000 of 12,000 points (WebGL)." in notes


def test_ordinality_local_gap_is_computed_among_the_drawn_points(big):
    s, ids, _ = big
    at = _app("pages/ordinality.py", ord_runs=[ids["swiss"]], ord_colour="local gap", ord_space="rep",
              ord_method="PCA")
    fig = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "ord_maps" in c.proto.id)
    t = fig["data"][0]
    assert t["type"] == "scattergl"
    colours = _arr(t["marker"]["color"])
    assert len(colours) == MAX_SVG_POINTS and np.isfinite(colours).all()
    snap = s.load_snapshot(ids["swiss"], 1)
    rows = plot_rows(snap["y"], snap["pca_rep"]).rows
    np.testing.assert_allclose(colours, local_target_gap(snap["rep"][rows], snap["y"][rows], k=10), rtol=1e-5)
    assert any("neighbours are among the points drawn" in m.value for m in at.markdown)
