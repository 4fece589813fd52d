"""AppTest for the Temperature, Ordinality and Compare pages against real short runs."""

from __future__ import annotations

import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from analysis.ordinality import local_target_gap
from analysis.temperature import class_frequencies, extreme_samples
from jobs import store as st
from tests.app.apptest import APP
from tests.app.apptest import chart as _fig
from tests.app.apptest import decode as _arr
from tests.app.apptest import open_page as _app
from tests.conftest import kill_store_processes
from trainers.config import RunConfig
from trainers.train import train_run

SMALL = dict(epochs=3, hidden_dim=64, rep_dim=32, proj_dim=16, threads=1)
LONG_TAIL = dict(dataset="gmm_sphere", imbalance_ratio=10.0, n_samples=1000, n_classes=6, batch_size=128)
REG_GROUP = "regression peers · test"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """iSogCLR and SogCLR on a 10x long-tailed sphere mixture, iSogCLR on long-tailed digits
    (images), and three regression peers on a swiss roll launched as one group."""
    root = tmp_path_factory.mktemp("methods_store")
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_STORE", str(root))
    mp.setattr("jobs.runner.ensure_scheduler", lambda store: False)  # no background processes
    s = st.Store(root)
    configs = {
        "sog": dict(LONG_TAIL, loss="sogclr", name="sogclr long tail"),
        "iso": dict(LONG_TAIL, loss="isogclr", name="isogclr long tail"),
        "iso_digits": dict(dataset="digits", loss="isogclr", imbalance_ratio=10.0, batch_size=128, epochs=2,
                           name="isogclr digits"),
        "supremix": dict(dataset="swiss_roll", loss="supremix", n_samples=500, batch_size=64, name="SupReMix",
                         group=REG_GROUP),
        "rnc": dict(dataset="swiss_roll", loss="rnc", n_samples=500, batch_size=64, name="RnC", group=REG_GROUP),
        "l1": dict(dataset="swiss_roll", loss="l1", n_samples=500, batch_size=64, name="L1", group=REG_GROUP),
    }
    ids = {}
    for k, c in configs.items():
        rid = s.create_run(RunConfig(**{**SMALL, **c}), status=st.RUNNING)
        train_run(s, rid, log=lambda m: None)
        ids[k] = rid
    yield s, ids
    kill_store_processes(s)
    mp.undo()


def _title(fig: dict, axis: str = "xaxis") -> str:
    return fig["layout"][axis]["title"]["text"]


def _frame(at, has: str, nth: int = 0):
    """The nth table with a column named ``has`` (st.dataframe without a selection has no key in AppTest)."""
    frames = [d.value for d in at.dataframe if has in d.value.columns]
    assert len(frames) > nth, f"no table with a column {has!r}: {[list(d.value.columns) for d in at.dataframe]}"
    return frames[nth]


# --- empty store ---------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["pages/temperature.py", "pages/ordinality.py", "pages/compare.py"])
def test_empty_store_says_what_to_do(page, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STORE", str(tmp_path / "empty"))
    monkeypatch.setattr("jobs.runner.ensure_scheduler", lambda store: False)
    at = _app(page)
    assert at.info and any("Train" in i.value for i in at.info)
    assert not at.get("plotly_chart")


# --- Temperature ---------------------------------------------------------------------------


def test_temperature_page_long_tail(lab):
    s, ids = lab
    at = _app("pages/temperature.py", temp_run=ids["iso"])
    assert at.title[0].value == "Temperature"
    # only runs that learn a temperature per sample are offered
    assert set(at.selectbox(key="temp_run").options) == {f"isogclr long tail · {ids['iso'][-6:]}",
                                                         f"isogclr digits · {ids['iso_digits'][-6:]}"}
    arr = s.load_snapshot(ids["iso"], 3)
    train = ~arr["is_test"]
    tau = arr["ps_tau"]

    hist = _fig(at, "temp_hist")
    assert hist["data"][0]["type"] == "histogram"
    np.testing.assert_allclose(_arr(hist["data"][0]["x"]), tau[train], rtol=1e-6)
    assert _title(hist) == "learned temperature τᵢ"

    # one box per class, most frequent class first, frequency on the axis labels
    box = _fig(at, "temp_box")
    classes, counts = class_frequencies(arr["y"][train])
    assert [t["type"] for t in box["data"]] == ["box"] * len(classes) == ["box"] * 6
    assert [t["name"] for t in box["data"]] == [f"{c} (n={n})" for c, n in zip(classes, counts, strict=True)]
    shown_counts = [int(re.search(r"n=(\d+)", t["name"]).group(1)) for t in box["data"]]
    assert shown_counts == sorted(shown_counts, reverse=True) and shown_counts[0] >= 5 * shown_counts[-1]
    for t, c in zip(box["data"], classes, strict=True):
        np.testing.assert_allclose(np.sort(_arr(t["y"])), np.sort(tau[train & (arr["y"] == c)]), rtol=1e-6)

    # one part of the view at a time: the map is not drawn with the distribution
    assert "temp_map" not in str([c.proto.id for c in at.get("plotly_chart")])

    # the map: training rows coloured by tau, held-out rows grey
    at.session_state["temp_section"] = "map"
    at.run()
    fmap = _fig(at, "temp_map")
    names = [t["name"] for t in fmap["data"]]
    assert names == ["held-out (no τ)", "training samples"]
    assert len(_arr(fmap["data"][1]["x"])) == train.sum() and len(_arr(fmap["data"][0]["x"])) == (~train).sum()
    np.testing.assert_allclose(_arr(fmap["data"][1]["marker"]["color"]), tau[train], rtol=1e-6)
    assert fmap["layout"]["title"]["text"].startswith("PCA")

    # tau per frequency group over the snapshot epochs
    at.session_state["temp_section"] = "evolution"
    at.run()
    evo = _fig(at, "temp_evolution")
    means = [t for t in evo["data"] if t.get("mode") == "lines+markers"]
    assert [t["name"].split(" classes")[0] for t in means] == ["frequent", "middle", "rare"]
    for t in means:
        assert list(_arr(t["x"])) == [0, 1, 2, 3]
        assert _arr(t["y"])[0] == pytest.approx(0.5)  # tau_init at epoch 0

    # the global-temperature run, side by side (the closest run is picked: sogclr, same data)
    at.session_state["temp_section"] = "next to a global τ"
    at.run()
    side = _frame(at, "")
    assert list(side.columns) == ["", "iSogCLR · isogclr long tail", "global τ · sogclr long tail"]
    row = side.set_index("").loc["kNN accuracy"]
    assert float(row.iloc[0]) == pytest.approx(s.get_run(ids["iso"]).metrics["knn_accuracy"], abs=1e-3)
    assert float(row.iloc[1]) == pytest.approx(s.get_run(ids["sog"]).metrics["knn_accuracy"], abs=1e-3)
    assert side.set_index("").loc["temperature"].iloc[1] == "global: 0.5"
    bars = _fig(at, "temp_class_acc")
    assert [t["name"] for t in bars["data"]] == ["iSogCLR · isogclr long tail", "global τ · sogclr long tail"]
    assert list(bars["data"][0]["x"]) == [t["name"] for t in box["data"]]
    for t, rid in zip(bars["data"], (ids["iso"], ids["sog"]), strict=True):
        # per class (most frequent first): the share of its held-out samples the kNN probe got right
        a = s.load_snapshot(rid, 3)
        hit = a["knn_hit"].astype(np.float64)  # 1 / 0 per held-out sample the probe classified, else NaN
        held_out = a["is_test"] & np.isfinite(hit)
        want = [hit[held_out & (a["y"] == c)].mean() for c in classes]
        np.testing.assert_allclose(_arr(t["y"]), want, rtol=1e-9)
    assert not at.get("plotly_chart") or "temp_extremes" not in str([c.proto.id for c in at.get("plotly_chart")])


def test_temperature_page_extremes_show_digit_images(lab):
    s, ids = lab
    at = _app("pages/temperature.py", temp_run=ids["iso_digits"], temp_epoch=1, temp_section="extremes")
    arr = s.load_snapshot(ids["iso_digits"], 1)
    low, high = extreme_samples(arr["ps_tau"], k=8)
    grid = _fig(at, "temp_extremes")
    heat = [t for t in grid["data"] if t["type"] == "heatmap"]
    assert len(heat) == 16
    assert [t["name"] for t in heat] == [f"index {arr['index'][r]}" for r in [*low, *high]]
    assert _arr(heat[0]["z"]).shape == (8, 8)
    lo = _frame(at, "τᵢ", 0)
    np.testing.assert_allclose(lo["τᵢ"], arr["ps_tau"][low], rtol=1e-6)
    assert list(lo["index"]) == list(arr["index"][low])
    hi = _frame(at, "τᵢ", 1)
    assert hi["τᵢ"].iloc[0] == pytest.approx(np.nanmax(arr["ps_tau"]), rel=1e-6)
    # no global-temperature run on digits: the closest one (another dataset) comes with a warning
    at.session_state["temp_section"] = "next to a global τ"
    at.run()
    assert any("another dataset" in w.value for w in at.warning)


# --- Ordinality -----------------------------------------------------------------------------


def test_ordinality_page_opens_the_newest_group(lab):
    s, ids = lab
    at = _app("pages/ordinality.py")
    assert at.title[0].value == "Ordinality"
    reg = [ids["supremix"], ids["rnc"], ids["l1"]]
    assert set(at.multiselect(key="ord_runs").value) == set(reg)
    assert all(o.split(" · ")[0] in {"SupReMix", "RnC", "L1"}
               for o in at.multiselect(key="ord_runs").options)  # classification runs are not offered

    at.multiselect(key="ord_runs").set_value(reg).run()
    maps = _fig(at, "ord_maps")
    assert len(maps["data"]) == 3
    for t, rid in zip(maps["data"], reg, strict=True):
        arr = s.load_snapshot(rid, 3)
        assert len(_arr(t["x"])) == len(arr["y"]) == 500
        assert t["marker"]["coloraxis"] == "coloraxis"  # one colour scale for all maps
        np.testing.assert_allclose(_arr(t["marker"]["color"]), arr["y"], rtol=1e-6)
    titles = [a["text"] for a in maps["layout"]["annotations"]]
    assert [x.split("<br>")[1].split(" · ")[0] for x in titles] == ["supremix", "rnc", "l1"]

    over = _fig(at, "ord_over_epochs")
    rep = {t["name"]: t for t in over["data"] if t["name"].endswith("· representation")}
    assert set(rep) == {"SupReMix · representation", "RnC · representation", "L1 · representation"}
    np.testing.assert_allclose(_arr(rep["RnC · representation"]["y"]),
                               [x.metrics["rank_correlation"] for x in s.snapshots(ids["rnc"])], rtol=1e-6)
    assert _title(over) == "epoch" and _title(over, "yaxis") == "Spearman ρ"

    table = _frame(at, "best in")
    assert list(table["run"]) == ["SupReMix", "RnC", "L1"]
    assert {"kNN MAE", "linear MAE", "linear R²", "Spearman ρ (rep)"} <= set(table.columns)
    m = [s.get_run(r).metrics for r in reg]
    best_mae = int(np.argmin([x["knn_mae"] for x in m]))
    best_rho = int(np.argmax([x["rank_correlation"] for x in m]))
    assert "kNN MAE" in table["best in"].iloc[best_mae].split(", ")
    assert "Spearman ρ (rep)" in table["best in"].iloc[best_rho].split(", ")
    assert sum("kNN MAE" in b.split(", ") for b in table["best in"]) == 1

    # fragmentation: every held-out target, read along the first principal component
    frag = _fig(at, "ord_fragmentation")
    assert len(frag["data"]) == 3
    for t, rid in zip(frag["data"], reg, strict=True):
        arr = s.load_snapshot(rid, 3)
        np.testing.assert_allclose(np.sort(_arr(t["y"])), np.sort(arr["y"][arr["is_test"]]), rtol=1e-6)
    assert _title(frag) == "rank along PC1"


def test_ordinality_page_colours_by_local_gap(lab):
    s, ids = lab
    at = _app("pages/ordinality.py", ord_runs=[ids["rnc"]], ord_colour="local gap", ord_space="emb", ord_epoch=1)
    t = _fig(at, "ord_maps")["data"][0]
    arr = s.load_snapshot(ids["rnc"], 1)
    np.testing.assert_allclose(_arr(t["marker"]["color"]), local_target_gap(arr["emb"], arr["y"], k=10), rtol=1e-5)
    assert "epoch 1" in _fig(at, "ord_maps")["layout"]["annotations"][0]["text"]


# --- Compare ---------------------------------------------------------------------------------


def test_compare_page_two_runs(lab):
    s, ids = lab
    pair = [ids["iso"], ids["sog"]]
    # a UMAP for one of them: that panel shows it, the other falls back to PCA and says so
    xy = np.random.default_rng(0).standard_normal((len(s.load_snapshot(ids["sog"], 3)["y"]), 2)).astype(np.float32)
    s.add_projection(ids["sog"], 3, "emb", "umap", xy, 0.1)
    at = _app("pages/compare.py", cmp_runs=pair)
    assert at.title[0].value == "Compare"
    assert at.selectbox(key="cmp_group").value == "(choose runs)"
    maps = _fig(at, "cmp_maps")
    # labels are classes: one trace per class and panel, a qualitative colour per class, no colour scale
    y = s.load_snapshot(ids["sog"], 3)["y"]
    classes = np.unique(y)
    first = [t for t in maps["data"] if t.get("xaxis", "x") == "x"]
    second = [t for t in maps["data"] if t.get("xaxis") == "x2"]
    assert [t["name"] for t in first] == [t["name"] for t in second] == [str(c) for c in classes]
    assert all(t["showlegend"] for t in first) and not any(t["showlegend"] for t in second)
    assert len({t["marker"]["color"] for t in first}) == len(classes)
    assert all("coloraxis" not in t["marker"] for t in maps["data"])
    for t, c in zip(second, classes, strict=True):  # the UMAP panel draws the stored map
        np.testing.assert_allclose(_arr(t["x"]), xy[y == c, 0], rtol=1e-6)
    titles = [a["text"] for a in maps["layout"]["annotations"]]
    assert titles[0].endswith("· PCA") and not titles[1].endswith("· PCA")
    assert maps["layout"]["xaxis2"].get("matches") == "x"  # shared axes

    spec = _fig(at, "cmp_spectra")
    assert spec["layout"]["yaxis"]["type"] == "log" and len(spec["data"]) == 2
    np.testing.assert_allclose(_arr(spec["data"][0]["y"]), s.load_snapshot(ids["iso"], 3)["spectrum_emb"], rtol=1e-6)

    au = _fig(at, "cmp_au")
    assert [len(_arr(t["x"])) for t in au["data"]] == [4, 4]  # epochs 0, 1, 2, 3
    # one run, one colour: the same on both charts, different between the runs
    assert [t["line"]["color"] for t in spec["data"]] == [t["line"]["color"] for t in au["data"]]
    assert spec["data"][0]["line"]["color"] != spec["data"][1]["line"]["color"]
    assert _title(au).startswith("uniformity") and _title(au, "yaxis").startswith("alignment")

    table = _frame(at, "best in")
    assert list(table["run"]) == ["isogclr long tail", "sogclr long tail"]
    assert list(table["loss"]) == ["isogclr", "sogclr"]  # the settings that differ sit next to the names
    assert "dataset" not in table.columns  # the same for both
    assert "kNN MAE" not in table.columns  # no run has it
    m = [s.get_run(r).metrics for r in pair]
    for col, key, pick in (("kNN acc", "knn_accuracy", np.argmax), ("alignment", "alignment", np.argmin),
                           ("uniformity", "uniformity", np.argmin), ("RankMe", "rankme", np.argmax)):
        vals = [x[key] for x in m]
        if vals[0] == vals[1]:
            continue
        winner = int(pick(vals))
        assert col in table["best in"].iloc[winner].split(", ")
        assert col not in table["best in"].iloc[1 - winner].split(", ")


def test_compare_opens_the_group_handed_over(lab):
    s, ids = lab
    at = _app("pages/compare.py", lab_compare_group=REG_GROUP)
    assert at.selectbox(key="cmp_group").value == REG_GROUP
    assert "lab_compare_group" not in at.session_state  # a one-shot hand-over
    assert any(REG_GROUP in m.value and "3 runs" in m.value for m in at.markdown)
    maps = _fig(at, "cmp_maps")
    assert [t["name"] for t in maps["data"]] == ["SupReMix", "RnC", "L1"]  # launch order
    assert maps["layout"]["coloraxis"]["colorscale"][0][1] == "#440154"  # continuous target: Viridis
    table = _frame(at, "best in")
    best = int(np.argmax([s.get_run(ids[k]).metrics["linear_r2"] for k in ("supremix", "rnc", "l1")]))
    assert "linear R²" in table["best in"].iloc[best]


def test_train_page_sweep_hands_its_group_to_compare(lab, monkeypatch):
    s, _ = lab
    at = AppTest.from_file(APP, default_timeout=60).run()
    name = "Compare: NT-Xent vs DCL vs SupCon (digits)"
    at.selectbox(key="train_preset").set_value(name).run()
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    new = [r for r in s.list_runs() if r.group.startswith(name)]
    try:
        assert len(new) == 3
        assert at.session_state["lab_compare_group"] == new[0].group
        links = at.get("page_link")
        assert any("Open the group on Compare" in str(p.proto) for p in links)
    finally:
        for r in new:
            s.update_run(r.id, status=st.CANCELLED)


def test_compare_marks_nothing_for_a_single_run(lab):
    s, ids = lab
    at = _app("pages/compare.py", cmp_runs=[ids["rnc"]])
    assert any("at least one more run" in c.value for c in at.caption)
    table = _frame(at, "best in")
    assert list(table["best in"]) == [""]
