"""Compare: 2 to 12 runs (or a sweep's group) as small multiples on shared axes, and a table of
final metrics with the best value per column marked."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from analysis.bounds import uniformity_optimum
from analysis.compare import config_differences
from trainers import registry
from ui.colours import SEQUENTIAL, class_colour
from ui.data import (
    get_store,
    metrics_over_epochs,
    run_colours,
    snapshot_arrays,
    snapshot_at_or_before,
    snapshots,
)
from ui.panel_grid import cell, panel_title, titled_grid
from ui.points import panel_notes, plot_rows
from ui.tables import best_marked_table
from ui.text import md_escape, plot_escape
from ui.widgets import epoch_slider, explain, pick_runs, rerun_on_new_snapshots, runs_with_snapshots

MAX_RUNS = 12
NO_GROUP = "(choose runs)"
QUERY_GROUP = "group"  # the chosen group in the URL (?group=...): survives a reload, can be sent
HANDOFF = "lab_compare_group"  # set by the Train page when it launches a sweep preset

store = get_store()
st.title("Compare")
explain(
    "several runs on the same axes",
    [],
    "Each run is shown at its latest snapshot at or before the chosen epoch. **Maps**: one panel per run, "
    "coloured by label or target on one colour scale. **Spectra**: the covariance eigenvalues of the held-out "
    "embeddings on one log scale (see *Dimensional Collapse*). **Alignment–uniformity**: each run's path over "
    "epochs (see *Alignment & Uniformity*). **Table**: the metrics of the held-out split; the best value of each "
    "column is marked (higher is better for accuracies, R², rank correlation and RankMe; lower for alignment, "
    "uniformity and errors). Choose a group to open all runs of a sweep preset at once.",
    expanded=False,
)

groups = store.groups()
handed = st.session_state.pop(HANDOFF, None)
if handed in groups:
    st.session_state["cmp_group"] = handed
elif "cmp_group" not in st.session_state and st.query_params.get(QUERY_GROUP) in groups:  # a reload, a link
    st.session_state["cmp_group"] = st.query_params[QUERY_GROUP]
if st.session_state.get("cmp_group") not in [NO_GROUP, *groups]:
    st.session_state["cmp_group"] = NO_GROUP
group = st.selectbox("Group", [NO_GROUP, *groups], key="cmp_group",
                     help="A sweep preset launches its runs as one group; choose it to compare all of them.")
if group == NO_GROUP:
    st.query_params.pop(QUERY_GROUP, None)
elif st.query_params.get(QUERY_GROUP) != group:
    st.query_params[QUERY_GROUP] = group
if group == NO_GROUP:
    runs = pick_runs(store, "cmp_runs", max_runs=MAX_RUNS, label=f"Runs (2 to {MAX_RUNS})",
                     default=lambda rs: [r.id for r in rs if rs[0].group and r.group == rs[0].group] or [r.id for r in rs[:2]])
    if len(runs) == 1:
        st.caption("Add at least one more run to compare.")
else:
    members = store.list_runs(group=group)
    with_snaps = {r.id for r in runs_with_snapshots(store)}
    ready = [r for r in reversed(members) if r.id in with_snaps]  # launch order
    waiting = len(members) - len(ready)
    note = f"Group **{md_escape(group)}**: {len(members)} runs"
    if waiting:
        note += f", {waiting} without a snapshot yet (they appear as soon as they have one)"
    st.markdown(note + ".")
    runs = ready
    if len(ready) > MAX_RUNS:
        by_id = {r.id: r for r in ready}
        if any(i not in by_id for i in st.session_state.get("cmp_group_runs", [])):
            st.session_state.pop("cmp_group_runs")
        picked = st.multiselect(
            f"This group has {len(ready)} runs with snapshots; the page shows {MAX_RUNS} at a time: choose which",
            list(by_id), default=list(by_id)[:MAX_RUNS], max_selections=MAX_RUNS, key="cmp_group_runs",
            format_func=lambda i: by_id[i].name)
        runs = [by_id[i] for i in picked]
    if not runs:
        st.info("No run of this group has a snapshot yet: the page updates itself as they arrive.")
    rerun_on_new_snapshots(store, members)

if runs:
    if group == NO_GROUP:
        rerun_on_new_snapshots(store, runs)
    colours = run_colours(store, runs)
    all_epochs = sorted({s["epoch"] for r in runs for s in snapshots(store, r.id)})
    c1, c2, c3 = st.columns([3, 2, 2])
    epoch = epoch_slider("Epoch", all_epochs, key="cmp_epoch", container=c1)
    space = c2.radio("Space", ["emb", "rep"], format_func={"emb": "embedding", "rep": "representation"}.get,
                     horizontal=True, key="cmp_space")
    method = c3.radio("Method", ["UMAP", "PCA"], horizontal=True, key="cmp_method")
    space_name = "embedding" if space == "emb" else "representation"

    snaps = {r.id: snapshot_at_or_before(store, r.id, epoch) for r in runs}
    arrays = {r.id: snapshot_arrays(store, r.id, snaps[r.id]["epoch"], snaps[r.id]["created"]) for r in runs}
    tasks = {registry.DATASETS[r.config["dataset"]].task for r in runs if r.config.get("dataset") in registry.DATASETS}
    classification = tasks == {"classification"}

    # --- maps -------------------------------------------------------------------------------
    st.subheader("Maps")
    same_axes = st.toggle("Same axis ranges for every map", value=True, key="cmp_same_axes",
                          help="Off: each map zooms to its own points (maps of runs whose embeddings are not "
                               "normalised can differ in scale by orders of magnitude).")
    titles, coords, fell_back = [], {}, False
    for r in runs:
        e = snaps[r.id]["epoch"]
        xy = store.projection(r.id, e, space, "umap") if method == "UMAP" else None
        shown = "UMAP" if xy is not None else "PCA"
        coords[r.id] = xy if xy is not None else arrays[r.id][f"pca_{space}"]
        fell_back |= shown != method
        titles.append(panel_title(r.name, f"{r.config['loss']} · epoch {e}" + (f" · {shown}" if shown != method else ""),
                                  n=len(runs)))
    maps = titled_grid(titles, panel_px=330)
    if same_axes:
        maps.update_xaxes(matches="x")
        maps.update_yaxes(matches="y")
    notes = []
    classes = np.unique(np.concatenate([arrays[r.id]["y"] for r in runs])) if classification else np.array([])
    for i, r in enumerate(runs):
        a, xy = arrays[r.id], coords[r.id]
        pts = plot_rows(a["y"], xy, method="map")
        if pts.note:
            notes.append((r.name, pts.note))
        rows = pts.rows
        where = cell(i, len(runs))
        if classification:  # one trace per class: a qualitative palette, one legend for every panel
            for k, c in enumerate(classes):
                sel = rows[a["y"][rows] == c]
                maps.add_trace(pts.scatter(
                    x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=str(c), legendgroup=str(c), showlegend=i == 0,
                    marker={"size": 4, "color": class_colour(k, len(classes)),
                            "symbol": np.where(a["is_test"][sel], "x", "circle")},
                    customdata=np.stack([a["index"][sel], a["y"][sel]], 1),
                    hovertemplate="index %{customdata[0]}<br>label %{customdata[1]}<extra>" + plot_escape(r.name)
                                  + "</extra>",
                ), **where)
        else:
            maps.add_trace(pts.scatter(
                x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=plot_escape(r.name), showlegend=False,
                marker={"size": 4, "color": a["y"][rows], "coloraxis": "coloraxis",
                        "symbol": np.where(a["is_test"][rows], "x", "circle")},
                customdata=np.stack([a["index"][rows], a["y"][rows]], 1),
                hovertemplate="index %{customdata[0]}<br>target %{customdata[1]:.3g}<extra>" + plot_escape(r.name)
                              + "</extra>",
            ), **where)
    maps.update_xaxes(showticklabels=same_axes)
    maps.update_yaxes(showticklabels=same_axes)
    maps.update_layout(legend={"title": "label"})
    if not classification:
        maps.update_layout(coloraxis={"colorscale": SEQUENTIAL, "colorbar": {"title": "target"}})
    st.caption(f"{method} of the {space_name}, coloured by {'label' if classification else 'target'}"
               + (" (one colour per class)" if classification else " on one colour scale")
               + ". Circles: training split; ×: held-out split.")
    st.plotly_chart(maps, width="stretch", key="cmp_maps")
    for note in panel_notes(notes, len(runs)):
        st.caption(note)
    if fell_back:
        st.caption("Panels marked PCA: their UMAP is not computed yet (the scheduler does it in the background).")

    # --- spectra and alignment-uniformity -----------------------------------------------------
    left, right = st.columns(2)
    spec = go.Figure()
    for r in runs:
        lam = arrays[r.id][f"spectrum_{space}"]
        spec.add_trace(go.Scatter(x=np.arange(1, len(lam) + 1), y=lam, mode="lines+markers", marker={"size": 4},
                                  line={"color": colours.get(r.id)}, legendgroup=r.id,
                                  name=plot_escape(f"{r.name} (epoch {snaps[r.id]['epoch']})")))
    spec.update_layout(yaxis_type="log", yaxis_dtick=1, yaxis_exponentformat="power", xaxis_title="rank k", yaxis_title="eigenvalue λ_k (log scale)", height=440,
                       title=f"Covariance spectra · {space_name}", margin={"t": 40},
                       legend={"orientation": "h", "y": -0.25})
    left.plotly_chart(spec, width="stretch", key="cmp_spectra")

    au = go.Figure()
    n_eval = []
    for r in runs:
        df = metrics_over_epochs(store, r.id)
        if df.empty or "uniformity" not in df:
            continue
        df = df[df["epoch"] <= max(epoch, int(df["epoch"].min()))]
        n_eval += [int(v) for v in df.get("n_eval", []) if v == v]
        au.add_trace(go.Scatter(x=df["uniformity"], y=df["alignment"], mode="lines+markers", name=plot_escape(r.name),
                                customdata=df["epoch"], marker={"size": 7, "color": colours.get(r.id)},
                                line={"color": colours.get(r.id)}, legendgroup=r.id,
                                hovertemplate="epoch %{customdata}<br>uniformity %{x:.3f}<br>alignment %{y:.3f}"
                                              "<extra>%{fullData.name}</extra>"))
    au.add_vline(x=uniformity_optimum(max(n_eval) if n_eval else 1000), line_dash="dash", line_color="gray")
    au.update_yaxes(rangemode="tozero")
    au.update_layout(xaxis_title="uniformity (lower = more uniform)", yaxis_title="alignment (lower = better aligned)",
                     title="Alignment–uniformity over epochs", height=440, margin={"t": 40},
                     legend={"orientation": "h", "y": -0.25})
    right.plotly_chart(au, width="stretch", key="cmp_au")
    st.caption("Spectra: held-out split, floor 10⁻¹². Alignment–uniformity: one point per snapshot up to the chosen "
               "epoch; the dashed line is the optimum of uniformity.")

    # --- table -----------------------------------------------------------------------------
    st.subheader("Metrics")
    # a run made without a temperature uses its loss's own: show that value, not a blank
    differs = config_differences([{**r.config, "temperature": registry.temperature_of(r.config)} for r in runs])
    best_marked_table(
        [r.name for r in runs], [snaps[r.id]["metrics"] for r in runs],
        {"knn_accuracy": "kNN acc", "linear_accuracy": "linear acc", "knn_mae": "kNN MAE", "linear_mae": "linear MAE",
         "linear_r2": "linear R²", "rank_correlation": "rank corr", "alignment": "alignment",
         "uniformity": "uniformity", "rankme": "RankMe"},
        key="cmp_table",
        leading={"epoch": [snaps[r.id]["epoch"] for r in runs],
                 **{k: ["–" if v is None else f"{v:g}" if isinstance(v, float) else str(v) for v in vals]
                    for k, vals in differs.items()}},
    )
    if differs:
        st.caption("Columns after the run name: the settings in which these runs differ ("
                   + ", ".join(differs) + ").")
    if len(tasks) > 1:
        st.caption("These runs mix classification and regression datasets: accuracies and errors are not comparable "
                   "across them.")
