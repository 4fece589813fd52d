"""Distillation: teacher and student side by side, momentum self-distillation, and the kernel toy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from analysis.kernel_sd import toy_experiment
from jobs import store as stmod
from trainers.config import RunConfig
from ui.colours import CLASS_PALETTE as PALETTE
from ui.colours import class_colour
from ui.data import (
    get_store,
    metrics_over_epochs,
    run_colours,
    run_label,
    snapshot_arrays,
    snapshots,
)
from ui.points import plot_rows
from ui.text import md_escape, plot_escape
from ui.widgets import epoch_slider, explain, rerun_on_new_snapshots, runs_with_snapshots

store = get_store()
st.title("Distillation")
st.caption("How a student's geometry comes to resemble its teacher's, or fails to. Launch runs with the "
           "**Distillation** presets on the Train page, or `python -m trainers train --teacher RUN --distill kd ...`.")

STUDENT_KEYS = ("dataset", "encoder", "hidden_dim", "rep_dim", "proj_dim", "loss", "label_fraction")
DEFAULTS = RunConfig().to_dict()


def _last(rec: stmod.RunRecord, epoch: int | None = None) -> tuple[int, dict] | None:
    """(epoch, snapshot record) of the latest snapshot of ``rec`` at or before ``epoch``."""
    snaps = snapshots(store, rec.id)
    if not snaps:
        return None
    ok = [s for s in snaps if epoch is None or s["epoch"] <= epoch] or snaps[:1]
    return ok[-1]["epoch"], ok[-1]


def _student_key(config: dict) -> tuple:
    return tuple(config.get(k, DEFAULTS[k]) for k in STUDENT_KEYS)


def _alone_runs(student: stmod.RunRecord, runs: list[stmod.RunRecord]) -> list[stmod.RunRecord]:
    """Runs of the same student configuration trained without a teacher."""
    want = _student_key(student.config)
    return [r for r in runs if not r.config.get("teacher") and _student_key(r.config) == want]


def _map_figure(rec: stmod.RunRecord, epoch: int, created: float, method: str, role: str) -> tuple[go.Figure, str, str]:
    arr = snapshot_arrays(store, rec.id, epoch, created)
    coords = store.projection(rec.id, epoch, "rep", "umap") if method == "UMAP" else None
    shown = "UMAP" if coords is not None else "PCA"
    if coords is None:
        coords = arr["pca_rep"]
    pts = plot_rows(arr["y"], coords, method=f"{shown} map")
    y, coords, Scatter = arr["y"][pts.rows], coords[pts.rows], pts.scatter
    fig = go.Figure()
    if np.issubdtype(y.dtype, np.integer):
        classes = np.unique(y)
        for k, c in enumerate(classes):
            sel = y == c
            fig.add_trace(Scatter(x=coords[sel, 0], y=coords[sel, 1], mode="markers", name=str(c), legendgroup=str(c),
                                  marker={"size": 4, "color": class_colour(k, len(classes)), "opacity": 0.75},
                                  hovertemplate=f"label {c}<extra></extra>"))
    else:  # a continuous target
        fig.add_trace(Scatter(x=coords[:, 0], y=coords[:, 1], mode="markers", name="samples",
                              marker={"size": 4, "color": y, "colorscale": "Viridis", "showscale": True},
                              hovertemplate="target %{marker.color:.3g}<extra></extra>"))
    fig.update_layout(title=f"{role}: {shown} · {plot_escape(rec.name)} · epoch {epoch}", height=420, margin={"t": 40, "b": 10},
                      xaxis_title=f"{shown} 1", yaxis_title=f"{shown} 2", legend={"title": "label"})
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig, shown, pts.note


tab_ts, tab_msd, tab_toy = st.tabs(["Teacher and student", "Momentum self-distillation", "Kernel toy"])

# --------------------------------------------------------------------------- teacher and student
with tab_ts:
    all_runs = runs_with_snapshots(store)
    students = [r for r in all_runs if r.config.get("teacher")]
    if not students:
        st.info("No distilled run yet. On the **Train** page, the preset *Distillation: KD vs alone with 10% labels* "
                "trains a teacher and three students in one click (the students start when the teacher has finished).")
        rerun_on_new_snapshots(store, store.list_runs(status=stmod.ACTIVE))  # shows them when they arrive
    else:
        by_id = {r.id: r for r in students}
        if st.session_state.get("distill_student") not in by_id:
            st.session_state["distill_student"] = students[0].id
        sid = st.selectbox("Distilled student", list(by_id), format_func=lambda i: run_label(by_id[i]), key="distill_student")
        student = by_id[sid]
        try:
            teacher = store.get_run(student.config["teacher"])
        except KeyError:
            teacher = None
            st.warning(f"The teacher run {md_escape(student.config['teacher'])} is no longer in the store; only the "
                       "student is shown.")
        rerun_on_new_snapshots(store, [student, *([teacher] if teacher else [])])
        colours = run_colours(store, [student, teacher])
        st.caption(f"Distillation **{md_escape(student.config.get('distill'))}** · weights: task {student.config.get('task_weight', 1.0)}, "
                   f"distillation {student.config.get('distill_weight', 1.0)} · labels used by the task loss: "
                   f"{100 * student.config.get('label_fraction', 1.0):.0f}%"
                   + (f" · teacher: **{md_escape(teacher.name)}** ({md_escape(teacher.id)})" if teacher else ""))

        # -- maps
        explain(
            "the two representations, each mapped to 2-D",
            [r"h_T = f_T(x) \in \mathbb{R}^{R_T},\qquad h_S = f_S(x) \in \mathbb{R}^{R_S}"],
            "Every sample's representation (encoder output) in the teacher and in the student, coloured by label. "
            "Each map is fitted to its own model, so axes are not comparable; what compares is **which classes sit "
            "together and which are split**. UMAP maps come from the background worker (PCA meanwhile). "
            "**What to look for:** a distilled student reproduces the teacher's neighbourhoods (including its "
            "mistakes) more than a student trained alone does.",
            expanded=False,
        )
        s_epochs = [s["epoch"] for s in snapshots(store, student.id)]
        c1, c2 = st.columns([3, 1])
        epoch = epoch_slider("Student epoch", s_epochs, key="distill_epoch", container=c1)
        method = c2.radio("Map", ["PCA", "UMAP"], horizontal=True, key="distill_map")
        left, right = st.columns(2)
        t_last = _last(teacher) if teacher else None
        s_last = _last(student, epoch)
        shown = set()
        if teacher and t_last:
            fig, m, note = _map_figure(teacher, t_last[0], t_last[1]["created"], method, "Teacher")
            shown.add(m)
            left.plotly_chart(fig, width="stretch", key="distill_map_teacher")
            if note:
                left.caption(note)
        if s_last:
            fig, m, note = _map_figure(student, s_last[0], s_last[1]["created"], method, "Student")
            shown.add(m)
            right.plotly_chart(fig, width="stretch", key="distill_map_student")
            if note:
                right.caption(note)
        if method == "UMAP" and "PCA" in shown:
            st.caption("A UMAP map is still being computed in the background; PCA is shown until it is ready.")

        # -- spectra and alignment-uniformity
        explain(
            "covariance spectra and alignment-uniformity of both",
            [r"C = \mathrm{Cov}\Big(\tfrac{h_i}{\lVert h_i \rVert}\Big),\ \lambda_1 \ge \lambda_2 \ge \dots",
             r"\mathcal{L}_{\text{align}} = \mathbb{E}\,\lVert z - z^+ \rVert^2,\quad "
             r"\mathcal{L}_{\text{uniform}} = \log \mathbb{E}\, e^{-2\lVert z_i - z_j \rVert^2}"],
            "Left: eigenvalues of the covariance of the row-normalised representations on the held-out split "
            "(log scale): how many directions each model uses. The student is narrower, so its spectrum is shorter. "
            "Right: each model's path over its epochs in the (uniformity, alignment) plane of its embeddings, on "
            "shared axes. **What to look for:** a student that copies its teacher's spectrum shape over its own "
            "width; paths that end near the teacher's point.",
            expanded=False,
        )
        left, right = st.columns(2)
        spec = go.Figure()
        au = go.Figure()
        for role, rec, last in (("teacher", teacher, t_last), ("student", student, s_last)):
            if rec is None or last is None:
                continue
            colour = colours.get(rec.id)
            arr = snapshot_arrays(store, rec.id, last[0], last[1]["created"])
            lam = arr["spectrum_rep"]
            spec.add_trace(go.Scatter(x=np.arange(1, len(lam) + 1), y=lam, mode="lines+markers", marker={"size": 4},
                                      name=plot_escape(f"{role} · {rec.name}"), line={"color": colour}))
            df = metrics_over_epochs(store, rec.id)
            if role == "student":
                df = df[df["epoch"] <= last[0]]
            au.add_trace(go.Scatter(x=df["uniformity"], y=df["alignment"], mode="lines+markers+text", name=plot_escape(f"{role} · {rec.name}"),
                                    text=[str(int(e)) for e in df["epoch"]], textposition="top center", textfont={"size": 9},
                                    line={"color": colour}))
        spec.update_layout(yaxis_type="log", yaxis_dtick=1, yaxis_exponentformat="power", xaxis_title="rank k", yaxis_title="eigenvalue λ_k (log scale)", height=380,
                           title="Covariance spectrum · representation", legend={"orientation": "h", "y": -0.3}, margin={"t": 40})
        au.update_layout(xaxis_title="uniformity (lower = more uniform)", yaxis_title="alignment (lower = better aligned)",
                         height=380, title="Alignment and uniformity over epochs", legend={"orientation": "h", "y": -0.3},
                         margin={"t": 40})
        left.plotly_chart(spec, width="stretch", key="distill_spectra")
        right.plotly_chart(au, width="stretch", key="distill_au")

        # -- the live part: similarity to the teacher per epoch, and the accuracy table
        live = student.active or bool(teacher and teacher.active)

        @st.fragment(run_every=3.0 if live else None)
        def similarity_and_accuracy() -> None:
            fresh = {r.id: r for r in runs_with_snapshots(store)}
            stu = fresh.get(student.id, student)
            tea = fresh.get(teacher.id, teacher) if teacher else None
            # -- CKA and kNN overlap per epoch
            explain(
                "how similar the student's representation is to the teacher's, per epoch",
                [r"\mathrm{CKA}(H_S, H_T) = \frac{\lVert H_T^\top H_S \rVert_F^2}{\lVert H_S^\top H_S \rVert_F\,\lVert H_T^\top H_T \rVert_F}"
                 r"\quad (H \text{ column-centred})",
                 r"\mathrm{overlap}_{10} = \frac{1}{N}\sum_i \frac{|\mathcal{N}^S_{10}(i) \cap \mathcal{N}^T_{10}(i)|}{10}"],
                "Both on the held-out split, student at each snapshot epoch against the (fixed) teacher. **Linear CKA** "
                "(Kornblith et al. 2019) compares the two representations up to rotation and scale (1 = the same "
                "up to those), whatever their widths. The **10-NN overlap** is the fraction of each sample's 10 nearest "
                "neighbours (cosine) that the two models share; unrelated embeddings give about 10/N. "
                "**What to look for:** both rise during distillation; a student trained alone stays lower.",
            )
            df = metrics_over_epochs(store, stu.id)
            if "cka_teacher" in df:
                fig = go.Figure()
                c = colours.get(stu.id)  # the student's colour; the two measures differ by line style
                fig.add_trace(go.Scatter(x=df["epoch"], y=df["cka_teacher"], mode="lines+markers", name="linear CKA",
                                         line={"color": c}, marker={"symbol": "circle"}))
                fig.add_trace(go.Scatter(x=df["epoch"], y=df["knn_overlap_teacher"], mode="lines+markers",
                                         name="shared 10-NN fraction", line={"color": c, "dash": "dash"},
                                         marker={"symbol": "diamond-open"}))
                fig.update_layout(xaxis_title="student epoch", yaxis_title="similarity to the teacher", yaxis_range=[0, 1.02],
                                  height=340, margin={"t": 30}, legend={"orientation": "h", "y": -0.3})
                st.plotly_chart(fig, width="stretch", key="distill_cka")
            else:
                st.info("This run has no teacher-similarity metrics yet (they come with its snapshots).")

            # -- accuracy table
            explain(
                "downstream accuracy of teacher, distilled students and students trained alone",
                [r"\text{kNN: } \hat y = \mathrm{mode}\{y_j : j \in \mathcal{N}_{20}(x)\},\qquad "
                 r"\text{linear probe: } \hat y = \arg\max_c (W h + b)_c"],
                "All on the held-out split, from each run's last snapshot. *kNN* and *linear probe* use all training "
                "labels (they judge the representation). *Probe on labelled only* fits the same probes on the labelled "
                "fraction alone: the fair number when labels are scarce. *Own classifier* is the student's cross-entropy "
                "head, the model KD trains directly. *Trained alone* lists runs of the same student configuration (dataset, "
                "encoder, widths, loss, label fraction) with no teacher. **What to look for:** distilled students above "
                "the students trained alone, most clearly with few labels.",
            )
            rows = []
            group = ([("teacher", tea)] if tea else []) \
                + [("distilled", r) for r in fresh.values() if r.config.get("teacher") == stu.config.get("teacher")] \
                + [("trained alone", r) for r in _alone_runs(stu, list(fresh.values()))]
            for role, r in group:
                m = r.metrics
                rows.append({"run": r.name, "role": role, "labels": f"{100 * r.config.get('label_fraction', 1.0):.0f}%",
                             "linear (labelled only)": m.get("linear_accuracy_labelled"),
                             "kNN (labelled only)": m.get("knn_accuracy_labelled"),
                             "own classifier": m.get("head_accuracy"), "linear acc": m.get("linear_accuracy"),
                             "kNN acc": m.get("knn_accuracy"), "CKA to teacher": m.get("cka_teacher"),
                             "distillation": r.config.get("distill") or "–", "seed": r.config.get("seed"),
                             "status": r.status, "id": r.id})
            def acc(label: str, help: str) -> st.column_config.NumberColumn:
                return st.column_config.NumberColumn(label, format="%.3f", width="small", help=help)

            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="distill_table", column_config={
                "run": st.column_config.TextColumn(pinned=True, width="medium"),
                "role": st.column_config.TextColumn(width="small"),
                "labels": st.column_config.TextColumn(width="small"),
                "linear (labelled only)": acc("linear, labelled", "linear probe fitted on the labelled samples only"),
                "kNN (labelled only)": acc("kNN, labelled", "kNN on the labelled samples only"),
                "own classifier": acc("own head", "the student's own cross-entropy head"),
                "linear acc": acc("linear", "linear probe fitted on all training labels"),
                "kNN acc": acc("kNN", "kNN over all training samples"),
                "CKA to teacher": acc("CKA", "linear CKA to the teacher's representation"),
            })
            st.caption("The accuracies that decide whether distillation helped with scarce labels come first: "
                       "*linear, labelled* and *kNN, labelled* (probes fitted on the labelled samples only).")
            if not any(role == "trained alone" for role, _ in group):
                st.caption("No run of the same student configuration without a teacher yet: launch one to compare.")

        similarity_and_accuracy()


# --------------------------------------------------------------------------- momentum self-distillation
with tab_msd:
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
    msd_runs = [r for r in runs_with_snapshots(store) if r.config.get("loss") == "msd"]
    if not msd_runs:
        st.info("No momentum self-distillation run yet: the preset *MSD: centring / sharpening / both* launches the "
                "three switches as one group.")
        rerun_on_new_snapshots(store, store.list_runs(status=stmod.ACTIVE))  # shows them when they arrive
    else:
        rerun_on_new_snapshots(store, store.list_runs(status=stmod.ACTIVE))  # new runs and snapshots appear
        by_id = {r.id: r for r in msd_runs}
        if "distill_msd_runs" not in st.session_state or not all(i in by_id for i in st.session_state["distill_msd_runs"]):
            newest = msd_runs[0].group
            st.session_state["distill_msd_runs"] = [r.id for r in msd_runs if newest and r.group == newest][:6] or [msd_runs[0].id]
        chosen = st.multiselect("MSD runs", list(by_id), format_func=lambda i: run_label(by_id[i]), key="distill_msd_runs",
                                max_selections=6)

        @st.fragment(run_every=3.0 if any(by_id[i].active for i in chosen) else None)
        def msd_view() -> None:
            ent, rank = go.Figure(), go.Figure()
            msd_colours = run_colours(store, [by_id[i] for i in chosen])
            rows = []
            log_k = None
            for rid in chosen:
                r = by_id[rid]
                df = metrics_over_epochs(store, rid)
                if df.empty or "teacher_entropy" not in df:
                    continue
                colour = msd_colours.get(rid)
                log_k = float(df["entropy_max"].iloc[-1])
                ent.add_trace(go.Scatter(x=df["epoch"], y=df["teacher_entropy"], mode="lines+markers", name=plot_escape(f"{r.name} · H(p)"),
                                         line={"color": colour}, legendgroup=rid))
                ent.add_trace(go.Scatter(x=df["epoch"], y=df["teacher_mean_entropy"], mode="lines", name=plot_escape(f"{r.name} · H(mean p)"),
                                         line={"color": colour, "dash": "dot"}, legendgroup=rid))
                rank.add_trace(go.Scatter(x=df["epoch"], y=df["rankme_emb"], mode="lines+markers", name=plot_escape(f"{r.name} · embedding"),
                                          line={"color": colour}, legendgroup=rid))
                rank.add_trace(go.Scatter(x=df["epoch"], y=df["rankme"], mode="lines", name=plot_escape(f"{r.name} · representation"),
                                          line={"color": colour, "dash": "dot"}, legendgroup=rid))
                o = r.config.get("loss_options", {})
                last = df.iloc[-1]
                rows.append({"run": r.name, "centring": bool(o.get("centering", True)), "sharpening": bool(o.get("sharpening", True)),
                             "epoch": int(last["epoch"]), "teacher entropy": last["teacher_entropy"],
                             "entropy of mean output": last["teacher_mean_entropy"], "log K": log_k,
                             "RankMe (embedding)": last["rankme_emb"], "RankMe (representation)": last["rankme"],
                             "kNN acc": last.get("knn_accuracy")})
            if log_k is not None:
                ent.add_hline(y=log_k, line_dash="dash", line_color="gray", annotation_text="log K (uniform)")
            ent.update_layout(xaxis_title="epoch", yaxis_title="entropy (nats)", height=400, title="Teacher output entropy",
                              legend={"orientation": "h", "y": -0.3}, margin={"t": 40})
            rank.update_layout(xaxis_title="epoch", yaxis_title="RankMe", height=400, title="Effective rank",
                               legend={"orientation": "h", "y": -0.3}, margin={"t": 40})
            left, right = st.columns(2)
            left.plotly_chart(ent, width="stretch", key="distill_msd_entropy")
            right.plotly_chart(rank, width="stretch", key="distill_msd_rank")
            if rows:
                st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="distill_msd_table")

        msd_view()


# --------------------------------------------------------------------------- kernel toy
with tab_toy:
    explain(
        "self-distillation in kernel ridge regression (Borup & Andersen 2021; Mobahi et al. 2020)",
        [r"f_1 = K(K + \lambda I)^{-1} y,\qquad y_k = \alpha\, y + (1 - \alpha)\, f_{k-1},\qquad f_k = K(K + \lambda I)^{-1} y_k",
         r"K = V \operatorname{diag}(d) V^\top:\quad f_k = V \operatorname{diag}(B_k) V^\top y,\quad "
         r"B_1 = s,\ B_k = s\,(\alpha + (1-\alpha) B_{k-1}),\ s = \frac{d}{d + \lambda}",
         r"\alpha = 0:\ B_K = s^K;\qquad \alpha > 0:\ B_\infty = \frac{d}{d + \lambda/\alpha}"],
        "Each step refits the data to a mix of the ground truth (weight α) and the previous step's predictions; all "
        "steps are exact closed forms from one eigendecomposition (no training). The **shrinkage factor** B_k says "
        "how much of each eigen-direction of the data the step keeps: directions with small eigenvalues (wiggly "
        "functions) are shrunk most. **What to look for:** with α = 0, each step shrinks again: the fit gets smoother, "
        "like ridge with a larger λ (below: the single λ' that matches best), until it shrinks to 0; with α > 0 the steps "
        "converge to ridge with λ/α. With a small λ (an over-fitting first step) a few steps lower the error.",
    )
    c1, c2, c3 = st.columns(3)
    steps = c1.slider("Steps K", 1, 20, 5, key="distill_toy_steps")
    alpha = c2.slider("Ground-truth weight α", 0.0, 1.0, 0.0, step=0.05, key="distill_toy_alpha")
    ridge = c3.select_slider("Ridge λ", options=[1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0], value=0.01,
                             key="distill_toy_ridge")
    c1, c2, c3 = st.columns(3)
    n = c1.slider("Training points", 10, 200, 40, step=10, key="distill_toy_n")
    noise = c2.slider("Noise", 0.0, 1.0, 0.3, step=0.05, key="distill_toy_noise")
    seed = c3.number_input("Seed", 0, 10_000, 0, key="distill_toy_seed")

    @st.cache_data(show_spinner=False, max_entries=64)
    def _toy(n: int, noise: float, seed: int, ridge: float, steps: int, alpha: float):
        return toy_experiment(n=n, noise=noise, seed=seed, gamma=10.0, ridge=ridge, steps=steps, alpha=alpha)

    e = _toy(int(n), float(noise), int(seed), float(ridge), int(steps), float(alpha))
    colours = px.colors.sample_colorscale("Viridis", [i / max(1, steps - 1) for i in range(steps)])
    fits = go.Figure()
    fits.add_trace(go.Scatter(x=e.x, y=e.y, mode="markers", name="noisy data", marker={"color": "black", "size": 6}))
    fits.add_trace(go.Scatter(x=e.grid, y=e.grid_true, mode="lines", name="true function",
                              line={"color": "gray", "dash": "dash"}))
    for k in range(steps):
        fits.add_trace(go.Scatter(x=e.grid, y=e.fits[k], mode="lines", name=f"step {k + 1}", line={"color": colours[k]}))
    if alpha > 0:
        fits.add_trace(go.Scatter(x=e.grid, y=e.limit_fit, mode="lines", name=f"ridge λ/α = {e.limit_ridge:.3g} (∞ steps)",
                                  line={"color": "crimson", "dash": "dot"}))
    fits.update_layout(title=f"The fit of each step (α = {alpha:g}, λ = {ridge:g})", xaxis_title="x", yaxis_title="y",
                       height=420, margin={"t": 40}, legend={"orientation": "v"})
    shrink = go.Figure()
    idx = np.arange(1, len(e.d) + 1)
    for k in range(steps):
        shrink.add_trace(go.Scatter(x=idx, y=e.shrinkage[k], mode="lines+markers", marker={"size": 4}, name=f"B_{k + 1}",
                                    line={"color": colours[k]}))
    if alpha > 0:
        shrink.add_trace(go.Scatter(x=idx, y=e.limit_shrinkage, mode="lines", name="B_∞ = d/(d + λ/α)",
                                    line={"color": "crimson", "dash": "dot"}))
    shrink.update_layout(title="Per-step shrinkage factor of each eigen-direction", xaxis_title="eigenvalue index i (largest first)",
                         yaxis_title="B_k[i] (1 = kept, 0 = removed)", yaxis_range=[-0.02, 1.02], height=420,
                         margin={"t": 40})
    left, right = st.columns(2)
    left.plotly_chart(fits, width="stretch", key="distill_toy_fits")
    right.plotly_chart(shrink, width="stretch", key="distill_toy_shrinkage")

    st.markdown(f"**Many unweighted steps = stronger ridge.** {steps} step(s) without ground truth (α = 0) shrink "
                f"direction i by s_i^{steps}; the single plain ridge that matches them best has "
                f"λ' = {e.equivalent.ridge:.3g} ({e.equivalent.ridge / ridge:.1f} × λ; largest shrinkage gap "
                f"{e.equivalent.max_abs_error:.3f}).")
    eq_fit, eq_shr = go.Figure(), go.Figure()
    eq_fit.add_trace(go.Scatter(x=e.x, y=e.y, mode="markers", name="noisy data", marker={"color": "black", "size": 6}))
    eq_fit.add_trace(go.Scatter(x=e.grid, y=e.unweighted_fit, mode="lines", name=f"{steps} steps, α = 0",
                                line={"color": PALETTE[0], "width": 3}))
    eq_fit.add_trace(go.Scatter(x=e.grid, y=e.equivalent_fit, mode="lines", name=f"ridge λ' = {e.equivalent.ridge:.3g}",
                                line={"color": PALETTE[1], "dash": "dash"}))
    eq_fit.add_trace(go.Scatter(x=e.grid, y=e.ridge_fit, mode="lines", name=f"ridge λ = {ridge:g} (1 step)",
                                line={"color": PALETTE[2], "dash": "dot"}))
    eq_fit.update_layout(title="Fits", xaxis_title="x", yaxis_title="y", height=380, margin={"t": 40})
    eq_shr.add_trace(go.Scatter(x=idx, y=e.unweighted_shrinkage, mode="lines+markers", marker={"size": 4},
                                name=f"s^{steps} ({steps} steps, α = 0)", line={"color": PALETTE[0]}))
    eq_shr.add_trace(go.Scatter(x=idx, y=e.equivalent.ridge_shrinkage, mode="lines", name="d/(d + λ')",
                                line={"color": PALETTE[1], "dash": "dash"}))
    eq_shr.add_trace(go.Scatter(x=idx, y=e.shrinkage[0], mode="lines", name="s = d/(d + λ)",
                                line={"color": PALETTE[2], "dash": "dot"}))
    eq_shr.update_layout(title="Shrinkage factors", xaxis_title="eigenvalue index i (largest first)", yaxis_title="factor",
                         yaxis_range=[-0.02, 1.02], height=380, margin={"t": 40})
    left, right = st.columns(2)
    left.plotly_chart(eq_fit, width="stretch", key="distill_toy_eq_fit")
    right.plotly_chart(eq_shr, width="stretch", key="distill_toy_eq_shrinkage")
    errs = pd.DataFrame({"fit": [f"step {k + 1}" for k in range(steps)] + [f"{steps} steps, α = 0", "ridge λ'", "ridge λ"]
                         + (["ridge λ/α (∞ steps)"] if alpha > 0 else []),
                         "error to the true function": list(e.mse) + [e.mse_unweighted, e.mse_equivalent, e.mse_ridge]
                         + ([e.mse_limit] if alpha > 0 else [])})
    st.dataframe(errs, hide_index=True, key="distill_toy_errors")
    st.caption("Error: mean squared difference to the noiseless function on 200 points of [-1, 1]. RBF kernel, γ = 10.")
