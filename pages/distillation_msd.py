"""Momentum Self-Distillation: the EMA teacher's output entropies and the effective rank, per switch."""

from __future__ import annotations

import streamlit as st

from jobs import store as stmod
from ui import distillation as ds
from ui.data import get_store, run_colours
from ui.widgets import explain, pick_runs, rerun_on_new_snapshots

store = get_store()
st.title("Momentum Self-Distillation")
explain(
    "momentum self-distillation: the teacher's outputs and the effective rank",
    [r"p_T = \mathrm{softmax}\big((g_{\bar\theta}(x') - c)/\tau_t\big),\quad "
     r"\mathcal{L} = -\textstyle\sum_k p_{T,k} \log \mathrm{softmax}(g_\theta(x)/\tau_s)_k",
     r"\bar\theta \leftarrow m\bar\theta + (1-m)\theta,\quad c \leftarrow 0.9\,c + 0.1\,\overline{g_{\bar\theta}(x')}",
     r"H(p_T) \text{ (solid)},\qquad H(\bar p_T) \text{ (dotted)},\qquad \log K \text{ (dashed)}"],
    "The teacher is an exponential moving average of the student; its outputs are **centred** (c subtracted) "
    "and **sharpened** (τ_t = 0.04 < τ_s = 0.1). Solid: the mean entropy of the teacher's output per sample, "
    "on the held-out split; dotted: the entropy of its mean output (how many outputs are in use at all). "
    "**What to look for:** centring alone drives both to log K (uniform outputs, no information); sharpening "
    "alone drives both towards 0 (one output for every input); with both, the per-sample entropy falls while "
    "the mean stays high (confident and diverse). Right: RankMe of the embedding (solid) and representation (dotted).",
)

runs = pick_runs(store, "distill_msd_runs", label="MSD runs", max_runs=ds.MAX_MSD_RUNS, where=ds.is_msd,
                 default=ds.newest_group, empty=(
                     "No momentum self-distillation run yet: the preset *MSD: centring / sharpening / both* "
                     "launches the three switches as one group."))
if runs:
    # the chosen runs' new snapshots, and new MSD runs for the picker, appear as they arrive
    rerun_on_new_snapshots(store, runs + [r for r in store.list_runs(status=stmod.ACTIVE) if ds.is_msd(r)])
    view = ds.msd_view(store, runs, run_colours(store, runs))
    left, right = st.columns(2)
    left.plotly_chart(view.entropy, width="stretch", key="distill_msd_entropy")
    right.plotly_chart(view.rank, width="stretch", key="distill_msd_rank")
    if not view.table.empty:
        st.dataframe(view.table, hide_index=True, width="stretch", key="distill_msd_table")
