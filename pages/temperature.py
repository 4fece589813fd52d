"""Temperature: iSogCLR's learned per-sample temperatures against class frequency, next to a
run with one global temperature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from analysis.temperature import (
    accuracy_by_class_from_hits,
    extreme_samples,
    knn_accuracy_by_class,
    tau_by_class,
    tau_frequency_correlation,
    tau_summary,
    tau_trajectory,
)
from jobs import store as stmod
from trainers import registry
from ui.data import (
    dataset_images,
    get_store,
    light_snapshot,
    load_snapshot,
    one_thread,
    run_colours,
    run_label,
    snapshot_arrays,
    snapshot_at_or_before,
    snapshots,
)
from ui.points import plot_rows
from ui.text import plot_escape
from ui.widgets import epoch_slider, explain, pick_run, rerun_on_new_snapshots, runs_with_snapshots

SECTIONS = ["distribution", "map", "extremes", "evolution", "next to a global τ"]
N_EXTREME = 8  # samples shown at each end of the temperature range

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


def learns_tau(r: stmod.RunRecord) -> bool:
    spec = registry.LOSSES.get(r.config.get("loss", ""))
    return bool(spec and spec.per_sample_tau)


def global_tau(r: stmod.RunRecord) -> bool:
    ds = registry.DATASETS.get(r.config.get("dataset", ""))
    return not learns_tau(r) and ds is not None and ds.task == "classification"


@st.cache_data(show_spinner=False, max_entries=16)
def trajectory(root: str, run_id: str, stamps: tuple[tuple[int, float], ...]) -> dict[str, np.ndarray]:
    arrs = [light_snapshot(root, run_id, e, c) for e, c in stamps]
    return tau_trajectory([e for e, _ in stamps], [a["ps_tau"] for a in arrs], arrs[-1]["y"])


@st.cache_data(show_spinner=False, max_entries=32)
def accuracy_by_class(root: str, run_id: str, epoch: int, created: float, classes: tuple) -> np.ndarray:
    light = light_snapshot(root, run_id, epoch, created)
    if "knn_hit" in light:  # the probe's outcomes, stored by the worker with the snapshot
        return accuracy_by_class_from_hits(light["knn_hit"], light["y"], classes=np.asarray(classes))
    a = load_snapshot(root, run_id, epoch, created)  # snapshots written before knn_hit existed
    tr = ~a["is_test"]
    with one_thread():
        return knn_accuracy_by_class(a["rep"][tr], a["y"][tr], a["rep"][~tr], a["y"][~tr], classes=np.asarray(classes))


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
    tau, y, is_test, idx = arr["ps_tau"], arr["y"], arr["is_test"], arr["index"]
    by_class = tau_by_class(tau, y)
    freq_of = dict(zip(by_class.classes.tolist(), by_class.counts.tolist(), strict=True))
    cls_labels = [f"{c} (n={n})" for c, n in zip(by_class.classes, by_class.counts, strict=True)]
    summary = tau_summary(tau)
    tau0 = registry.temperature_of(run.config)

    m = snap["metrics"]
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("τᵢ mean", f"{summary['mean']:.3f}", help=f"τ_init = {tau0:g}")
    c2.metric("τᵢ std", f"{summary['std']:.3f}")
    c3.metric("τᵢ range", f"{summary['min']:.2f}–{summary['max']:.2f}")
    rho = tau_frequency_correlation(tau, y)
    c4.metric("ρ(τᵢ, class size)", "–" if np.isnan(rho) else f"{rho:+.2f}",
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
        hist = go.Figure(go.Histogram(x=tau[~is_test], nbinsx=40, name="τᵢ", marker={"color": "#4c78a8"}))
        hist.add_vline(x=tau0, line_dash="dash", line_color="gray", annotation_text=f"τ_init {tau0:g}")
        hist.update_layout(title=f"τᵢ of {int(summary['n']):,} training samples · epoch {epoch}",
                           xaxis_title="learned temperature τᵢ", yaxis_title="samples", height=400, margin={"t": 50},
                           bargap=0.05)
        left.plotly_chart(hist, width="stretch", key="temp_hist")

        box = go.Figure()
        for label, vals in zip(cls_labels, by_class.values, strict=True):
            box.add_trace(go.Box(y=vals, name=label, boxpoints=False, marker={"color": "#4c78a8"}, showlegend=False))
        box.add_hline(y=tau0, line_dash="dash", line_color="gray")
        box.update_layout(title="τᵢ per class, most frequent class first", xaxis_title="class (training samples)",
                          yaxis_title="learned temperature τᵢ", height=400, margin={"t": 50})
        right.plotly_chart(box, width="stretch", key="temp_box")

    if section == "map":
        st.subheader("The map coloured by τᵢ")
        method = st.radio("Method", ["UMAP", "PCA"], horizontal=True, key="temp_method")
        coords = store.projection(run.id, epoch, "emb", "umap") if method == "UMAP" else None
        if method == "UMAP" and coords is None:
            st.caption("The UMAP map of this snapshot is not computed yet (the scheduler does it in the background): "
                       "showing PCA.")
        shown = "UMAP" if coords is not None else "PCA"
        if coords is None:
            coords = arr["pca_emb"]
        pts = plot_rows(y, coords, method=f"{shown} map")
        shown_rows = np.zeros(len(y), dtype=bool)
        shown_rows[pts.rows] = True
        fmap = go.Figure()
        te = shown_rows & is_test
        fmap.add_trace(pts.scatter(
            x=coords[te, 0], y=coords[te, 1], mode="markers", name="held-out (no τ)",
            marker={"size": 5, "color": "lightgray", "symbol": "x"}, hoverinfo="skip"))
        tr = shown_rows & ~is_test
        fmap.add_trace(pts.scatter(
            x=coords[tr, 0], y=coords[tr, 1], mode="markers", name="training samples",
            marker={"size": 6, "color": tau[tr], "colorscale": "Viridis", "showscale": True, "colorbar": {"title": "τᵢ"}},
            customdata=np.stack([idx[tr], y[tr], tau[tr]], 1),
            hovertemplate="index %{customdata[0]}<br>class %{customdata[1]}<br>τ %{customdata[2]:.3f}<extra></extra>"))
        fmap.update_layout(title=f"{shown} of the embedding · {plot_escape(run.name)} · epoch {epoch}", xaxis_title=f"{shown} 1",
                           yaxis_title=f"{shown} 2", height=560, margin={"t": 50}, legend={"orientation": "h", "y": -0.12})
        fmap.update_yaxes(scaleanchor="x", scaleratio=1)
        st.plotly_chart(fmap, width="stretch", key="temp_map")
        if pts.note:
            st.caption(pts.note)

    if section == "extremes":
        st.subheader(f"The {N_EXTREME} samples with the lowest and the highest τᵢ")
        low, high = extreme_samples(tau, k=N_EXTREME)
        images = dataset_images(run.config["dataset"])
        if images is not None:
            n_cols = max(len(low), len(high))
            titles = [f"τ {tau[r]:.2f} · {y[r]}" for r in low] + [""] * (n_cols - len(low)) + \
                     [f"τ {tau[r]:.2f} · {y[r]}" for r in high] + [""] * (n_cols - len(high))
            grid = make_subplots(rows=2, cols=n_cols, subplot_titles=titles, horizontal_spacing=0.01, vertical_spacing=0.12)
            for row, rows in ((1, low), (2, high)):
                for col, r in enumerate(rows, start=1):
                    grid.add_trace(go.Heatmap(z=images[idx[r]], colorscale="gray_r", showscale=False,
                                              name=f"index {idx[r]}", hovertemplate=f"index {idx[r]}<extra></extra>"),
                                   row=row, col=col)
            grid.update_xaxes(visible=False)
            grid.update_yaxes(visible=False, autorange="reversed")
            grid.update_annotations(font_size=11)
            grid.update_layout(height=330, margin={"t": 30, "b": 0, "l": 0, "r": 0})
            st.plotly_chart(grid, width="stretch", key="temp_extremes")
            st.caption("Top row: lowest τᵢ (sharpest contrast); bottom row: highest τᵢ. Titles: τᵢ · class.")
        t1, t2 = st.columns(2)
        for col, rows, what in ((t1, low, "lowest"), (t2, high, "highest")):
            col.markdown(f"**{what.capitalize()} τᵢ**")
            col.dataframe(pd.DataFrame({"index": idx[rows], "class": y[rows], "class frequency": [freq_of[c] for c in y[rows]],
                                        "τᵢ": tau[rows]}), hide_index=True, width="stretch", key=f"temp_{what}")

    if section == "evolution":
        st.subheader("How τᵢ evolved")
        traj = trajectory(str(store.root), run.id, tuple((s["epoch"], s["created"]) for s in snaps))
        evo = go.Figure()
        colours = ["#1f77b4", "#ff7f0e", "#d62728", "#2ca02c", "#9467bd"]
        for g in np.unique(traj["group"]):
            sel = traj["group"] == g
            name, classes, colour = traj["group_name"][sel][0], traj["classes"][sel][0], colours[int(g) % len(colours)]
            ep = traj["epoch"][sel]
            evo.add_trace(go.Scatter(x=np.r_[ep, ep[::-1]], y=np.r_[traj["q_high"][sel], traj["q_low"][sel][::-1]],
                                     fill="toself", fillcolor=colour, opacity=0.18, line={"width": 0}, hoverinfo="skip",
                                     name=f"{name}: 10–90% band", legendgroup=name, showlegend=False))
            evo.add_trace(go.Scatter(x=ep, y=traj["mean"][sel], mode="lines+markers", line={"color": colour},
                                     name=f"{name} classes ({classes})", legendgroup=name,
                                     hovertemplate="epoch %{x}<br>mean τ %{y:.3f}<extra>" + name + "</extra>"))
        evo.update_layout(xaxis_title="epoch", yaxis_title="τᵢ (mean; band: 10%–90% quantiles)", height=420,
                          margin={"t": 30}, legend={"orientation": "h", "y": -0.2, "title": "class-frequency group"})
        st.plotly_chart(evo, width="stretch", key="temp_evolution")
        st.caption("Classes are cut into three groups by their number of training samples (most frequent first). "
                   "Points are snapshot epochs (0 = before training, every τᵢ = τ_init).")

    if section == "next to a global τ":
        st.subheader("Next to one global temperature")
        others = [r for r in runs_with_snapshots(store) if global_tau(r)]
        if not others:
            st.info("No classification run with a global temperature yet: train a **sogclr** run (iSogCLR's surrogate "
                    "with one fixed τ) with the same dataset and imbalance to compare.")
        else:
            def closeness(r: stmod.RunRecord) -> tuple:
                c, o = run.config, r.config
                return (o.get("dataset") != c.get("dataset"), o.get("imbalance_ratio") != c.get("imbalance_ratio"),
                        o.get("loss") != "sogclr", r.group != run.group or not run.group, o.get("seed") != c.get("seed"))

            ordered = sorted(others, key=closeness)
            by_id = {r.id: r for r in ordered}
            if st.session_state.get("temp_ref") not in by_id:
                st.session_state["temp_ref"] = ordered[0].id
            ref = by_id[st.selectbox("Run with a global temperature", list(by_id), key="temp_ref",
                                     format_func=lambda i: run_label(by_id[i]),
                                     help="Closest first: same dataset and imbalance, a sogclr run, the same group.")]
            if ref.config.get("dataset") != run.config.get("dataset"):
                st.warning("This run trained on another dataset: the comparison says little.")
            ref_snap = snapshot_at_or_before(store, ref.id, epoch)
            rows = [("loss", run.config["loss"], ref.config["loss"]),
                    ("temperature", f"learned per sample: {summary['mean']:.3f} ± {summary['std']:.3f}", f"global: {registry.temperature_of(ref.config):g}"),
                    ("epoch", str(epoch), str(ref_snap["epoch"]))]
            for key, label in (("knn_accuracy", "kNN accuracy"), ("linear_accuracy", "linear accuracy"),
                               ("alignment", "alignment"), ("uniformity", "uniformity"), ("rankme", "RankMe")):
                a, b = m.get(key), ref_snap["metrics"].get(key)
                rows.append((label, "–" if a is None else f"{a:.3f}", "–" if b is None else f"{b:.3f}"))
            st.dataframe(pd.DataFrame(rows, columns=["", f"iSogCLR · {run.name}", f"global τ · {ref.name}"]),
                         hide_index=True, width="stretch", key="temp_side")

            classes = tuple(by_class.classes.tolist())
            acc_iso = accuracy_by_class(str(store.root), run.id, epoch, snap["created"], classes)
            acc_ref = accuracy_by_class(str(store.root), ref.id, ref_snap["epoch"], ref_snap["created"], classes)
            colours = run_colours(store, [run, ref])
            bars = go.Figure([go.Bar(x=cls_labels, y=acc_iso, name=plot_escape(f"iSogCLR · {run.name}"),
                                     marker={"color": colours.get(run.id)}),
                              go.Bar(x=cls_labels, y=acc_ref, name=plot_escape(f"global τ · {ref.name}"),
                                     marker={"color": colours.get(ref.id)})])
            bars.update_layout(barmode="group", xaxis_title="class (training samples of the iSogCLR run), most frequent first",
                               yaxis_title="kNN accuracy on the held-out samples of the class", yaxis_range=[0, 1.02],
                               height=400, margin={"t": 30}, legend={"orientation": "h", "y": -0.3})
            st.plotly_chart(bars, width="stretch", key="temp_class_acc")
            st.caption("Per-class kNN accuracy (k = 20, cosine, on the representation), held-out split. The claim: "
                       "the learned temperatures help most on the rare classes (right).")
