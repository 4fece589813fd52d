"""Dimensional Collapse: covariance spectra per epoch and effective rank over epochs."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui.data import (
    get_store,
    metrics_over_epochs,
    run_colours,
    snapshot_arrays,
    snapshot_at_or_before,
    snapshots,
)
from ui.text import plot_escape
from ui.widgets import epoch_slider, explain, pick_runs, rerun_on_new_snapshots

store = get_store()
st.title("Dimensional Collapse")
explain(
    "the covariance spectrum (Jing et al., 2022) and effective rank (RankMe, Garrido et al., 2023)",
    [
        r"C = \frac{1}{N-1} \sum_i (z_i - \bar z)(z_i - \bar z)^\top,\quad z_i = \frac{f(x_i)}{\lVert f(x_i) \rVert},\quad \lambda_1 \ge \dots \ge \lambda_D",
        r"\mathrm{RankMe}(Z) = \exp\Big(-\sum_k p_k \log p_k\Big),\quad p_k = \frac{\sigma_k(Z)}{\sum_j \sigma_j(Z)} + 10^{-7}",
    ],
    "The spectrum is the sorted eigenvalues of the covariance of the row-normalised embeddings of the held-out "
    "split, on a log scale (floor 10⁻¹²). **Dimensional collapse** shows as a cliff: eigenvalues that drop to the "
    "floor are directions the model no longer uses. It shows in the **embedding** (projector output) first; the "
    "**representation** (encoder output) usually keeps more. RankMe (singular values of the raw matrix) counts "
    "the directions in use; it tracks downstream quality. **What to look for:** on the Jing toy about half the "
    "directions collapse; SupCon concentrates on about (classes − 1) directions.",
)

runs = pick_runs(store, "dc_runs")
if runs:
    rerun_on_new_snapshots(store, runs)
    colours = run_colours(store, runs)
    space = st.radio("Space", ["embedding (projector output)", "representation (encoder output)"], horizontal=True,
                     key="dc_space")
    key = "emb" if space.startswith("embedding") else "rep"
    all_epochs = sorted({s["epoch"] for r in runs for s in snapshots(store, r.id)})
    epoch = epoch_slider("Epoch", all_epochs, key="dc_epoch")
    fig = go.Figure()
    for r in runs:
        snap = snapshot_at_or_before(store, r.id, epoch)
        e = snap["epoch"]
        arr = snapshot_arrays(store, r.id, e, snap["created"])
        lam = arr[f"spectrum_{key}"]
        fig.add_trace(go.Scatter(x=np.arange(1, len(lam) + 1), y=lam, mode="lines+markers", marker={"size": 4},
                                 line={"color": colours.get(r.id)}, name=plot_escape(f"{r.name} (epoch {e})")))
    fig.update_layout(yaxis_type="log", yaxis_dtick=1, yaxis_exponentformat="power", xaxis_title="rank k", yaxis_title="eigenvalue λ_k (log scale)",
                      height=430, legend={"orientation": "h", "y": -0.25}, margin={"t": 30},
                      title=f"Covariance spectrum · {space}")
    st.plotly_chart(fig, width="stretch", key="dc_spectrum")

    fig2 = go.Figure()
    for r in runs:
        df = metrics_over_epochs(store, r.id)
        if df.empty:
            continue
        col = "rankme" if key == "rep" else "rankme_emb"
        fig2.add_trace(go.Scatter(x=df["epoch"], y=df[col], mode="lines+markers",
                                  line={"color": colours.get(r.id)}, name=plot_escape(f"{r.name} · RankMe")))
        ecol = f"erank_cov_{key}"
        if ecol in df:
            fig2.add_trace(go.Scatter(x=df["epoch"], y=df[ecol], mode="lines",
                                      line={"dash": "dot", "color": colours.get(r.id)},
                                      name=plot_escape(f"{r.name} · effective rank (covariance)")))
    fig2.update_layout(xaxis_title="epoch", yaxis_title="effective rank", height=360, margin={"t": 30},
                       legend={"orientation": "h", "y": -0.3}, title="Effective rank over epochs")
    st.plotly_chart(fig2, width="stretch", key="dc_rank")
    st.caption("Solid: RankMe (raw matrix). Dotted: exp-entropy of the centred covariance eigenvalues, a different number.")
