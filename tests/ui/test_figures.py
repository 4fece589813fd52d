"""The figure and table builders of the views, on small real inputs: what each trace holds
(points, names, colours, line styles, hover data) and what a page would get wrong if a
builder mixed up runs, classes, splits or epochs."""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from analysis.bounds import uniformity_optimum
from analysis.temperature import tau_trajectory
from jobs.store import RunRecord
from ui import (
    collapse_views,
    compare_views,
    embedding_map_views,
    ordinality_views,
    temperature_views,
)
from ui.colours import class_colour
from ui.figures import (
    au_paths_figure,
    epoch_line,
    sample_customdata,
    spectrum_figure,
    split_symbols,
    value_map_trace,
)
from ui.points import MapCoords, plot_rows
from ui.runs_views import log_tail, merge_selection, metrics_table
from ui.tables import alignment_uniformity_rows

HOSTILE = '<b id="inj">x</b> & co'
ESCAPED = "&lt;b id=\"inj\"&gt;x&lt;/b&gt; &amp; co"


def run(rid: str, name: str, *, group: str = "", **config) -> RunRecord:
    return RunRecord(id=rid, name=name, kind="train", group=group, created=0.0, config=config, status="finished",
                     reason="", pid=None, pid_start=None, boot_id=None, heartbeat=None, started=None, finished=None,
                     seconds=1.0, epoch=3, step=30, total_epochs=3, cancel_requested=False, resume=False)


def spec(fig) -> dict:
    """The figure as the browser gets it (numeric arrays decoded)."""
    return json.loads(fig.to_json())


def values(v) -> np.ndarray:
    """A trace's data array: Plotly writes numeric arrays as base64 ("bdata") with a dtype."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
        return a.reshape([int(x) for x in str(v["shape"]).split(",")]) if "shape" in v else a
    return np.asarray(v)


def frame(epochs, **cols) -> pd.DataFrame:
    return pd.DataFrame({"epoch": epochs, **cols})


A, B = run("a", HOSTILE, loss="nt_xent", dataset="digits"), run("b", "plain", loss="supcon", dataset="digits")
COLOURS = {"a": "#1f77b4", "b": "#d62728"}


# --------------------------------------------------------------------------- shared figures


def test_split_symbols_and_customdata():
    np.testing.assert_array_equal(split_symbols(np.array([True, False, True])), ["x", "circle", "x"])
    cd = sample_customdata(np.array([7, 8]), np.array([0.5, 1.5]))
    np.testing.assert_array_equal(cd, [[7, 0.5], [8, 1.5]])


@pytest.mark.parametrize("groups", [False, True])
def test_spectrum_figure_one_line_per_run_ranked_from_one(groups):
    spectra = {"a": np.array([1.0, 0.1, 0.01]), "b": np.array([2.0, 1e-12])}
    fig = spec(spectrum_figure([A, B], spectra, {"a": 3, "b": 1}, COLOURS, title="Covariance spectrum · x",
                               legend_groups=groups))
    (ta, tb) = fig["data"]
    np.testing.assert_array_equal(values(ta["x"]), [1, 2, 3])
    np.testing.assert_array_equal(values(tb["x"]), [1, 2])
    np.testing.assert_allclose(values(tb["y"]), [2.0, 1e-12])
    assert ta["name"] == f"{ESCAPED} (epoch 3)" and tb["name"] == "plain (epoch 1)"
    assert [t["line"]["color"] for t in fig["data"]] == ["#1f77b4", "#d62728"]
    assert [t.get("legendgroup") for t in fig["data"]] == (["a", "b"] if groups else [None, None])
    assert fig["layout"]["yaxis"]["type"] == "log" and fig["layout"]["yaxis"]["dtick"] == 1
    assert fig["layout"]["title"]["text"] == "Covariance spectrum · x"


AU = {
    "a": frame([0, 1, 2], alignment=[1.2, 0.8, 0.5], uniformity=[-1.0, -2.5, -3.1], n_eval=[100, 100, 100]),
    "b": frame([0, 2, 4], alignment=[1.0, 0.6, 0.3], uniformity=[-0.5, -2.0, -3.5], n_eval=[400, 400, 400]),
    "c": frame([0, 1], rankme=[3.0, 4.0]),  # a run whose snapshots have no alignment or uniformity
}


def test_au_paths_figure_of_the_view_writes_epochs_and_skips_runs_without_the_metrics():
    c = run("c", "no au", loss="l1")
    fig = spec(au_paths_figure([A, B, c], AU, {**COLOURS, "c": "#000000"}))
    assert [t["name"] for t in fig["data"]] == [ESCAPED, "plain"]
    ta = fig["data"][0]
    np.testing.assert_allclose(values(ta["x"]), [-1.0, -2.5, -3.1])
    np.testing.assert_allclose(values(ta["y"]), [1.2, 0.8, 0.5])
    assert ta["text"] == ["0", "1", "2"] and ta["mode"] == "lines+markers+text"
    assert ta["marker"]["color"] == ta["line"]["color"] == "#1f77b4"
    # the optimum of the largest held-out split (400, not 100), named on the view's own figure
    (line,) = fig["layout"]["shapes"]
    assert line["x0"] == pytest.approx(uniformity_optimum(400)) != pytest.approx(uniformity_optimum(100))
    assert "uniformity optimum" in fig["layout"]["annotations"][0]["text"]
    assert fig["layout"]["showlegend"] is True and fig["layout"]["height"] == 520


def test_au_paths_figure_as_a_panel_stops_at_the_chosen_epoch():
    fig = spec(au_paths_figure([A, B], AU, COLOURS, labelled=False, up_to=1))
    assert [values(t["customdata"]).tolist() for t in fig["data"]] == [[0, 1], [0]]
    assert all(t["mode"] == "lines+markers" and "text" not in t for t in fig["data"])
    assert [t["legendgroup"] for t in fig["data"]] == ["a", "b"]
    assert "annotations" not in fig["layout"] and fig["layout"]["title"]["text"] == "Alignment–uniformity over epochs"
    # an epoch before a run's first snapshot still shows that snapshot
    late = {"a": frame([2, 3], alignment=[0.5, 0.4], uniformity=[-2.0, -3.0])}
    assert values(spec(au_paths_figure([A], late, COLOURS, labelled=False, up_to=0))["data"][0]["customdata"]).tolist() == [2]


def test_epoch_line_styles():
    df = frame([0, 5], rankme=[2.0, 7.0])
    solid = spec(go.Figure(epoch_line(df, "rankme", name=HOSTILE, colour="#123456")))["data"][0]
    assert solid["mode"] == "lines+markers" and solid["line"] == {"color": "#123456"} and solid["name"] == ESCAPED
    dotted = epoch_line(df, "rankme", name="x", colour="#123456", dotted=True, markers=False, group="g",
                        showlegend=False)
    assert dotted.mode == "lines" and dotted.line.dash == "dot" and dotted.legendgroup == "g" and dotted.showlegend is False
    np.testing.assert_array_equal(dotted.x, [0, 5])
    np.testing.assert_array_equal(dotted.y, [2.0, 7.0])


def test_value_map_trace_draws_the_chosen_rows_on_the_shared_colour_axis():
    arrays = {"y": np.array([0.1, 0.2, 0.3, 0.4]), "index": np.array([10, 11, 12, 13]),
              "is_test": np.array([False, True, False, True])}
    coords = np.array([[0.0, 1.0], [np.nan, np.nan], [2.0, 3.0], [4.0, 5.0]])
    pts = plot_rows(arrays["y"], coords)
    gap = np.array([0.9, 0.8, 0.7, 0.6])
    t = value_map_trace(pts, coords, arrays, gap, name=HOSTILE, hovertemplate="h")
    np.testing.assert_array_equal(t.x, [0.0, 2.0, 4.0])  # the unmapped row is left out
    np.testing.assert_array_equal(t.marker.color, [0.9, 0.7, 0.6])
    assert list(t.marker.symbol) == ["circle", "circle", "x"] and t.marker.coloraxis == "coloraxis"
    np.testing.assert_allclose(t.customdata, [[10, 0.1, 0.9], [12, 0.3, 0.7], [13, 0.4, 0.6]])
    assert t.name == ESCAPED and t.showlegend is False
    short = value_map_trace(pts, coords, arrays, arrays["y"], name="r", hovertemplate="h", hover_value=False)
    assert np.asarray(short.customdata).shape == (3, 2)


def test_alignment_uniformity_rows_take_each_runs_last_snapshot():
    a = AU["a"].assign(knn_accuracy=[0.1, 0.5, 0.7])
    rows = alignment_uniformity_rows([A, B, run("c", "c")], {"a": a, "b": AU["b"], "c": AU["c"]})
    assert [r["run"] for r in rows] == [HOSTILE, "plain"]  # a table shows text as typed
    assert rows[0] == {"run": HOSTILE, "epoch": 2, "alignment": 0.5, "uniformity": -3.1, "kNN acc": 0.7}
    assert rows[1]["epoch"] == 4 and rows[1]["kNN acc"] is None


# --------------------------------------------------------------------------- Dimensional Collapse


@pytest.mark.parametrize("space", ["emb", "rep"])
def test_rank_figure_reads_the_chosen_space(space):
    frames = {"a": frame([0, 1], rankme=[3.0, 5.0], rankme_emb=[2.0, 4.0], erank_cov_emb=[1.5, 2.5]),
              "b": pd.DataFrame()}
    fig = spec(collapse_views.rank_figure([A, B], frames, COLOURS, space))
    names = [t["name"] for t in fig["data"]]
    want = [5.0, 4.0][space == "emb"]
    assert values(fig["data"][0]["y"])[-1] == want
    if space == "emb":  # only the embedding has the covariance rank in these snapshots
        assert names == [f"{ESCAPED} · RankMe", f"{ESCAPED} · effective rank (covariance)"]
        assert fig["data"][1]["line"] == {"dash": "dot", "color": "#1f77b4"} and fig["data"][1]["mode"] == "lines"
    else:
        assert names == [f"{ESCAPED} · RankMe"]


# --------------------------------------------------------------------------- Compare


def _snapshot(y, coords, is_test=None):
    n = len(y)
    return {"y": np.asarray(y), "index": np.arange(100, 100 + n), "is_test": np.zeros(n, bool) if is_test is None
            else np.asarray(is_test), "pca_emb": np.asarray(coords, float)}


def test_compare_maps_share_one_class_palette_and_one_legend():
    arrays = {"a": _snapshot([0, 1, 1], [[0, 0], [1, 1], [2, 2]], [False, True, False]),
              "b": _snapshot([1, 2, 2], [[5, 5], [6, 6], [7, 7]])}
    maps = {"a": MapCoords(arrays["a"]["pca_emb"], "UMAP"), "b": MapCoords(arrays["b"]["pca_emb"], "PCA")}
    out = compare_views.maps_figure([A, B], arrays, maps, {"a": 3, "b": 4}, method="UMAP", classification=True,
                                    same_axes=True)
    fig = spec(out.figure)
    assert out.fell_back and out.notes == []
    assert len(fig["data"]) == 6  # the classes of both runs (0, 1, 2) in each panel
    assert [t["name"] for t in fig["data"]] == ["0", "1", "2"] * 2
    assert [t["showlegend"] for t in fig["data"]] == [True] * 3 + [False] * 3
    assert [t["marker"]["color"] for t in fig["data"][:3]] == [class_colour(k, 3) for k in range(3)]
    assert [t["marker"]["color"] for t in fig["data"][3:]] == [class_colour(k, 3) for k in range(3)]
    np.testing.assert_allclose(values(fig["data"][1]["x"]), [1, 2])  # class 1 of run a
    assert list(fig["data"][1]["marker"]["symbol"]) == ["x", "circle"]
    assert fig["data"][3]["xaxis"] == "x2" and values(fig["data"][3]["x"]).size == 0
    assert fig["data"][0]["hovertemplate"].endswith(f"<extra>{ESCAPED}</extra>")
    titles = [a["text"] for a in fig["layout"]["annotations"]]
    assert "epoch 3" in titles[0] and "PCA" not in titles[0] and "supcon · epoch 4 · PCA" in titles[1]
    assert fig["layout"]["xaxis2"]["matches"] == "x" and fig["layout"]["xaxis"]["showticklabels"] is True


def test_compare_maps_of_regression_runs_share_one_colour_scale():
    arrays = {"a": _snapshot([0.5, 1.5], [[0, 0], [1, 1]]), "b": _snapshot([2.5, 3.5], [[0, 1], [1, 0]])}
    maps = {k: MapCoords(v["pca_emb"], "PCA") for k, v in arrays.items()}
    out = compare_views.maps_figure([A, B], arrays, maps, {"a": 1, "b": 1}, method="PCA", classification=False,
                                    same_axes=False)
    fig = spec(out.figure)
    assert not out.fell_back and len(fig["data"]) == 2
    np.testing.assert_allclose(values(fig["data"][1]["marker"]["color"]), [2.5, 3.5])
    assert {t["marker"]["coloraxis"] for t in fig["data"]} == {"coloraxis"}
    assert fig["layout"]["coloraxis"]["colorbar"]["title"]["text"] == "target"
    assert values(fig["data"][0]["customdata"]).shape == (2, 2)
    assert fig["data"][0]["name"] == ESCAPED and fig["layout"]["xaxis"]["showticklabels"] is False
    assert "matches" not in fig["layout"]["xaxis2"]


def test_compare_setting_columns_show_a_losss_own_temperature():
    runs = [run("a", "a", loss="nt_xent", temperature=None, epochs=4, lr=0.001),
            run("b", "b", loss="supcon", temperature=0.2, epochs=4, lr=0.0005)]
    cols = compare_views.setting_columns(runs)
    assert cols == {"loss": ["nt_xent", "supcon"], "temperature": ["0.5", "0.2"], "lr": ["0.001", "0.0005"]}
    assert compare_views.dataset_tasks([run("a", "a", dataset="digits"), run("b", "b", dataset="swiss_roll"),
                                        run("c", "c", dataset="nope")]) == {"classification", "regression"}


# --------------------------------------------------------------------------- Embedding Map


def _map_arrays():
    return {"y": np.array([0, 1, 0, 1]), "index": np.array([20, 21, 22, 23]),
            "is_test": np.array([False, False, True, True]), "ps_tau": np.array([0.2, 0.3, np.nan, np.nan])}


def test_embedding_map_by_class_splits_held_out_samples_and_rings_the_selection():
    arr = _map_arrays()
    coords = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    pts = plot_rows(arr["y"], coords)
    row = embedding_map_views.sample_row(arr, 22)
    assert row == 2 and embedding_map_views.sample_row(arr, 99) is None
    fig = spec(embedding_map_views.map_figure(arr, coords, pts, colour=embedding_map_views.LABEL, shown="PCA",
                                              space="rep", run_name=HOSTILE, epoch=2, selected=row))
    assert [t["name"] for t in fig["data"]] == ["0", "0 (held-out)", "1", "1 (held-out)", "selected"]
    assert [t["showlegend"] for t in fig["data"][:4]] == [True, False, True, False]
    assert [t["marker"]["symbol"] for t in fig["data"][:4]] == ["circle", "x", "circle", "x"]
    assert fig["data"][0]["marker"]["color"] == fig["data"][1]["marker"]["color"] == class_colour(0, 2)
    ring = fig["data"][-1]
    assert values(ring["x"]).tolist() == [2.0] and values(ring["customdata"]).ravel().tolist() == [22, 0]
    assert fig["layout"]["title"]["text"] == f"PCA of the representation · {ESCAPED} · epoch 2"
    # a selected sample outside the map (a UMAP of a sample) is not ringed
    coords[2] = np.nan
    fig = spec(embedding_map_views.map_figure(arr, coords, plot_rows(arr["y"], coords), colour=embedding_map_views.LABEL,
                                              shown="UMAP", space="emb", run_name="r", epoch=2, selected=row))
    assert "selected" not in [t["name"] for t in fig["data"]]


def test_embedding_map_coloured_by_a_per_sample_value():
    arr = _map_arrays()
    assert embedding_map_views.colour_options(arr) == ["label / target", "tau"]
    assert embedding_map_views.shows_classes(arr["y"], "label / target")
    assert not embedding_map_views.shows_classes(arr["y"], "tau")
    assert not embedding_map_views.shows_classes(np.array([0.5, 1.5]), "label / target")
    coords = np.arange(8, dtype=float).reshape(4, 2)
    fig = spec(embedding_map_views.map_figure(arr, coords, plot_rows(arr["y"], coords), colour="tau", shown="UMAP",
                                              space="emb", run_name="r", epoch=1))
    (t,) = fig["data"]
    np.testing.assert_allclose(values(t["marker"]["color"])[:2], [0.2, 0.3])
    assert t["marker"]["colorscale"][0][1] == "#440154"  # Viridis starts dark purple
    assert t["marker"]["colorbar"]["title"]["text"] == "tau" and list(t["marker"]["symbol"]) == ["circle", "circle", "x", "x"]
    assert values(t["customdata"]).shape == (4, 3) and "<br>tau %{customdata[2]" in t["hovertemplate"]


def test_embedding_map_sample_line_and_image():
    arr = _map_arrays()
    coords = np.array([[0.5, 1.25], [1.0, 1.0], [np.nan, np.nan], [3.0, 3.0]])
    line = embedding_map_views.sample_line(arr, coords, 0, shown="UMAP", classes=True, where="run **r**, epoch 1")
    assert line == "**Selected sample 20** · label 0 · training split · run **r**, epoch 1 · at (0.50, 1.25) on this UMAP map"
    off = embedding_map_views.sample_line(arr, coords, 2, shown="UMAP", classes=False, where="w")
    assert "label/target 0 · held-out split" in off and "not on this UMAP map" in off
    reg = {**arr, "y": np.array([0.123456, 1.0, 2.0, 3.0])}
    assert "label/target 0.123 ·" in embedding_map_views.sample_line(reg, coords, 0, shown="PCA", classes=False,
                                                                      where="w")
    image = np.arange(64, dtype=float).reshape(8, 8)
    fig = spec(embedding_map_views.sample_image_figure(image))
    np.testing.assert_allclose(values(fig["data"][0]["z"]).reshape(8, 8), image)
    assert fig["layout"]["width"] == 220 and fig["layout"]["xaxis"]["visible"] is False


# --------------------------------------------------------------------------- Ordinality


def test_ordinality_maps_coloured_by_target_or_gap():
    arrays = _snapshot([0.1, 0.2, 0.3], [[0, 0], [1, 1], [2, 2]], [False, False, True])
    gaps = np.array([0.5, np.nan, 0.25])
    panels = [ordinality_views.Panel(A, arrays, MapCoords(arrays["pca_emb"], "PCA"), 4, arrays["y"]),
              ordinality_views.Panel(B, arrays, MapCoords(arrays["pca_emb"], "UMAP"), 2, gaps)]
    target = spec(ordinality_views.maps_figure(panels, method="UMAP", colour=ordinality_views.TARGET).figure)
    titles = [a["text"] for a in target["layout"]["annotations"]]
    assert "nt_xent · epoch 4 · PCA" in titles[0] and titles[1].endswith("supcon · epoch 2")
    assert target["layout"]["coloraxis"]["colorbar"]["title"]["text"] == "target"
    assert "local gap" not in target["data"][0]["hovertemplate"]
    gap = spec(ordinality_views.maps_figure(panels, method="UMAP", colour=ordinality_views.GAP).figure)
    assert gap["layout"]["coloraxis"]["colorbar"]["title"]["text"] == "local gap"
    assert gap["layout"]["coloraxis"]["colorscale"][-1][1] == "#fcffa4"  # Inferno ends pale yellow
    np.testing.assert_allclose(values(gap["data"][1]["marker"]["color"]), gaps)
    assert "<br>local gap %{customdata[2]:.2f}" in gap["data"][0]["hovertemplate"]
    assert gap["data"][1]["xaxis"] == "x2" and gap["data"][0]["name"] == ESCAPED


def test_ordinality_over_epochs_puts_rho_left_and_the_gap_right():
    frames = {"a": frame([0, 1], rank_correlation=[0.1, 0.6], rank_correlation_emb=[0.0, 0.5], neighbour_gap=[0.9, 0.4]),
              "b": frame([0, 1], rankme=[1.0, 2.0])}  # no rank correlation: left out
    fig = spec(ordinality_views.over_epochs_figure([A, B], frames, COLOURS))
    assert [t["name"] for t in fig["data"]] == [f"{ESCAPED} · representation", f"{ESCAPED} · embedding",
                                                f"{ESCAPED} · gap"]
    assert [t["xaxis"] for t in fig["data"]] == ["x", "x", "x2"]
    assert fig["data"][1]["line"]["dash"] == "dot" and fig["data"][2]["showlegend"] is False
    np.testing.assert_allclose(values(fig["data"][2]["y"]), [0.9, 0.4])
    assert {t["legendgroup"] for t in fig["data"]} == {"a"}


def test_ordinality_fragmentation_plots_targets_by_rank():
    pcs = [ordinality_views.AlongPc(np.array([0.1, 0.3, 0.2]), 0.5, 0.25),
           ordinality_views.AlongPc(np.array([1.0, 2.0]), 1.0, 0.9)]
    out = ordinality_views.fragmentation_figure([A, B], pcs, COLOURS)
    fig = spec(out.figure)
    assert values(fig["data"][0]["x"]).tolist() == [0, 1, 2]
    np.testing.assert_allclose(values(fig["data"][0]["y"]), [0.1, 0.3, 0.2])
    assert [t["marker"]["color"] for t in fig["data"]] == ["#1f77b4", "#d62728"]
    titles = [a["text"] for a in fig["layout"]["annotations"]]
    assert "ρ(PC1, y) = 0.50 · PC1 holds 25% of the" in titles[0] and "holds 90%" in titles[1]
    assert out.notes == []


def test_ordinality_opens_the_newest_group_else_the_newest_run_of_each_loss():
    grouped = [run("n", "n", group="g", dataset="swiss_roll", loss="rnc"),
               run("m", "m", group="g", dataset="swiss_roll", loss="l1"),
               run("o", "o", group="h", dataset="swiss_roll", loss="rnc")]
    assert ordinality_views.newest_peers(grouped) == ["n", "m"]
    alone = [run("n", "n", dataset="swiss_roll", loss="rnc"), run("m", "m", dataset="diabetes", loss="l1"),
             run("o", "o", dataset="swiss_roll", loss="rnc"), run("p", "p", dataset="swiss_roll", loss="l1")]
    assert ordinality_views.newest_peers(alone) == ["n", "p"]
    assert ordinality_views.is_regression(alone[0]) and not ordinality_views.is_regression(A)


# --------------------------------------------------------------------------- Temperature


def _tau_arrays():
    # class 0: 4 training samples, class 1: 2, class 2: 1; held-out samples have no temperature
    y = np.array([0, 0, 0, 0, 1, 1, 2, 0, 1])
    tau = np.array([0.5, 0.6, 0.7, 0.8, 0.3, 0.35, 0.1, np.nan, np.nan])
    is_test = np.isnan(tau)
    return {"ps_tau": tau, "y": y, "is_test": is_test, "index": np.arange(50, 59)}


def test_tau_snapshot_orders_classes_by_frequency():
    t = temperature_views.tau_snapshot(_tau_arrays())
    assert t.class_labels == ["0 (n=4)", "1 (n=2)", "2 (n=1)"] and t.classes == (0, 1, 2)
    assert t.frequency == {0: 4, 1: 2, 2: 1}
    assert t.summary["n"] == 7 and t.summary["max"] == pytest.approx(0.8)
    assert t.rho > 0.8  # frequent classes have the larger temperatures here
    assert temperature_views.signed(t.rho).startswith("+") and temperature_views.signed(float("nan")) == "–"


def test_temperature_distribution_figures():
    t = temperature_views.tau_snapshot(_tau_arrays())
    hist = spec(temperature_views.histogram_figure(t, tau0=0.5, epoch=3))
    np.testing.assert_allclose(values(hist["data"][0]["x"]), [0.5, 0.6, 0.7, 0.8, 0.3, 0.35, 0.1])  # training only
    assert hist["layout"]["shapes"][0]["x0"] == 0.5 and hist["layout"]["title"]["text"] == "τᵢ of 7 training samples · epoch 3"
    box = spec(temperature_views.class_box_figure(t, tau0=0.5))
    assert [b["name"] for b in box["data"]] == t.class_labels
    np.testing.assert_allclose(values(box["data"][1]["y"]), [0.3, 0.35])
    assert box["layout"]["shapes"][0]["y0"] == 0.5


def test_temperature_map_greys_the_held_out_samples():
    arr = _tau_arrays()
    t = temperature_views.tau_snapshot(arr)
    coords = np.c_[np.arange(9.0), np.arange(9.0)]
    coords[0] = np.nan  # not on the map
    fig = spec(temperature_views.tau_map_figure(t, coords, plot_rows(t.y, coords), shown="UMAP", run_name=HOSTILE,
                                                epoch=2))
    held, train = fig["data"]
    assert held["name"] == "held-out (no τ)" and values(held["x"]).tolist() == [7.0, 8.0]
    assert held["marker"]["color"] == "lightgray"
    np.testing.assert_allclose(values(train["marker"]["color"]), [0.6, 0.7, 0.8, 0.3, 0.35, 0.1])
    assert values(train["customdata"])[0].tolist() == [51, 0, 0.6]
    assert fig["layout"]["title"]["text"] == f"UMAP of the embedding · {ESCAPED} · epoch 2"


def test_temperature_extremes_figure_and_tables():
    t = temperature_views.tau_snapshot(_tau_arrays())
    images = np.arange(60 * 4, dtype=float).reshape(60, 2, 2)
    low, high = np.array([6, 4]), np.array([3])
    fig = spec(temperature_views.extremes_figure(t, images, low, high))
    assert [a["text"] for a in fig["layout"]["annotations"]] == ["τ 0.10 · 2", "τ 0.30 · 1", "τ 0.80 · 0"]
    assert [tr["name"] for tr in fig["data"]] == ["index 56", "index 54", "index 53"]
    np.testing.assert_allclose(values(fig["data"][0]["z"]).reshape(2, 2), images[56])
    assert fig["data"][2]["yaxis"] == "y3"  # the highest on the second row
    table = temperature_views.extremes_table(t, low)
    assert table.to_dict("list") == {"index": [56, 54], "class": [2, 1], "class frequency": [1, 2], "τᵢ": [0.1, 0.3]}


def test_temperature_evolution_draws_a_band_and_a_mean_per_group():
    arr = _tau_arrays()
    first = np.where(arr["is_test"], np.nan, 0.5)
    traj = tau_trajectory([0, 2], [first, arr["ps_tau"]], arr["y"])
    fig = spec(temperature_views.evolution_figure(traj))
    assert len(fig["data"]) == 6  # three frequency groups, a band and a mean each
    band, mean = fig["data"][0], fig["data"][1]
    assert values(band["x"]).tolist() == [0, 2, 2, 0] and band["fill"] == "toself" and band["showlegend"] is False
    assert mean["name"] == "frequent classes (0)" and values(mean["y"]).tolist() == pytest.approx([0.5, 0.65])
    assert mean["line"]["color"] == band["fillcolor"] == temperature_views.GROUP_COLOURS[0]


def test_temperature_next_to_a_global_tau():
    iso = run("i", HOSTILE, loss="isogclr", dataset="gmm_sphere", imbalance_ratio=10.0, seed=0)
    ref = run("r", "sog <i>", loss="sogclr", dataset="gmm_sphere", imbalance_ratio=10.0, temperature=0.3)
    t = temperature_views.tau_snapshot(_tau_arrays())
    table = temperature_views.side_by_side_table(iso, ref, t, epoch=3, metrics={"knn_accuracy": 0.81234},
                                                 ref_epoch=2, ref_metrics={"knn_accuracy": 0.7, "rankme": 9.0})
    assert list(table.columns) == ["", f"iSogCLR · {HOSTILE}", "global τ · sog <i>"]
    rows = {r[0]: r[1:] for r in table.itertuples(index=False)}
    assert rows["temperature"][1] == "global: 0.3" and rows["epoch"] == ("3", "2")
    assert rows["kNN accuracy"] == ("0.812", "0.700") and rows["RankMe"] == ("–", "9.000")
    fig = spec(temperature_views.class_accuracy_figure(t, np.array([0.9, 0.5, 0.2]), np.array([0.8, 0.4, 0.0]), iso, ref,
                                                       {"i": "#111111", "r": "#222222"}))
    assert [b["name"] for b in fig["data"]] == [f"iSogCLR · {ESCAPED}", "global τ · sog &lt;i&gt;"]
    assert [b["marker"]["color"] for b in fig["data"]] == ["#111111", "#222222"]
    assert fig["data"][0]["x"] == t.class_labels
    np.testing.assert_allclose(values(fig["data"][1]["y"]), [0.8, 0.4, 0.0])


def test_temperature_picks_runs_and_orders_the_closest_first():
    iso = run("i", "i", loss="isogclr", dataset="gmm_sphere", imbalance_ratio=10.0, seed=0, group="g")
    assert temperature_views.learns_tau(iso) and not temperature_views.global_tau(iso)
    other_data = run("1", "1", loss="sogclr", dataset="digits", imbalance_ratio=10.0, seed=0, group="g")
    nt = run("2", "2", loss="nt_xent", dataset="gmm_sphere", imbalance_ratio=10.0, seed=0, group="g")
    sog = run("3", "3", loss="sogclr", dataset="gmm_sphere", imbalance_ratio=10.0, seed=1, group="h")
    twin = run("4", "4", loss="sogclr", dataset="gmm_sphere", imbalance_ratio=10.0, seed=0, group="g")
    assert [r.id for r in temperature_views.closest_first([other_data, nt, sog, twin], iso)] == ["4", "3", "2", "1"]
    assert temperature_views.global_tau(nt) and not temperature_views.global_tau(run("5", "5", loss="rnc",
                                                                                      dataset="swiss_roll"))


# --------------------------------------------------------------------------- Runs


def test_runs_selection_keeps_its_order_and_the_hidden_runs():
    before = ["c", "a", "x"]  # "x" is hidden by the group filter
    assert merge_selection(before, ["a", "b", "c"], ["a", "b", "c"]) == ["c", "a", "b", "x"]
    assert merge_selection(before, ["a"], ["a", "b", "c"]) == ["a", "x"]


def test_runs_metrics_table_and_log_tail(tmp_path):
    assert metrics_table({"knn_accuracy": 0.912345, "epoch": 4}) == {"metric": ["knn_accuracy", "epoch"],
                                                                     "value": ["0.9123", "4"]}
    log = tmp_path / "worker.log"
    log.write_bytes(b"".join(f"line {i}\n".encode() for i in range(40)) + b"bad \xff byte\n")
    tail = log_tail(log)
    assert tail.splitlines()[0] == "line 11" and tail.splitlines()[-1] == "bad \ufffd byte"
    assert len(tail.splitlines()) == 30
    log.write_text("")
    assert log_tail(log) == "(empty)"


def test_spectrum_marks_the_rank_a_small_sample_allows():
    """89 held-out samples in 128 dimensions: rank at most 88, marked; 500 samples: no mark."""
    from types import SimpleNamespace

    from ui.figures import sample_rank_limit, spectrum_figure

    runs = [SimpleNamespace(id="a", name="small"), SimpleNamespace(id="b", name="large")]
    lam = np.r_[np.linspace(1, 0.1, 88), np.full(40, 1e-12)]
    fig = spectrum_figure(runs, {"a": lam, "b": lam}, {"a": 4, "b": 4}, {"a": "red", "b": "blue"}, title="t",
                          samples={"a": 89, "b": 500})
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert [round(s.x0, 1) for s in lines] == [88.5]
    assert sample_rank_limit(128, 89) == 88 and sample_rank_limit(128, 500) is None and sample_rank_limit(64, None) is None


def test_compare_maps_colour_each_panel_by_its_own_task():
    """A classification run beside a regression run: classes keep their palette, targets their scale."""
    from types import SimpleNamespace

    from ui.compare_views import maps_figure
    from ui.points import MapCoords

    rng = np.random.default_rng(0)
    cls = SimpleNamespace(id="c", name="digits run", config={"loss": "nt_xent"}, task="classification")
    reg = SimpleNamespace(id="r", name="roll run", config={"loss": "rnc"}, task="regression")
    arrays = {
        "c": {"y": np.repeat([0, 1, 2], 10), "index": np.arange(30), "is_test": np.zeros(30, bool)},
        "r": {"y": rng.uniform(-90, 300, 30).astype(np.float32), "index": np.arange(30), "is_test": np.zeros(30, bool)},
    }
    coords = {k: MapCoords(rng.normal(size=(30, 2)), "PCA") for k in arrays}
    maps = maps_figure([cls, reg], arrays, coords, {"c": 4, "r": 4}, method="PCA", classification=False, same_axes=False)
    class_traces = [t for t in maps.figure.data if t.legendgroup in ("0", "1", "2")]
    assert sorted(t.name for t in class_traces) == ["0", "1", "2"]  # the classification panel: one trace per class
    (scale,) = [t for t in maps.figure.data if t.legendgroup not in ("0", "1", "2")]
    assert np.allclose(np.sort(scale.marker.color), np.sort(arrays["r"]["y"]))  # the regression panel: its targets
