"""Ordinality: is the embedding ordered like the continuous target? Contrastive regression runs
(SupReMix, Rank-N-Contrast, SupCon on binned targets, L1) side by side."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from jobs import store as stmod
from trainers import registry
from ui.data import (
    get_store,
    load_snapshot,
    metrics_over_epochs,
    one_thread,
    run_colours,
    snapshot_arrays,
    snapshot_at_or_before,
    snapshots,
)
from ui.panel_grid import cell, panel_title, titled_grid
from ui.points import panel_notes, plot_rows
from ui.tables import best_marked_table
from ui.text import plot_escape
from ui.widgets import epoch_slider, explain, pick_runs, rerun_on_new_snapshots

GAP_K = 10  # neighbours of the local target gap

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


def is_regression(r: stmod.RunRecord) -> bool:
    ds = registry.DATASETS.get(r.config.get("dataset", ""))
    return ds is not None and ds.task == "regression"


def newest_peers(runs: list[stmod.RunRecord]) -> list[str]:
    """The newest run's group; else the newest run of each loss on the newest run's dataset."""
    first = runs[0]
    if first.group:
        return [r.id for r in runs if r.group == first.group]
    seen: dict[str, str] = {}
    for r in runs:
        if r.config.get("dataset") == first.config.get("dataset"):
            seen.setdefault(r.config.get("loss", ""), r.id)
    return list(seen.values())


@st.cache_data(show_spinner=False, max_entries=32)
def gap_per_sample(root: str, run_id: str, epoch: int, created: float, space: str, shown: str) -> np.ndarray:
    """Local target gap of the points the map draws (``plot_rows``: every point up to 10,000,
    else a stratified sample, whose neighbours are then among the sample), NaN elsewhere.
    Bounded: on all 50,000 points of a large run it took 8 s and 550 MB in this process."""
    a = load_snapshot(root, run_id, epoch, created)
    coords = store.projection(run_id, epoch, space, "umap") if shown == "UMAP" else a[f"pca_{space}"]
    rows = plot_rows(a["y"], coords).rows
    gaps = np.full(len(a["y"]), np.nan)
    # analysis.ordinality computes with torch: loaded when this view is first computed
    from analysis.ordinality import local_target_gap

    with one_thread():
        gaps[rows] = local_target_gap(a[space][rows], a["y"][rows], k=GAP_K)
    return gaps


@st.cache_data(show_spinner=False, max_entries=32)
def along_pc(root: str, run_id: str, epoch: int, created: float, space: str) -> tuple[np.ndarray, float, float]:
    """Held-out targets in the order of the first principal component, its Spearman rho and explained variance."""
    a = load_snapshot(root, run_id, epoch, created)
    te = a["is_test"]
    # analysis.ordinality computes with torch: loaded when this view is first computed
    from analysis.ordinality import target_along_first_pc

    with one_thread():
        res = target_along_first_pc(a[space][te], a["y"][te])
    return a["y"][te][res.order], res.spearman, res.explained


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
    colour = c4.radio("Colour by", ["target", "local gap"], horizontal=True, key="ord_colour",
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
    shown_methods = []
    titles = []
    panels = []
    for r in runs:
        s = snaps[r.id]
        arr = snapshot_arrays(store, r.id, s["epoch"], s["created"])
        coords = store.projection(r.id, s["epoch"], space, "umap") if method == "UMAP" else None
        used = "UMAP" if coords is not None else "PCA"
        shown_methods.append(used)
        panels.append((r, arr, coords if coords is not None else arr[f"pca_{space}"], s, used))
        titles.append(panel_title(r.name, f"{r.config['loss']} · epoch {s['epoch']}" + (" · PCA" if used != method else ""),
                                  n=len(runs)))
    if method == "UMAP" and "PCA" in shown_methods:
        st.caption("Maps marked PCA: their UMAP is not computed yet (the scheduler does it in the background).")
    fig = titled_grid(titles, panel_px=330)
    notes = []
    for i, (r, arr, coords, s, used) in enumerate(panels):
        values = arr["y"] if colour == "target" else gap_per_sample(str(store.root), r.id, s["epoch"], s["created"], space, used)
        pts = plot_rows(arr["y"], coords, method="map")
        if pts.note:
            notes.append((r.name, pts.note))
        rows = pts.rows
        fig.add_trace(pts.trace(
            x=coords[rows, 0], y=coords[rows, 1], mode="markers", name=plot_escape(r.name), showlegend=False,
            marker={"size": 4, "color": values[rows], "coloraxis": "coloraxis",
                    "symbol": np.where(arr["is_test"][rows], "x", "circle")},
            customdata=np.stack([arr["index"][rows], arr["y"][rows], values[rows]], 1),
            hovertemplate="index %{customdata[0]}<br>target %{customdata[1]:.3g}"
                          + ("<br>local gap %{customdata[2]:.2f}" if colour != "target" else "") + "<extra></extra>",
        ), **cell(i, len(runs)))
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(
        coloraxis={"colorscale": "Viridis" if colour == "target" else "Inferno",
                   "colorbar": {"title": "target" if colour == "target" else "local gap"}})
    st.markdown(f"**{method} of the {space_name}, coloured by the "
                + ("target** (one colour scale)" if colour == "target" else
                   f"local target gap** (k = {GAP_K}; bright = a seam where neighbours disagree in target"
                   + ("; on a sampled map the neighbours are among the points drawn)" if notes else ")")))
    st.plotly_chart(fig, width="stretch", key="ord_maps")
    for note in panel_notes(notes, len(runs)):
        st.caption(note)
    st.caption("Circles: training split; ×: held-out split. One colour scale for all maps.")

    # --- metrics over epochs ----------------------------------------------------------------
    st.subheader("Rank correlation and neighbour gap over epochs")
    over = make_subplots(rows=1, cols=2, subplot_titles=["Spearman ρ (embedding vs target distances)",
                                                         f"neighbour target gap (k = {GAP_K})"])
    for r in runs:
        df = metrics_over_epochs(store, r.id)
        if df.empty or "rank_correlation" not in df:
            continue
        c = colours.get(r.id)
        over.add_trace(go.Scatter(x=df["epoch"], y=df["rank_correlation"], mode="lines+markers", name=plot_escape(f"{r.name} · representation"),
                                  line={"color": c}, legendgroup=r.id), row=1, col=1)
        if "rank_correlation_emb" in df:
            over.add_trace(go.Scatter(x=df["epoch"], y=df["rank_correlation_emb"], mode="lines", name=plot_escape(f"{r.name} · embedding"),
                                      line={"color": c, "dash": "dot"}, legendgroup=r.id), row=1, col=1)
        if "neighbour_gap" in df:
            over.add_trace(go.Scatter(x=df["epoch"], y=df["neighbour_gap"], mode="lines+markers", name=plot_escape(f"{r.name} · gap"),
                                      line={"color": c}, legendgroup=r.id, showlegend=False), row=1, col=2)
    over.update_xaxes(title_text="epoch")
    over.update_yaxes(title_text="Spearman ρ", row=1, col=1)
    over.update_yaxes(title_text="gap (0 = ordered, 1 = random)", rangemode="tozero", row=1, col=2)
    over.update_layout(height=420, margin={"t": 40}, legend={"orientation": "h", "y": -0.25})
    st.plotly_chart(over, width="stretch", key="ord_over_epochs")
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
    frag = titled_grid([panel_title(r.name, f"ρ(PC1, y) = {rho:.2f} · PC1 holds {expl:.0%} of the variance",
                                    n=len(runs)) for r, (_, rho, expl) in zip(runs, pcs, strict=True)],
                       panel_px=300, x_axis_titles=True)
    frag_notes = []
    for i, (r, (y_sorted, _, _)) in enumerate(zip(runs, pcs, strict=True)):
        pts = plot_rows(y_sorted)
        if pts.note:
            frag_notes.append((r.name, pts.note))
        frag.add_trace(pts.scatter(x=pts.rows, y=y_sorted[pts.rows], mode="markers", name=plot_escape(r.name),
                                  showlegend=False, marker={"size": 4, "color": colours.get(r.id)},
                                  hovertemplate="rank %{x}<br>target %{y:.3g}<extra></extra>"),
                       **cell(i, len(runs)))
    frag.update_xaxes(title_text="rank along PC1")
    frag.update_yaxes(matches="y")
    frag.update_yaxes(title_text="target", col=1)
    st.plotly_chart(frag, width="stretch", key="ord_fragmentation")
    for note in panel_notes(frag_notes, len(runs), what="plot"):
        st.caption(note)
    st.caption(f"Held-out samples of the {space_name}, sorted by their coordinate on its first principal component "
               "(oriented so that the target rises). One smooth rise: ordered. A saw-tooth or plateaus: fragments. "
               "A cloud: the main direction ignores the target (it may still be ordered along a curve: see ρ above).")
