"""Embedding Map: PCA at once, UMAP when the worker has it; coloured by label."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from trainers import registry
from ui import map_selection
from ui.colours import SEQUENTIAL, class_colour
from ui.data import dataset_images, get_store, snapshot_arrays, snapshots
from ui.points import plot_rows
from ui.text import md_escape, plot_escape
from ui.widgets import epoch_slider, explain, pick_run, rerun_on_new_snapshots

SELECTED = "map_selected"  # the clicked sample (ui.map_selection.Selection), kept across epochs and runs

store = get_store()
st.title("Embedding Map")
explain(
    "a 2-D map of the embeddings of every sample (train and held-out)",
    [r"\text{PCA: } Y = (Z - \bar Z) W_{2},\qquad \text{UMAP: } \min_Y \sum_{ij} \mathrm{CE}\big(p_{ij}(Z), q_{ij}(Y)\big)"],
    "**PCA** is a linear view: the two directions of largest variance (it never distorts distances more than it "
    "must, but hides structure in the other directions). **UMAP** keeps neighbourhoods (which points are close), "
    "not global distances: cluster sizes and gaps between clusters mean little. UMAP is computed in the background "
    "by the scheduler after each snapshot; until it is ready, PCA is shown. Successive epochs are aligned to each "
    "other so that the epoch slider shows motion. **What to look for:** classes separating over epochs; "
    "collapsed runs shrink to a line or a point; held-out points (×) land among their class.",
    expanded=False,
)

run = pick_run(store, "map_run")
if run is not None:
    rerun_on_new_snapshots(store, [run])
    snaps = snapshots(store, run.id)
    dataset = run.config["dataset"]
    c1, c2, c3 = st.columns([2, 1, 1])
    epoch = epoch_slider("Epoch", [s["epoch"] for s in snaps], key="map_epoch", container=c1)
    space = c2.radio("Space", ["emb", "rep"], format_func={"emb": "embedding", "rep": "representation"}.get,
                     horizontal=True, key="map_space")
    method = c3.radio("Method", ["UMAP", "PCA"], horizontal=True, key="map_method")
    snap = next(s for s in snaps if s["epoch"] == epoch)
    arr = snapshot_arrays(store, run.id, epoch, snap["created"])
    coords = None
    if method == "UMAP":
        coords = store.projection(run.id, epoch, space, "umap")
        if coords is None:
            st.info("The UMAP map of this snapshot is being computed in the background; showing PCA until it is "
                    "ready (the page updates itself).")

            @st.fragment(run_every=2.0)
            def wait_for_umap() -> None:
                if store.projection(run.id, epoch, space, "umap") is not None:
                    st.rerun()

            wait_for_umap()
    shown = "UMAP" if coords is not None else "PCA"
    if coords is None:
        coords = arr[f"pca_{space}"]
    if epoch == 0:
        ds = registry.DATASETS.get(dataset)
        knn = snap["metrics"].get("knn_accuracy")
        st.caption(
            "Epoch 0 is the encoder before any training. A random network roughly keeps the neighbourhoods of its "
            f"input, and the raw {dataset} data is already "
            + ("clustered by class" if ds is not None and ds.task == "classification" else "structured by its target")
            + (f" (kNN accuracy of the untrained encoder: {knn:.2f})" if knn is not None else "")
            + ", so this map looks organised before training: compare later epochs with this one, not with a blank."
        )

    y = arr["y"]
    idx = arr["index"]
    is_test = arr["is_test"]
    colour_opts = ["label / target"] + [k[3:] for k in arr if k.startswith("ps_")]
    colour = st.radio("Colour by", colour_opts, horizontal=True, key="map_colour") if len(colour_opts) > 1 else colour_opts[0]
    pts = plot_rows(y, coords, method=f"{shown} map")
    if pts.note:
        st.caption(pts.note)
    rows, Scatter = pts.rows, pts.scatter
    classification = np.issubdtype(y.dtype, np.integer) and colour == "label / target"
    fig = go.Figure()
    if classification:
        classes = np.unique(y)
        for k, c in enumerate(classes):
            for test in (False, True):
                sel = rows[(y[rows] == c) & (is_test[rows] == test)]
                if not len(sel):
                    continue
                fig.add_trace(Scatter(
                    x=coords[sel, 0], y=coords[sel, 1], mode="markers", name=f"{c}" + (" (held-out)" if test else ""),
                    legendgroup=str(c), showlegend=not test,
                    marker={"size": 6 if not test else 8, "symbol": "x" if test else "circle",
                            "color": class_colour(k, len(classes)), "opacity": 0.8},
                    customdata=np.stack([idx[sel], y[sel]], 1),
                    hovertemplate="index %{customdata[0]}<br>label %{customdata[1]}<extra></extra>",
                ))
    else:
        values = y if colour == "label / target" else arr[f"ps_{colour}"]
        fig.add_trace(pts.trace(
            x=coords[rows, 0], y=coords[rows, 1], mode="markers", name="samples",
            marker={"size": 6, "color": values[rows], "colorscale": SEQUENTIAL, "showscale": True,
                    "colorbar": {"title": plot_escape(colour)}, "symbol": np.where(is_test[rows], "x", "circle")},
            customdata=np.stack([idx[rows], y[rows], values[rows]], 1),
            hovertemplate="index %{customdata[0]}<br>label/target %{customdata[1]:.3g}<br>" + plot_escape(colour)
                          + " %{customdata[2]:.3g}<extra></extra>",
        ))
    # the clicked sample (the chart's last event is in the session before the chart is drawn),
    # ringed at its place in this epoch's map
    chosen = map_selection.remember_click(st.session_state.get("map_chart"), key=SELECTED, run_id=run.id,
                                          dataset=dataset)
    row = np.flatnonzero(idx == chosen.index) if chosen is not None else np.array([], dtype=int)
    if len(row) and np.isfinite(coords[row[0]]).all():
        fig.add_trace(Scatter(
            x=coords[row[:1], 0], y=coords[row[:1], 1], mode="markers", name="selected", showlegend=False,
            marker={"size": 16, "symbol": "circle-open", "color": "black", "line": {"width": 2}},
            customdata=np.stack([idx[row[:1]], y[row[:1]]], 1),
            hovertemplate="selected: index %{customdata[0]}<extra></extra>",
        ))
    fig.update_layout(height=620, title=f"{shown} of the {'embedding' if space == 'emb' else 'representation'} · "
                      f"{plot_escape(run.name)} · epoch {epoch}", xaxis_title=f"{shown} 1", yaxis_title=f"{shown} 2",
                      legend={"title": "label"}, margin={"t": 40})
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    st.plotly_chart(fig, width="stretch", key="map_chart", on_select="rerun", selection_mode=("points",))
    st.caption("Circles: training split; ×: held-out split. Hover for index and label; click a point to inspect it.")

    if chosen is not None:
        with st.container(border=True, key="map_sample"):
            row = np.flatnonzero(idx == chosen.index)
            where = f"run **{md_escape(run.name)}**, epoch {epoch}"
            if not len(row):
                st.markdown(f"**Selected sample {chosen.index}**: not in the snapshot of {where}.")
            else:
                r = row[0]
                label = int(y[r]) if np.issubdtype(y.dtype, np.integer) else f"{float(y[r]):.3g}"
                split = "held-out" if is_test[r] else "training"
                xy = coords[r]
                place = (f"at ({xy[0]:.2f}, {xy[1]:.2f}) on this {shown} map" if np.isfinite(xy).all()
                         else f"not on this {shown} map (it covers a sample of the points)")
                st.markdown(f"**Selected sample {chosen.index}** · {'label' if classification else 'label/target'} "
                            f"{label} · {split} split · {where} · {place}")
                imgs = dataset_images(dataset)
                if imgs is not None and 0 <= chosen.index < len(imgs):
                    im = px.imshow(imgs[chosen.index], color_continuous_scale="gray_r", width=220, height=220)
                    im.update_layout(coloraxis_showscale=False, margin={"l": 0, "r": 0, "t": 0, "b": 0})
                    im.update_xaxes(visible=False)
                    im.update_yaxes(visible=False)
                    st.plotly_chart(im, key="map_image", config={"displayModeBar": False})
                    st.caption(f"Sample {chosen.index} as the encoder sees it (8×8 pixels).")
            st.caption("The selection stays on this sample across epochs and runs of this dataset.")
            if st.button("Clear selection", key="map_clear"):
                map_selection.clear(SELECTED)
                st.rerun()
