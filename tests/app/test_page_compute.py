"""Page computations stay fast while workers train: one thread, no per-point plotly checks."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import torch
from threadpoolctl import threadpool_info

from ui.data import one_thread
from ui.points import plot_rows


def test_one_thread_limits_blas_and_torch_then_restores():
    torch.set_num_threads(2)
    with one_thread():
        assert torch.get_num_threads() == 1
        pools = [p for p in threadpool_info() if p["user_api"] in ("blas", "openmp")]
        assert pools and all(p["num_threads"] == 1 for p in pools)
    assert torch.get_num_threads() == 2


def test_one_thread_restores_after_an_error():
    torch.set_num_threads(2)
    try:
        with one_thread():
            raise ValueError("boom")
    except ValueError:
        pass
    assert torch.get_num_threads() == 2


def test_unchecked_trace_has_the_same_figure_as_the_checked_one():
    rng = np.random.default_rng(0)
    y = rng.normal(size=3000)
    coords = rng.normal(size=(3000, 2))
    held_out = rng.random(3000) < 0.2
    pts = plot_rows(y, coords)
    props = dict(x=coords[:, 0], y=coords[:, 1], mode="markers", name="run", showlegend=False,
                 marker={"size": 4, "color": y, "coloraxis": "coloraxis", "symbol": np.where(held_out, "x", "circle")},
                 customdata=np.stack([np.arange(3000), y], 1), hovertemplate="index %{customdata[0]}<extra></extra>")
    checked, unchecked = go.Figure(pts.scatter(**props)), go.Figure(pts.trace(**props))
    assert json.loads(unchecked.to_json()) == json.loads(checked.to_json())
    assert json.loads(unchecked.to_json())["data"][0]["marker"]["symbol"][:5] == np.where(held_out, "x", "circle")[:5].tolist()
