"""Embedding Map: PCA at once, UMAP when the worker has it; coloured by label."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from ui.data import dataset_images, get_store, snapshot_arrays, snapshots
from ui.points import plot_rows
from ui.widgets import explain, pick_run

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
    snaps = snapshots(store, run.id)
    epochs = [s["epoch"] for s in snaps]
    c1, c2, c3 = st.columns([2, 1, 1])
    epoch = c1.select_slider("Epoch", options=epochs, value=epochs[-1], key="map_epoch") if len(epochs) > 1 else epochs[0]
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
    palette = px.colors.qualitative.D3 if len(np.unique(y)) <= 10 else px.colors.qualitative.Alphabet
    if classification:
        for c in np.unique(y[rows]):
            for test in (False, True):
                sel = rows[(y[rows] == c) & (is_test[rows] == test)]
                if not len(sel):
                    continue
                fig.add_trace(Scatter(
                    x=coords[sel, 0], y=coords[sel, 1], mode="markers", name=f"{c}" + (" (held-out)" if test else ""),
                    legendgroup=str(c), showlegend=not test,
                    marker={"size": 6 if not test else 8, "symbol": "x" if test else "circle",
                            "color": palette[int(c) % len(palette)], "opacity": 0.8},
                    customdata=np.stack([idx[sel], y[sel]], 1),
                    hovertemplate="index %{customdata[0]}<br>label %{customdata[1]}<extra></extra>",
                ))
    else:
        values = y if colour == "label / target" else arr[f"ps_{colour}"]
        fig.add_trace(Scatter(
            x=coords[rows, 0], y=coords[rows, 1], mode="markers", name="samples",
            marker={"size": 6, "color": values[rows], "colorscale": "Viridis", "showscale": True,
                    "colorbar": {"title": colour}, "symbol": np.where(is_test[rows], "x", "circle")},
            customdata=np.stack([idx[rows], y[rows], values[rows]], 1),
            hovertemplate="index %{customdata[0]}<br>label/target %{customdata[1]:.3g}<br>" + colour
                          + " %{customdata[2]:.3g}<extra></extra>",
        ))
    fig.update_layout(height=620, title=f"{shown} of the {'embedding' if space == 'emb' else 'representation'} · "
                      f"{run.name} · epoch {epoch}", xaxis_title=f"{shown} 1", yaxis_title=f"{shown} 2",
                      legend={"title": "label"}, margin={"t": 40})
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    event = st.plotly_chart(fig, width="stretch", key="map_chart", on_select="rerun",
                            selection_mode=("points",))
    st.caption("Circles: training split; ×: held-out split. Hover for index and label; click a point to inspect it.")
    pts = (event or {}).get("selection", {}).get("points", []) if isinstance(event, dict) or hasattr(event, "get") else []
    if pts:
        p = pts[0]
        cd = p.get("customdata") or []
        if cd:
            sample = int(cd[0])
            st.markdown(f"**Selected sample** index {sample}, label/target {cd[1]}")
            imgs = dataset_images(run.config["dataset"])
            if imgs is not None and 0 <= sample < len(imgs):
                im = px.imshow(imgs[sample], color_continuous_scale="gray_r", width=220, height=220)
                im.update_layout(coloraxis_showscale=False, margin={"l": 0, "r": 0, "t": 0, "b": 0})
                im.update_xaxes(visible=False)
                im.update_yaxes(visible=False)
                st.plotly_chart(im, key="map_image")
