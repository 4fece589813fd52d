"""Dimensional Collapse: covariance spectra per epoch and effective rank over epochs."""

from __future__ import annotations

import streamlit as st

from ui.collapse_views import SPACES, rank_figure
from ui.data import (
    get_store,
    metrics_over_epochs,
    run_colours,
    snapshot_arrays,
    snapshot_at_or_before,
    snapshots,
)
from ui.download import chart
from ui.figures import sample_rank_limit, spectrum_figure
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
    space = st.radio("Space", list(SPACES), horizontal=True, key="dc_space")
    key = SPACES[space]
    all_epochs = sorted({s["epoch"] for r in runs for s in snapshots(store, r.id)})
    epoch = epoch_slider("Epoch", all_epochs, key="dc_epoch")
    snaps = {r.id: snapshot_at_or_before(store, r.id, epoch) for r in runs}
    spectra = {rid: snapshot_arrays(store, rid, s["epoch"], s["created"])[f"spectrum_{key}"] for rid, s in snaps.items()}
    epochs = {rid: s["epoch"] for rid, s in snaps.items()}
    samples = {rid: s["metrics"].get("n_eval") for rid, s in snaps.items()}
    chart(spectrum_figure(runs, spectra, epochs, colours, title=f"Covariance spectrum · {space}", samples=samples),
          width="stretch", key="dc_spectrum")
    if any(sample_rank_limit(len(spectra[r.id]), samples[r.id]) is not None for r in runs):
        st.caption("Dotted line: the held-out split has fewer samples than the space has dimensions, so the "
                   "eigenvalues right of it are zero by construction. That drop is not collapse: look for a cliff "
                   "left of the line.")

    frames = {r.id: metrics_over_epochs(store, r.id) for r in runs}
    chart(rank_figure(runs, frames, colours, key), width="stretch", key="dc_rank")
    st.caption("Solid: RankMe (raw matrix). Dotted: exp-entropy of the centred covariance eigenvalues, a different number.")
