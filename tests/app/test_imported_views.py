"""An imported run is a run: every view that makes sense for it shows it, next to trained runs,
with its own class names; the views that need training internals say why they have nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jobs import store as st
from jobs.importer import import_embeddings
from tests.app.apptest import chart, charts, decode, open_page
from tests.conftest import FAST
from trainers.config import RunConfig
from trainers.train import train_run
from ui.widgets import SELECTED

NAMES = np.array(["<b>ant</b>", "bee", "cod"])  # a class name with markup: a legend shows it as text
N, D = 240, 12


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A trained run, an imported classification run (string labels, a second view) and an
    imported regression run."""
    root = tmp_path_factory.mktemp("imported_views")
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_STORE", str(root / "store"))
    mp.setattr("jobs.runner.ensure_scheduler", lambda store: False)
    s = st.Store(root / "store")
    trained = s.create_run(RunConfig(**{**FAST, "epochs": 2, "name": "trained nt_xent"}), status=st.RUNNING)
    train_run(s, trained, log=lambda m: None)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, N)
    x = (3 * rng.normal(size=(3, D))[y] + rng.normal(size=(N, D))).astype(np.float32)
    np.save(root / "emb.npy", x)
    np.save(root / "view2.npy", (x + 0.1 * rng.normal(size=x.shape)).astype(np.float32))
    pd.DataFrame({"species": NAMES[y]}).to_csv(root / "labels.csv", index=False)
    cls = import_embeddings(root / "emb.npy", labels=root / "labels.csv", label_column="species",
                            view2=root / "view2.npy", name="imported classes", store=s).run_id
    t = x[:, 0] + 0.1 * rng.normal(size=N)
    pd.DataFrame({"t": t}).to_csv(root / "targets.csv", index=False)
    reg = import_embeddings(root / "emb.npy", labels=root / "targets.csv", target_column="t",
                            name="imported targets", store=s).run_id
    yield s, {"trained": trained, "cls": cls, "reg": reg}
    mp.undo()


def _names(fig: dict) -> list[str]:
    return [t.get("name", "") for t in fig["data"]]


def test_alignment_uniformity_shows_the_imported_run_beside_the_trained_one(lab):
    s, ids = lab
    at = open_page("pages/alignment_uniformity.py", **{SELECTED: [ids["trained"], ids["cls"]]})
    names = " ".join(_names(chart(at, "au_chart")))
    assert "trained nt_xent" in names and "imported classes" in names
    m = s.get_run(ids["cls"]).metrics
    assert m["alignment"] is not None and m["alignment"] > 0  # defined by the second view


def test_collapse_shows_the_imported_spectrum(lab):
    s, ids = lab
    at = open_page("pages/collapse.py", **{SELECTED: [ids["cls"]]})
    fig = charts(at)[0]
    (trace,) = [t for t in fig["data"] if "imported classes" in t.get("name", "")]
    spectrum = s.load_snapshot(ids["cls"], 0)["spectrum_emb"]
    assert len(decode(trace["y"])) == len(spectrum) == D


def test_embedding_map_shows_every_imported_row_with_its_class_names(lab):
    s, ids = lab
    at = open_page("pages/embedding_map.py", **{SELECTED: [ids["cls"]]})
    fig = chart(at, "map_chart")
    assert sum(len(decode(t["x"])) for t in fig["data"]) == N
    legend = [t["name"] for t in fig["data"] if t.get("showlegend", True)]
    assert legend == ["&lt;b&gt;ant&lt;/b&gt;", "bee", "cod"]  # the names, escaped: shown as typed
    assert not any("before any training" in c.value for c in at.caption)


def test_ordinality_offers_the_imported_regression_run(lab):
    s, ids = lab
    at = open_page("pages/ordinality.py", **{SELECTED: [ids["reg"]]})
    assert ids["reg"] in at.multiselect(key="ord_runs").value
    assert charts(at)


def test_compare_puts_the_imported_run_next_to_a_trained_one(lab):
    s, ids = lab
    at = open_page("pages/compare.py", **{SELECTED: [ids["trained"], ids["cls"]]})
    table = at.dataframe[0].value
    shown = " ".join(str(v) for v in table.to_numpy().ravel())
    assert "imported classes" in shown and "trained nt_xent" in shown


def test_views_of_training_internals_do_not_offer_imported_runs(lab):
    s, ids = lab
    at = open_page("pages/temperature.py", **{SELECTED: [ids["cls"]]})
    assert not at.selectbox or all(ids["cls"] not in (sb.options or []) for sb in at.selectbox)
    text = " ".join([i.value for i in at.info] + [m.value for m in at.markdown])
    assert "No run learns a per-sample temperature" in text  # says which runs it needs
