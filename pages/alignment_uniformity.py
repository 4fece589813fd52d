"""Alignment & Uniformity: each run's path over epochs in the (uniformity, alignment) plane."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from analysis.bounds import uniformity_optimum
from ui.data import get_store, metrics_over_epochs, run_colours
from ui.text import plot_escape
from ui.widgets import explain, pick_runs, rerun_on_new_snapshots

store = get_store()
st.title("Alignment & Uniformity")
explain(
    "alignment and uniformity (Wang & Isola, 2020)",
    [
        r"\mathcal{L}_{\text{align}} = \mathbb{E}_{(x, x^+)}\,\lVert f(x) - f(x^+) \rVert_2^{2}",
        r"\mathcal{L}_{\text{uniform}} = \log \mathbb{E}_{x, y}\, e^{-2 \lVert f(x) - f(y) \rVert_2^2}",
    ],
    "Both are computed on the held-out split with L2-normalised embeddings; positive pairs are two augmented views "
    "of the same sample, and uniformity averages the two views (pairs of distinct samples of one view). "
    "**Lower is better for both.** Alignment lies in [0, 4]; uniformity is bounded below by "
    "−2t·n/(n−1) ≈ −4 (the dashed line). **What to look for:** a good contrastive run moves down and left; "
    "a run that only aligns collapses (alignment 0, uniformity 0); a run that only spreads out ignores the "
    "augmentations (uniformity near the optimum, alignment high).",
)


def view() -> None:
    runs = pick_runs(store, "au_runs")
    if not runs:
        return
    rerun_on_new_snapshots(store, runs)
    colours = run_colours(store, runs)
    fig = go.Figure()
    n_eval = []
    rows = []
    for r in runs:
        df = metrics_over_epochs(store, r.id)
        if df.empty or "uniformity" not in df:
            continue
        n_eval += [int(v) for v in df.get("n_eval", []) if v == v]
        fig.add_trace(go.Scatter(
            x=df["uniformity"], y=df["alignment"], mode="lines+markers+text", name=plot_escape(r.name),
            text=[f"{int(e)}" for e in df["epoch"]], textposition="top center", textfont={"size": 9},
            customdata=df["epoch"], hovertemplate="epoch %{customdata}<br>uniformity %{x:.3f}<br>alignment %{y:.3f}<extra>%{fullData.name}</extra>",
            marker={"size": 8, "color": colours.get(r.id)}, line={"color": colours.get(r.id)},
        ))
        last = df.iloc[-1]
        rows.append({"run": r.name, "epoch": int(last["epoch"]), "alignment": last["alignment"], "uniformity": last["uniformity"],
                     "kNN acc": last.get("knn_accuracy")})
    opt = uniformity_optimum(max(n_eval) if n_eval else 1000)
    fig.add_vline(x=opt, line_dash="dash", line_color="gray", annotation_text="uniformity optimum (−2t·n/(n−1))",
                  annotation_position="top right")
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(xaxis_title="uniformity (lower = more uniform)", yaxis_title="alignment (lower = better aligned)",
                      height=520, legend={"orientation": "h", "y": -0.2}, margin={"t": 30}, showlegend=True)
    st.plotly_chart(fig, width="stretch", key="au_chart")
    st.caption("Numbers on the points are epochs (0 = before training). Runs share the axes.")
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")


view()
