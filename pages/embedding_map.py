"""Embedding Map: PCA at once, UMAP when the worker has it; coloured by label, a per-sample value or a
factor of variation of the dataset."""

from __future__ import annotations

import streamlit as st

from trainers import registry
from ui import map_selection
from ui.data import (
    data_options,
    dataset_images,
    get_store,
    snapshot_arrays,
    snapshot_factors,
    snapshots,
)
from ui.download import chart, run_download_button
from ui.embedding_map_views import (
    colour_options,
    image_caption,
    map_figure,
    sample_image_figure,
    sample_line,
    sample_row,
    shows_classes,
)
from ui.points import map_coords, plot_rows
from ui.text import md_escape
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
    "other so that the epoch slider shows motion. **Colour by** a factor of variation (the shapes world's colour, "
    "position, scale, angle, background) to see what the map is organised by besides the label. "
    "**What to look for:** classes separating over epochs; "
    "collapsed runs shrink to a line or a point; held-out points (×) land among their class; on the shapes world, "
    "clusters by colour or a smooth gradient of position mean the space keeps that factor.",
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
    mapped = map_coords(store, run.id, epoch, space, method, arr)
    if mapped.method != method:  # UMAP asked for, not computed yet
        st.info("The UMAP map of this snapshot is being computed in the background; showing PCA until it is "
                "ready (the page updates itself).")

        @st.fragment(run_every=2.0)
        def wait_for_umap() -> None:
            if store.projection(run.id, epoch, space, "umap") is not None:
                st.rerun()

        wait_for_umap()
    coords, shown = mapped.coords, mapped.method
    if epoch == 0 and not run.imported:
        ds = registry.DATASETS.get(dataset)
        knn = snap["metrics"].get("knn_accuracy")
        st.caption(
            "Epoch 0 is the encoder before any training. A random network roughly keeps the neighbourhoods of its "
            f"input, and the raw {dataset} data is already "
            + ("clustered by class" if ds is not None and ds.task == "classification" else "structured by its target")
            + (f" (kNN accuracy of the untrained encoder: {knn:.2f})" if knn is not None else "")
            + ", so this map looks organised before training: compare later epochs with this one, not with a blank."
        )

    factors = snapshot_factors(arr, run.config, snap["metrics"])
    options = colour_options(arr, list(factors))
    if st.session_state.get("map_colour") not in options:  # a choice another run's snapshot offered
        st.session_state.pop("map_colour", None)
    colour = (st.selectbox("Colour by", options, key="map_colour",
                           help="The label (or target), a per-sample value of the run, or a factor of variation of "
                                "the dataset: classes get one colour each, numbers a colour bar.")
              if len(options) > 1 else options[0])
    pts = plot_rows(arr["y"], coords, method=f"{shown} map")
    if pts.note:
        st.caption(pts.note)
    # the clicked sample (the chart's last event is in the session before the chart is drawn),
    # ringed at its place in this epoch's map
    chosen = map_selection.remember_click(st.session_state.get("map_chart"), key=SELECTED, run_id=run.id,
                                          dataset=dataset)
    row = sample_row(arr, chosen.index) if chosen is not None else None
    fig = map_figure(arr, coords, pts, colour=colour, shown=shown, space=space, run_name=run.name, epoch=epoch,
                     selected=row, factors=factors)
    chart(fig, width="stretch", key="map_chart", on_select="rerun", selection_mode=("points",))
    st.caption("Circles: training split; ×: held-out split. Hover for index and label; click a point to inspect it.")
    run_download_button(store, run.id, epoch, key="map_parquet")

    if chosen is not None:
        with st.container(border=True, key="map_sample"):
            where = f"run **{md_escape(run.name)}**, epoch {epoch}"
            if row is None:
                st.markdown(f"**Selected sample {chosen.index}**: not in the snapshot of {where}.")
            else:
                st.markdown(sample_line(arr, coords, row, shown=shown, classes=shows_classes(arr["y"], colour),
                                        where=where))
                imgs = dataset_images(dataset, data_options(run.config))
                if imgs is not None and 0 <= chosen.index < len(imgs):
                    st.plotly_chart(sample_image_figure(imgs[chosen.index]), key="map_image",
                                    config={"displayModeBar": False})
                    st.caption(image_caption(chosen.index, imgs[chosen.index]))
            st.caption("The selection stays on this sample across epochs and runs of this dataset.")
            if st.button("Clear selection", key="map_clear"):
                map_selection.clear(SELECTED)
                st.rerun()
