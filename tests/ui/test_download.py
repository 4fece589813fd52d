"""Downloads: a figure as one standalone HTML file (its data and plotly.js inside, no script
fetched from the network), and a run's snapshot as Parquet built in memory."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from jobs import store as st
from tests.conftest import FAST
from trainers.config import RunConfig
from ui import download


def _figure() -> go.Figure:
    x = np.linspace(-1.5, 2.5, 40)
    fig = go.Figure(go.Scatter(x=x, y=x**2, mode="markers", name="</script><script>alert('x')</script>"))
    fig.add_trace(go.Bar(x=["a", "b", "c"], y=[3, 1, 2], name="bars"))
    fig.update_layout(title="tau by class")
    return fig


def _plotted(html: str) -> list[dict]:
    """The traces handed to Plotly.newPlot in the page, numeric arrays decoded."""
    call = re.search(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*", html)
    assert call, "no Plotly.newPlot call in the page"
    traces, _ = json.JSONDecoder().raw_decode(html, call.end())

    def decode(v):
        if isinstance(v, dict) and "bdata" in v:
            return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
        return v

    return [{k: decode(v) for k, v in t.items()} for t in traces]


def test_figure_html_holds_the_data_and_plotly_js_and_fetches_nothing():
    fig = _figure()
    html = download.figure_html(fig).decode("utf-8")
    traces = _plotted(html)
    assert np.allclose(traces[0]["x"], fig.data[0].x) and np.allclose(traces[0]["y"], fig.data[0].y)
    assert traces[1]["x"] == ["a", "b", "c"] and traces[1]["y"] == [3, 1, 2] and traces[1]["name"] == "bars"
    assert "tau by class" in html
    assert re.search(r"plotly\.js v\d+\.\d+", html)  # the library itself, embedded
    assert len(html) > 1_000_000
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I)  # no script loaded from anywhere
    assert "</script><script>alert" not in html  # a trace name cannot close the script


def _recorded_buttons(monkeypatch) -> list[dict]:
    seen: list[dict] = []
    monkeypatch.setattr(download.st, "download_button", lambda label, **kw: seen.append({"label": label, **kw}))
    return seen


def _data(button: dict) -> bytes:
    d = button["data"]
    return d() if callable(d) else d


def test_download_buttons_offers_the_html_under_a_safe_name(monkeypatch):
    seen = _recorded_buttons(monkeypatch)
    fig = _figure()
    download.download_buttons(fig, "../Temperature: run 3/epoch 8")
    (b,) = seen
    assert b["label"] == download.HTML_LABEL and b["mime"] == "text/html"
    assert b["file_name"] == "Temperature_run_3_epoch_8.html"
    html = _data(b).decode("utf-8")  # each page gets its own div id: compare what it plots
    assert _plotted(html) == _plotted(download.figure_html(fig).decode("utf-8"))
    assert re.search(r"plotly\.js v\d+", html) and not re.search(r"<script[^>]*\bsrc\s*=", html, re.I)


def _store_with_snapshot(tmp_path) -> tuple[st.Store, str, dict]:
    s = st.Store(tmp_path / "store")
    rid = s.create_run(RunConfig(**FAST))
    rng = np.random.default_rng(3)
    arrays = {"emb": rng.normal(size=(20, 4)).astype(np.float32), "rep": rng.normal(size=(20, 6)).astype(np.float32),
              "y": np.arange(20) % 3, "index": np.arange(20), "is_test": np.arange(20) >= 15,
              "pca_emb": rng.normal(size=(20, 2)).astype(np.float32), "ps_tau": rng.uniform(size=20).astype(np.float32)}
    s.add_snapshot(rid, 3, 30, arrays, {"knn_accuracy": 0.5})
    return s, rid, arrays


def test_run_download_button_offers_the_snapshot_as_parquet(tmp_path, monkeypatch):
    s, rid, arrays = _store_with_snapshot(tmp_path)
    seen = _recorded_buttons(monkeypatch)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    download.run_download_button(s, rid, 3)
    (b,) = seen
    assert b["label"] == download.PARQUET_LABEL and b["file_name"] == f"{rid}_epoch_00003.parquet"
    df = pd.read_parquet(io.BytesIO(_data(b)))
    assert df["label"].tolist() == arrays["y"].tolist() and df["split"].tolist() == ["train"] * 15 + ["test"] * 5
    assert np.array_equal(np.stack(df["embedding"].to_numpy()), arrays["emb"])
    assert np.array_equal(np.stack(df["representation"].to_numpy()), arrays["rep"])
    assert np.array_equal(df["tau"].to_numpy(), arrays["ps_tau"])
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # built in memory


def test_run_download_button_without_that_snapshot_says_so(tmp_path, monkeypatch):
    s, rid, _ = _store_with_snapshot(tmp_path)
    seen = _recorded_buttons(monkeypatch)
    said: list[str] = []
    monkeypatch.setattr(download.st, "caption", said.append)
    download.run_download_button(s, rid, 4)
    assert seen == [] and said == ["No snapshot at epoch 4 to download."]


def _page():
    import os

    import plotly.graph_objects as go

    from jobs.store import Store
    from ui.download import download_buttons, run_download_button

    s = Store(os.environ["LAB_STORE"])
    download_buttons(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])), "map")
    run_download_button(s, s.list_runs()[0].id, 3)


def test_the_buttons_render_in_streamlit(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    s, rid, _ = _store_with_snapshot(tmp_path)
    monkeypatch.setenv("LAB_STORE", str(s.root))
    at = AppTest.from_function(_page, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    buttons = at.get("download_button")
    assert [b.label for b in buttons] == [download.HTML_LABEL, download.PARQUET_LABEL]
    if download.DEFERRED:  # built when clicked, not on every run of the page
        assert all(b.proto.deferred_file_id for b in buttons)


@pytest.mark.parametrize("name, expected", [("", "figure"), ("...", "figure"), ("a b/c", "a_b_c")])
def test_safe_file_name(name, expected):
    assert download.safe_file_name(name) == expected
