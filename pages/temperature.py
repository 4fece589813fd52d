"""Temperature: iSogCLR's learned per-sample temperatures against class frequency, next to a
run with one global temperature."""

from __future__ import annotations

import streamlit as st

from analysis.temperature import extreme_samples
from trainers import registry
from ui.data import (
    data_options,
    dataset_images,
    get_store,
    run_colours,
    run_label,
    snapshot_arrays,
    snapshot_at_or_before,
    snapshots,
)
from ui.download import chart
from ui.points import map_coords, plot_rows
from ui.temperature_views import (
    N_EXTREME,
    SECTIONS,
    accuracy_by_class,
    class_accuracy_figure,
    class_box_figure,
    closest_first,
    evolution_figure,
    extremes_figure,
    extremes_table,
    global_tau,
    histogram_figure,
    learns_tau,
    side_by_side_table,
    signed,
    tau_map_figure,
    tau_snapshot,
    trajectory,
)
from ui.widgets import epoch_slider, explain, pick_run, rerun_on_new_snapshots, runs_with_snapshots

store = get_store()
st.title("Temperature")
explain(
    "the temperature iSogCLR learns for each training sample (Qiu et al., 2023)",
    [
        r"g_i = \operatorname{mean}_{j \in \mathcal{N}_i} e^{s_{ij}/\tau_i},\quad u_i \leftarrow (1-\gamma)\,u_i + \gamma\, g_i,"
        r"\quad p_{ij} = e^{s_{ij}/\tau_i} / u_i",
        r"\tau_i \leftarrow \operatorname{clip}\big(\tau_i - \eta\, m_i\big),\quad m_i \leftarrow (1-\beta)\, m_i + \beta\,"
        r"\Big(\log u_i + \rho - \operatorname{mean}_{j} \tfrac{p_{ij}\, s_{ij}}{\tau_i}\Big)",
    ],
    "Every training sample i keeps its own temperature τᵢ (start τ_init, clipped to [τ_min, τ_max]), moved by a "
    "gradient step on a distributionally robust objective: ρ sets how far the weights on the negatives may move "
    "away from uniform. A small τᵢ sharpens the sample's contrast (it focuses on its hardest negatives); a large "
    "τᵢ spreads it out. Held-out samples have no temperature. **What to look for:** on class-imbalanced data, "
    "samples of **frequent** classes end with **larger** τᵢ than samples of rare classes (the boxes fall from "
    "left to right, and the Spearman correlation between τᵢ and class frequency is positive); the gain over one "
    "global temperature shows on the rare classes.",
    expanded=False,
)


run = pick_run(store, "temp_run", label="iSogCLR run", where=learns_tau,
               empty="No run learns a per-sample temperature yet. Train one with the loss **isogclr** on the "
                     "**Train** page, best on class-imbalanced data (e.g. the preset *Sphere mixture, long tail 10x* "
                     "with the loss isogclr), and a **sogclr** run with the same settings to compare with.")
if run is not None:
    rerun_on_new_snapshots(store, [run])
    snaps = snapshots(store, run.id)
    epochs = [s["epoch"] for s in snaps]
    epoch = epoch_slider("Epoch", epochs, key="temp_epoch")
    snap = next(s for s in snaps if s["epoch"] == epoch)
    arr = snapshot_arrays(store, run.id, epoch, snap["created"])
    t = tau_snapshot(arr)
    tau0 = registry.temperature_of(run.config)

    m = snap["metrics"]
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("τᵢ mean", f"{t.summary['mean']:.3f}", help=f"τ_init = {tau0:g}")
    c2.metric("τᵢ std", f"{t.summary['std']:.3f}")
    c3.metric("τᵢ range", f"{t.summary['min']:.2f}–{t.summary['max']:.2f}")
    c4.metric("ρ(τᵢ, class size)", signed(t.rho),
              help="Spearman correlation between each training sample's τᵢ and the number of training samples of "
                   "its class. Positive: frequent classes have larger temperatures (iSogCLR's claim).")
    c5.metric("kNN accuracy", f"{m['knn_accuracy']:.3f}" if m.get("knn_accuracy") is not None else "–",
              help="Held-out split (at most 5,000 of its samples, a fixed stratified sample), k = 20, cosine, "
                   "on the representation.")

    section = st.segmented_control(
        "Show", SECTIONS, default=SECTIONS[0], key="temp_section",
        help="One part of the view at a time: the distribution of τᵢ, the map coloured by τᵢ, the samples with "
             "the extreme τᵢ, how τᵢ evolved, and the comparison with a run that has one global temperature.",
    ) or SECTIONS[0]
    if section == "distribution":
        left, right = st.columns(2)
        left.plotly_chart(histogram_figure(t, tau0=tau0, epoch=epoch), width="stretch", key="temp_hist")
        right.plotly_chart(class_box_figure(t, tau0=tau0), width="stretch", key="temp_box")

    if section == "map":
        st.subheader("The map coloured by τᵢ")
        method = st.radio("Method", ["UMAP", "PCA"], horizontal=True, key="temp_method")
        mapped = map_coords(store, run.id, epoch, "emb", method, arr)
        if mapped.method != method:
            st.caption("The UMAP map of this snapshot is not computed yet (the scheduler does it in the background): "
                       "showing PCA.")
        pts = plot_rows(t.y, mapped.coords, method=f"{mapped.method} map")
        chart(tau_map_figure(t, mapped.coords, pts, shown=mapped.method, run_name=run.name, epoch=epoch),
                        width="stretch", key="temp_map")
        if pts.note:
            st.caption(pts.note)

    if section == "extremes":
        st.subheader(f"The {N_EXTREME} samples with the lowest and the highest τᵢ")
        low, high = extreme_samples(t.tau, k=N_EXTREME)
        images = dataset_images(run.config["dataset"], data_options(run.config))
        if images is not None:
            chart(extremes_figure(t, images, low, high), width="stretch", key="temp_extremes")
            st.caption("Top row: lowest τᵢ (sharpest contrast); bottom row: highest τᵢ. Titles: τᵢ · class.")
        t1, t2 = st.columns(2)
        for col, rows, what in ((t1, low, "lowest"), (t2, high, "highest")):
            col.markdown(f"**{what.capitalize()} τᵢ**")
            col.dataframe(extremes_table(t, rows), hide_index=True, width="stretch", key=f"temp_{what}")

    if section == "evolution":
        st.subheader("How τᵢ evolved")
        traj = trajectory(str(store.root), run.id, tuple((s["epoch"], s["created"]) for s in snaps))
        chart(evolution_figure(traj), width="stretch", key="temp_evolution")
        st.caption("Classes are cut into three groups by their number of training samples (most frequent first). "
                   "Points are snapshot epochs (0 = before training, every τᵢ = τ_init).")

    if section == "next to a global τ":
        st.subheader("Next to one global temperature")
        others = [r for r in runs_with_snapshots(store) if global_tau(r)]
        if not others:
            st.info("No classification run with a global temperature yet: train a **sogclr** run (iSogCLR's surrogate "
                    "with one fixed τ) with the same dataset and imbalance to compare.")
        else:
            ordered = closest_first(others, run)
            by_id = {r.id: r for r in ordered}
            if st.session_state.get("temp_ref") not in by_id:
                st.session_state["temp_ref"] = ordered[0].id
            ref = by_id[st.selectbox("Run with a global temperature", list(by_id), key="temp_ref",
                                     format_func=lambda i: run_label(by_id[i]),
                                     help="Closest first: same dataset and imbalance, a sogclr run, the same group.")]
            if ref.config.get("dataset") != run.config.get("dataset"):
                st.warning("This run trained on another dataset: the comparison says little.")
            ref_snap = snapshot_at_or_before(store, ref.id, epoch)
            st.dataframe(side_by_side_table(run, ref, t, epoch=epoch, metrics=m, ref_epoch=ref_snap["epoch"],
                                            ref_metrics=ref_snap["metrics"]),
                         hide_index=True, width="stretch", key="temp_side")

            acc = accuracy_by_class(str(store.root), run.id, epoch, snap["created"], t.classes)
            ref_acc = accuracy_by_class(str(store.root), ref.id, ref_snap["epoch"], ref_snap["created"], t.classes)
            chart(class_accuracy_figure(t, acc, ref_acc, run, ref, run_colours(store, [run, ref])),
                            width="stretch", key="temp_class_acc")
            st.caption("Per-class kNN accuracy (k = 20, cosine, on the representation), held-out split. The claim: "
                       "the learned temperatures help most on the rare classes (right).")
