"""Alignment & Uniformity: each run's path over epochs in the (uniformity, alignment) plane."""

from __future__ import annotations

import streamlit as st

from ui.data import get_store, metrics_over_epochs, run_colours
from ui.download import chart
from ui.figures import au_paths_figure
from ui.tables import alignment_uniformity_rows
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
    frames = {r.id: metrics_over_epochs(store, r.id) for r in runs}
    chart(au_paths_figure(runs, frames, colours), width="stretch", key="au_chart")
    st.caption("Numbers on the points are epochs (0 = before training). Runs share the axes.")
    rows = alignment_uniformity_rows(runs, frames)
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")


view()
