"""Train: pick a dataset, an encoder and a loss; launch; watch the queue live."""

from __future__ import annotations

import secrets

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from trainers import registry, runner
from trainers import store as stmod
from trainers.config import DISTILL_KINDS, RunConfig
from trainers.distill import check_teacher
from trainers.presets import PRESETS, get_preset
from ui.data import STATUS_ICON, get_store
from ui.widgets import SELECTED

store = get_store()
DEFAULT = RunConfig()

st.title("Train")
st.caption("Runs train in background worker processes: reload the page, close the tab or restart the app, "
           "they keep going. Snapshots of the embeddings are taken at epochs 0, 1, 2, 4, 8, … and the last.")

FIELDS = ["dataset", "encoder", "loss", "epochs", "batch_size", "lr", "temperature", "views", "aug_strength",
          "noise_eps", "seed", "hidden_dim", "rep_dim", "proj_dim", "n_classes", "data_dim", "n_samples",
          "imbalance_ratio", "few_samples", "name"]


def _apply_preset() -> None:
    p = get_preset(st.session_state["train_preset"])
    base = {**RunConfig().to_dict(), **p.configs[0]}
    for f in FIELDS:
        v = base.get(f)
        if f == "temperature" and v is None:
            v = registry.LOSSES[base["loss"]].temperature
        st.session_state[f"train_{f}"] = v if v is not None else ""
    st.session_state["train_loss_options"] = dict(base.get("loss_options", {}))
    _apply_distill_preset(base)


def _apply_distill_preset(base: dict) -> None:
    """The distillation widgets from a preset's first run (the teacher picker is left as it is)."""
    st.session_state["train_distill"] = base.get("distill") or "none"
    for f in ("task_weight", "distill_weight", "label_fraction"):
        st.session_state[f"train_{f}"] = float(base.get(f, 1.0))
    st.session_state["train_accum_steps"] = int(base.get("accum_steps", 1))


if "train_dataset" not in st.session_state:
    st.session_state["train_preset"] = PRESETS[0].name
    _apply_preset()

left, right = st.columns([1, 1.25], gap="large")

with left:
    st.selectbox("Preset", [p.name for p in PRESETS], key="train_preset", on_change=_apply_preset,
                 help="Fills the form; a preset with several runs launches them as one group.")
    preset = get_preset(st.session_state["train_preset"])
    st.caption(preset.description)

    def _on_loss_change() -> None:
        st.session_state["train_temperature"] = registry.LOSSES[st.session_state["train_loss"]].temperature

    ds = st.selectbox("Dataset", list(registry.DATASETS), key="train_dataset",
                      format_func=lambda n: n, help="\n".join(f"- **{n}**: {d.description}" for n, d in registry.DATASETS.items()))
    st.caption(registry.DATASETS[ds].description)
    c1, c2 = st.columns(2)
    enc_opts = registry.encoders_for_dataset(ds)
    if st.session_state.get("train_encoder") not in enc_opts:
        st.session_state["train_encoder"] = enc_opts[0]
    c1.selectbox("Encoder", enc_opts, key="train_encoder")
    loss_opts = registry.losses_for_dataset(ds)
    if st.session_state.get("train_loss") not in loss_opts:
        st.session_state["train_loss"] = loss_opts[0]
        st.session_state["train_temperature"] = registry.LOSSES[loss_opts[0]].temperature
    loss = c2.selectbox("Loss", loss_opts, key="train_loss", on_change=_on_loss_change)
    st.caption(registry.LOSSES[loss].description)

    c1, c2, c3 = st.columns(3)
    c1.number_input("Epochs", min_value=1, max_value=2000, step=10, key="train_epochs")
    c2.number_input("Batch size", min_value=2, max_value=8192, step=32, key="train_batch_size")
    c3.number_input("Temperature τ", min_value=0.001, max_value=100.0, step=0.05, format="%.3f", key="train_temperature")
    c1, c2, c3 = st.columns(3)
    c1.number_input("Learning rate", min_value=1e-6, max_value=1.0, step=1e-4, format="%.5f", key="train_lr")
    c2.number_input("Views", min_value=2, max_value=8, step=1, key="train_views",
                    help="More than 2 only for the multi-view losses (mv_infonce, mv_dhel, pairwise_nt_xent).")
    c3.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="train_seed")
    with st.expander("Augmentation, model and dataset options"):
        c1, c2 = st.columns(2)
        c1.slider("Augmentation strength", 0.0, 3.0, step=0.1, key="train_aug_strength")
        c2.number_input("Noise views ε (0 = off)", min_value=0.0, max_value=10.0, step=0.05, key="train_noise_eps")
        c1, c2, c3 = st.columns(3)
        c1.number_input("Hidden width", min_value=2, max_value=4096, key="train_hidden_dim")
        c2.number_input("Representation dim", min_value=2, max_value=4096, key="train_rep_dim")
        c3.number_input("Embedding dim", min_value=2, max_value=4096, key="train_proj_dim")
        if registry.DATASETS[ds].generated:
            c1, c2, c3 = st.columns(3)
            c1.number_input("Samples", min_value=100, max_value=200_000, step=500, key="train_n_samples")
            if ds == "gmm_sphere":
                c2.number_input("Classes", min_value=2, max_value=100, key="train_n_classes")
                c3.number_input("Dimension", min_value=2, max_value=1024, key="train_data_dim")
        if registry.DATASETS[ds].task == "classification":
            st.number_input("Imbalance ratio (largest / smallest class, training split)", min_value=1.0, max_value=1000.0,
                            key="train_imbalance_ratio")
        else:
            st.number_input("Few samples (0 = all)", min_value=0, max_value=100_000, key="train_few_samples")
    st.text_input("Run name (optional)", key="train_name", placeholder=f"{loss} on {ds}")
    if "train_distill" not in st.session_state:  # sessions started before these widgets existed
        _apply_distill_preset({})
    teachers = {f"{r.name} · {r.id}": r.id for r in store.list_runs(status=stmod.FINISHED)}  # label -> run id
    if st.session_state.get("train_teacher_label") not in ("none", *teachers):  # e.g. the teacher was deleted
        st.session_state["train_teacher_label"] = "none"
    with st.expander("Distillation, scarce labels, gradient accumulation"):
        c1, c2 = st.columns(2)
        c1.selectbox("Teacher run (distil from)", ["none", *teachers], key="train_teacher_label",
                     help="A finished run of this store, trained on the same data. Presets that train their own "
                          "teacher start their students when it has finished.")
        c2.selectbox("Distillation loss", ["none", *[k for k in DISTILL_KINDS if k]], key="train_distill",
                     help="kd: Hinton KD (T = 4) on class logits; feature / feature_cosine: MSE / cosine to the teacher's "
                          "representation through a learned projection; similarity: in-batch similarity distributions; "
                          "crd: contrastive (tau 0.07); rkd: distances and angles.")
        c1, c2, c3, c4 = st.columns(4)
        c1.number_input("Task weight", min_value=0.0, max_value=1000.0, step=0.1, key="train_task_weight")
        c2.number_input("Distillation weight", min_value=0.0, max_value=1000.0, step=0.1, key="train_distill_weight")
        c3.number_input("Label fraction", min_value=0.01, max_value=1.0, step=0.05, key="train_label_fraction",
                        help="Fraction of training samples whose labels the task loss may use (stratified, seeded).")
        c4.number_input("Accumulation steps", min_value=1, max_value=256, step=1, key="train_accum_steps",
                        help="Micro-batches per optimiser step: the effective batch is this times the batch size.")

    launch = st.button(":material/rocket_launch: Train" + (f" ({len(preset.configs)} runs)" if preset.is_sweep else ""), type="primary",
                       width="stretch")
    if launch:
        values = {f: st.session_state[f"train_{f}"] for f in FIELDS}
        values["loss_options"] = st.session_state.get("train_loss_options", {})
        values["teacher"] = teachers.get(st.session_state.get("train_teacher_label", "none"), "")
        values["distill"] = "" if st.session_state["train_distill"] == "none" else st.session_state["train_distill"]
        for f in ("task_weight", "distill_weight", "label_fraction"):
            values[f] = float(st.session_state[f"train_{f}"])
        values["accum_steps"] = int(st.session_state["train_accum_steps"])
        for f in ("epochs", "batch_size", "views", "seed", "hidden_dim", "rep_dim", "proj_dim", "n_classes", "data_dim",
                  "n_samples", "few_samples"):
            values[f] = int(values[f])
        configs = []
        error = None
        group = f"{preset.name} · {secrets.token_hex(2)}" if preset.is_sweep else ""
        try:
            if preset.is_sweep:
                for over in preset.configs:
                    merged = {**values, **over, "group": group}
                    if "loss" in over and "temperature" not in over:
                        merged["temperature"] = registry.LOSSES[over["loss"]].temperature
                    configs.append(RunConfig.from_dict(merged))
            else:
                configs.append(RunConfig.from_dict(values))
            for c in configs:  # a teacher that cannot teach is refused here, not when the worker starts
                if c.teacher and not c.teacher.startswith("@"):
                    check_teacher(store, c.teacher, c)
        except ValueError as e:
            error = str(e)
        if error:
            st.error(f"Cannot start: {error}", icon=":material/block:")
        else:
            ids = runner.submit_group(store, configs)  # "@k" teacher references -> run k's id
            st.session_state[SELECTED] = ids
            st.success(f"Queued {len(ids)} run(s): {', '.join(ids)}. They show in the queue on the right "
                       "and on the views as soon as their first snapshot is written.", icon=":material/check_circle:")
            if group:
                st.session_state["lab_compare_group"] = group  # the Compare page opens this group
                st.page_link("pages/compare.py", label="Open the group on Compare", icon=":material/compare:")


@st.fragment(run_every=1.0)
def queue() -> None:
    runs = store.list_runs()
    active = [r for r in runs if r.active]
    st.subheader(f"Queue · {len(active)} active")
    if not runs:
        st.info("No runs yet: press **Train** (the defaults work).")
        return
    for r in active:
        with st.container(border=True):
            top = st.columns([4, 1])
            top[0].markdown(f"**{STATUS_ICON[r.status]} {r.name}** · `{r.id}` · {r.status}")
            if top[1].button("Cancel", key=f"train_cancel_{r.id}", disabled=r.cancel_requested):
                runner.cancel(store, r.id)
                st.rerun(scope="fragment")
            label = f"epoch {r.epoch}/{r.total_epochs} · {r.seconds:.0f} s"
            if r.cancel_requested:
                label += " · cancelling…"
            st.progress(r.progress, text=label)
            m = r.metrics
            if m:
                cols = st.columns(4)
                for col, (k, name) in zip(cols, [("knn_accuracy", "kNN acc"), ("alignment", "alignment"),
                                                 ("uniformity", "uniformity"), ("rankme", "RankMe")], strict=True):
                    v = m.get(k)
                    col.metric(name, "–" if v is None else f"{v:.3f}")
    live = active[0] if active else runs[0]
    h = store.history(live.id)
    if len(h["step"]):
        ends = h["epoch"] == np.round(h["epoch"])  # epoch means; the rest are points within an epoch
        fig = go.Figure()
        if (~ends).any():
            fig.add_trace(go.Scatter(x=h["epoch"][~ends], y=h["loss"][~ends], mode="markers", name="within epoch",
                                     marker={"size": 4, "color": "rgba(120,120,120,0.45)"}))
        fig.add_trace(go.Scatter(x=h["epoch"][ends], y=h["loss"][ends], mode="lines+markers", name="epoch mean",
                                 marker={"size": 4}))
        fig.update_layout(title=f"Loss · {live.name}", xaxis_title="epoch", yaxis_title="training loss",
                          height=260, margin={"l": 10, "r": 10, "t": 40, "b": 10}, showlegend=bool((~ends).any()))
        st.plotly_chart(fig, width="stretch", key="train_loss_chart")
    recent = [r for r in runs if not r.active][:6]
    if recent:
        st.markdown("**Recent runs**")
        for r in recent:
            cols = st.columns([6, 1, 1])
            acc = r.metrics.get("knn_accuracy")
            extra = f" · kNN {acc:.3f}" if acc is not None else ""
            cols[0].markdown(f"{STATUS_ICON.get(r.status, '')} **{r.name}** · {r.status} · epoch {r.epoch}/{r.total_epochs}{extra}"
                             + (f"  \n<small>{r.reason}</small>" if r.reason else ""), unsafe_allow_html=True)
            if r.status in stmod.RESUMABLE and cols[1].button(":material/play_arrow:", key=f"train_resume_{r.id}",
                                                               help="Resume from the last checkpoint"):
                runner.resume(store, r.id)
                st.rerun(scope="fragment")
            if cols[2].button(":material/delete:", key=f"train_delete_{r.id}", help="Delete this run and its data"):
                store.delete_run(r.id)
                st.rerun(scope="fragment")


with right:
    queue()
