"""Ordinality: is the embedding ordered like the continuous target? Contrastive regression runs
(SupReMix, Rank-N-Contrast, SupCon on binned targets, L1) side by side."""

from __future__ import annotations

import streamlit as st

from ui.data import get_store, metrics_over_epochs, run_colours, snapshot_at_or_before, snapshots
from ui.download import chart
from ui.ordinality_views import (
    GAP,
    GAP_K,
    TARGET,
    along_pc,
    fragmentation_figure,
    is_regression,
    map_panel,
    maps_figure,
    newest_peers,
    over_epochs_figure,
)
from ui.points import panel_notes
from ui.tables import best_marked_table
from ui.widgets import epoch_slider, explain, pick_runs, rerun_on_new_snapshots

store = get_store()
st.title("Ordinality")
explain(
    "whether distances in the embedding follow distances in the target (contrastive regression)",
    [
        r"\rho = \operatorname{Spearman}\big(\lVert z_i - z_j \rVert_2,\ |y_i - y_j|\big)_{i<j},\qquad "
        r"\text{gap} = \frac{\operatorname{mean}_i \operatorname{mean}_{j \in \mathrm{kNN}(i)} |y_i - y_j|}"
        r"{\operatorname{mean}_{a<b} |y_a - y_b|}",
    ],
    "ρ ranks all pairs of held-out samples by embedding distance (rows L2-normalised) and by target distance: "
    "1 means the embedding orders the samples exactly like the target. The **neighbour gap** asks the local "
    "question: how far in target are a point's 10 nearest neighbours, relative to a random pair (0 = neighbours "
    "share the target, 1 = they ignore it). kNN and linear probes on the representation give MAE and R². "
    "**What to look for:** SupReMix and Rank-N-Contrast give a smooth colour gradient on the map, ρ near 1 and "
    "a low gap; SupCon on binned targets makes one blob per bin (fragmentation: order inside a bin is lost); "
    "L1 regression predicts well but need not order the whole space. A **fragmented** embedding shows as a "
    "saw-tooth when the target is read along the first principal component, and as bright seams on the map "
    "coloured by the local gap.",
    expanded=False,
)

runs = pick_runs(store, "ord_runs", label="Regression runs (side by side, up to 6)", where=is_regression,
                 default=newest_peers,
                 empty="No regression run yet. On the **Train** page choose a regression dataset (swiss_roll, "
                       "diabetes, rotated_digits, intensity_digits) and the losses supremix, rnc, supcon_binned and l1.")
if runs:
    rerun_on_new_snapshots(store, runs)
    all_epochs = sorted({s["epoch"] for r in runs for s in snapshots(store, r.id)})
    c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
    epoch = epoch_slider("Epoch", all_epochs, key="ord_epoch", container=c1)
    space = c2.radio("Space", ["rep", "emb"], format_func={"emb": "embedding", "rep": "representation"}.get,
                     horizontal=True, key="ord_space", help="The probes and ρ of the table use the representation.")
    method = c3.radio("Method", ["UMAP", "PCA"], horizontal=True, key="ord_method")
    colour = c4.radio("Colour by", [TARGET, GAP], horizontal=True, key="ord_colour",
                      help=f"local gap: mean |y_i − y_j| over the {GAP_K} nearest neighbours of each point, "
                           "relative to a random pair.")
    space_name = "representation" if space == "rep" else "embedding"
    datasets = sorted({r.config["dataset"] for r in runs})
    if len(datasets) > 1:
        st.warning(f"These runs use different datasets ({', '.join(datasets)}): their targets, maps and errors are "
                   "not on one scale.")

    # --- the maps, one per run, on one colour scale ------------------------------------------
    snaps = {r.id: snapshot_at_or_before(store, r.id, epoch) for r in runs}
    colours = run_colours(store, runs)
    panels = [map_panel(store, r, snaps[r.id], space=space, method=method, colour=colour) for r in runs]
    if any(p.map.method != method for p in panels):
        st.caption("Maps marked PCA: their UMAP is not computed yet (the scheduler does it in the background).")
    maps = maps_figure(panels, method=method, colour=colour)
    st.markdown(f"**{method} of the {space_name}, coloured by the "
                + ("target** (one colour scale)" if colour == TARGET else
                   f"local target gap** (k = {GAP_K}; bright = a seam where neighbours disagree in target"
                   + ("; on a sampled map the neighbours are among the points drawn)" if maps.notes else ")")))
    chart(maps.figure, width="stretch", key="ord_maps")
    for note in panel_notes(maps.notes, len(runs)):
        st.caption(note)
    st.caption("Circles: training split; ×: held-out split. One colour scale for all maps.")

    # --- metrics over epochs ----------------------------------------------------------------
    st.subheader("Rank correlation and neighbour gap over epochs")
    frames = {r.id: metrics_over_epochs(store, r.id) for r in runs}
    chart(over_epochs_figure(runs, frames, colours), width="stretch", key="ord_over_epochs")
    st.caption("Solid: representation (encoder output); dotted: embedding (projector output). Held-out split.")

    # --- probes ------------------------------------------------------------------------------
    st.subheader("Probes and ordinality at the chosen epoch")
    best_marked_table(
        [r.name for r in runs], [snaps[r.id]["metrics"] for r in runs],
        {"knn_mae": "kNN MAE", "linear_mae": "linear MAE", "linear_r2": "linear R²",
         "rank_correlation": "Spearman ρ (rep)", "rank_correlation_emb": "Spearman ρ (emb)",
         "neighbour_gap": "neighbour gap"},
        key="ord_table",
        leading={"loss": [r.config["loss"] for r in runs], "epoch": [snaps[r.id]["epoch"] for r in runs]},
    )
    st.caption("MAE in target units (kNN: k = 20, cosine; linear: ridge on standardised features), held-out split.")

    # --- fragmentation -------------------------------------------------------------------------
    st.subheader("Fragmentation: the target along the first principal component")
    pcs = [along_pc(str(store.root), r.id, snaps[r.id]["epoch"], snaps[r.id]["created"], space) for r in runs]
    frag = fragmentation_figure(runs, pcs, colours)
    chart(frag.figure, width="stretch", key="ord_fragmentation")
    for note in panel_notes(frag.notes, len(runs), what="plot"):
        st.caption(note)
    st.caption(f"Held-out samples of the {space_name}, sorted by their coordinate on its first principal component "
               "(oriented so that the target rises). One smooth rise: ordered. A saw-tooth or plateaus: fragments. "
               "A cloud: the main direction ignores the target (it may still be ordered along a curve: see ρ above).")
