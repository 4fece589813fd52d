"""Train: pick a dataset, an encoder and a loss (or a preset); launch; watch the queue live."""

from __future__ import annotations

import json
import secrets
import time

import pandas as pd
import streamlit as st

from jobs import runner
from jobs import store as stmod
from jobs.teachers import check_teacher
from trainers import registry
from trainers.config import RunConfig
from trainers.presets import PRESETS, expand, get_preset, over_seeds, varied_fields
from ui.data import STATUS_ICON, get_store, run_colours
from ui.form import (
    SEEDS_KEY,
    field_input,
    loss_option_inputs,
    loss_options_from_form,
    seeds_input,
    set_loss_options,
)
from ui.queue import chart_candidates, latest_with_history, loss_figure, split_queue
from ui.text import md_escape
from ui.widgets import SELECTED

store = get_store()
DEFAULT = RunConfig()
LAUNCHED = "train_launched"  # {"ids", "group", "at"} of the last launch: the queue confirms it for a moment
NOTICE_SECONDS = 8.0
CONFIRM_DELETE = "train_confirm_delete"  # the run id whose deletion waits for a second click
CONFIRM_SCRATCH = "train_confirm_scratch"  # the run id whose restart from scratch waits for a confirmation

st.title("Train")
st.caption("Runs train in background worker processes: reload the page, close the tab or restart the app, "
           "they keep going. Snapshots of the embeddings are taken at epochs 0, 1, 2, 4, 8, … and the last.")

DATASET_LABELS = {"n_samples": "Samples", "n_classes": "Classes", "data_dim": "Dimension",
                  "imbalance_ratio": "Imbalance ratio (largest / smallest class, training split)",
                  "few_samples": "Few samples (0 = all)", "n_shapes": "Shapes",
                  "aug_crop": "Crop (area lost, up to)", "aug_flip": "Flip probability", "aug_rotate": "Rotation (degrees)",
                  "aug_colour": "Colour jitter probability", "aug_grayscale": "Grayscale probability",
                  "aug_channels": "Channel permutation probability", "aug_blur": "Blur probability"}
FIELDS = ["dataset", "encoder", "loss", "epochs", "batch_size", "lr", "temperature", "views", "aug_strength",
          "noise_eps", "seed", "hidden_dim", "rep_dim", "proj_dim", *DATASET_LABELS, "name"]
LABELS = {"dataset": "Dataset", "encoder": "Encoder", "loss": "Loss", "epochs": "Epochs", "batch_size": "Batch size",
          "lr": "Learning rate", "temperature": "Temperature τ", "views": "Views", "aug_strength": "Augmentation strength",
          "noise_eps": "Noise views ε", "seed": "Seed", "hidden_dim": "Hidden width", "rep_dim": "Representation dim",
          "proj_dim": "Embedding dim", "n_classes": "Classes", "data_dim": "Dimension", "n_samples": "Samples",
          "imbalance_ratio": "Imbalance ratio", "few_samples": "Few samples", "name": "Run name",
          "loss_options": "Loss options", "teacher": "Teacher run", "distill": "Distillation loss",
          "task_weight": "Task weight", "distill_weight": "Distillation weight", "label_fraction": "Label fraction",
          "accum_steps": "Accumulation steps", **DATASET_LABELS}
PER_RUN = "Set per run by the preset: see the table of runs below the form."


def _apply_preset() -> None:
    p = get_preset(st.session_state["train_preset"])
    base = {**RunConfig().to_dict(), **p.configs[0]}
    for f in FIELDS:
        v = base.get(f)
        if f == "temperature" and v is None:
            v = registry.LOSSES[base["loss"]].temperature
        st.session_state[f"train_{f}"] = v if v is not None else ""
    set_loss_options(base["loss"], base.get("loss_options", {}))
    if "teacher" in p.configs[0]:  # a preset that says "no teacher" for its first run clears the picker
        st.session_state["train_teacher_label"] = "none"
    _apply_distill_preset(base)


def _apply_distill_preset(base: dict) -> None:
    """The distillation widgets from a preset's first run (the teacher picker is left as it is)."""
    st.session_state["train_distill"] = base.get("distill") or "none"
    for f in ("task_weight", "distill_weight", "label_fraction"):
        st.session_state[f"train_{f}"] = float(base.get(f, 1.0))
    st.session_state["train_accum_steps"] = int(base.get("accum_steps", 1))


def _form_values(teachers: dict[str, str]) -> dict:
    """The RunConfig fields the form shows (for a sweep: its first run, with the shared fields as edited)."""
    values = {f: st.session_state[f"train_{f}"] for f in FIELDS}
    values["loss_options"] = loss_options_from_form(values["loss"])
    values["teacher"] = teachers.get(st.session_state.get("train_teacher_label", "none"), "")
    values["distill"] = "" if st.session_state["train_distill"] == "none" else st.session_state["train_distill"]
    for f in ("task_weight", "distill_weight", "label_fraction"):
        values[f] = float(st.session_state[f"train_{f}"])
    values["accum_steps"] = int(st.session_state["train_accum_steps"])
    for f in ("epochs", "batch_size", "views", "seed", "hidden_dim", "rep_dim", "proj_dim", "n_classes", "data_dim",
              "n_samples", "few_samples", "n_shapes"):
        values[f] = int(values[f])
    return values


def _plan_table(configs: list[RunConfig], varied: list[str]) -> pd.DataFrame:
    """One row per run of a sweep: its name, the fields the preset sets per run, then epochs and batch size."""
    cols = ["name", *[f for f in varied if f != "name"], *[f for f in ("epochs", "batch_size") if f not in varied]]

    def show(f: str, v):
        if f == "teacher" and isinstance(v, str) and v.startswith("@"):
            return f"run {int(v[1:]) + 1}"
        if isinstance(v, dict):
            return json.dumps(v, sort_keys=True)
        return v

    rows = [{LABELS[f]: show(f, getattr(c, f)) for f in cols} for c in configs]
    return pd.DataFrame(rows).astype({LABELS[f]: str for f in cols if f in ("teacher", "loss_options", "distill")})


if "train_dataset" not in st.session_state:
    st.session_state["train_preset"] = PRESETS[0].name
    _apply_preset()

left, right = st.columns([1, 1.25], gap="large")

with left:
    st.selectbox("Preset", [p.name for p in PRESETS], key="train_preset", on_change=_apply_preset,
                 help="Fills the form; a preset with several runs launches them as one group.")
    preset = get_preset(st.session_state["train_preset"])
    st.caption(preset.description)
    varied = varied_fields(preset)  # fields the preset sets per run: shown greyed out, listed in the table below

    def _per_run(f: str, help: str | None = None) -> dict:
        """Widget options for field ``f``: greyed out, with a note, when the preset sets it per run."""
        if f in varied:
            return {"disabled": True, "help": PER_RUN + (f"\n\n{help}" if help else "")}
        return {"help": help} if help else {}

    def _on_loss_change() -> None:
        st.session_state["train_temperature"] = registry.LOSSES[st.session_state["train_loss"]].temperature

    ds = st.selectbox("Dataset", list(registry.DATASETS), key="train_dataset", format_func=lambda n: n,
                      **_per_run("dataset", "\n".join(f"- **{n}**: {d.description}" for n, d in registry.DATASETS.items())))
    st.caption(registry.DATASETS[ds].description)
    c1, c2 = st.columns(2)
    enc_opts = registry.encoders_for_dataset(ds)
    if st.session_state.get("train_encoder") not in enc_opts:
        st.session_state["train_encoder"] = enc_opts[0]
    c1.selectbox("Encoder", enc_opts, key="train_encoder", **_per_run("encoder"))
    loss_opts = registry.losses_for_dataset(ds)
    if st.session_state.get("train_loss") not in loss_opts:
        st.session_state["train_loss"] = loss_opts[0]
        st.session_state["train_temperature"] = registry.LOSSES[loss_opts[0]].temperature
    others = [n for n in registry.LOSSES if n not in loss_opts]
    loss = c2.selectbox("Loss", loss_opts, key="train_loss", on_change=_on_loss_change, **_per_run("loss", "\n".join(
        [f"- **{n}**: {registry.LOSSES[n].description}" for n in loss_opts]
        + ([f"\nNeeding another kind of dataset: {', '.join(others)}."] if others else []))))
    st.caption(registry.LOSSES[loss].description)

    multiview = ", ".join(n for n, s in registry.LOSSES.items() if s.multiview)
    c1, c2, c3 = st.columns(3)
    field_input(c1, "epochs", "Epochs", step=10, **_per_run("epochs"))
    field_input(c2, "batch_size", "Batch size", step=32, **_per_run("batch_size"))
    field_input(c3, "temperature", "Temperature τ", step=0.05, format="%.3f", **_per_run(
        "temperature", "Choosing a loss sets its own default"
        + (" (the starting value of every learned τᵢ)." if registry.LOSSES[loss].per_sample_tau else ".")))
    c1, c2, c3 = st.columns(3)
    field_input(c1, "lr", "Learning rate", step=1e-4, format="%.5f", **_per_run("lr"))
    field_input(c2, "views", "Views", **_per_run("views", f"More than 2 only for the multi-view losses ({multiview})."))
    repeat = bool(str(st.session_state.get(SEEDS_KEY) or "").strip())
    field_input(c3, "seed", "Seed", **({"disabled": True, "help": "Set by **Seeds** below."} if repeat
                                       else _per_run("seed")))
    seeds, seeds_error = seeds_input(st, disabled="seed" in varied)
    if seeds_error:
        st.warning(f"Seeds: {md_escape(seeds_error)}", icon=":material/warning:")
    elif seeds:
        st.caption(f"Each run is trained once per seed ({len(seeds)} seeds), all as one group.")
    with st.expander(f"Options of {loss}"):
        loss_option_inputs(st, loss, **({"disabled": True, "help": PER_RUN} if "loss_options" in varied else {}))
    with st.expander("Augmentation, model and dataset options"):
        c1, c2 = st.columns(2)
        field_input(c1, "aug_strength", "Augmentation strength", step=0.1, **_per_run("aug_strength"))
        field_input(c2, "noise_eps", "Noise views ε (0 = off)", step=0.05, **_per_run("noise_eps"))
        c1, c2, c3 = st.columns(3)
        field_input(c1, "hidden_dim", "Hidden width", **_per_run("hidden_dim"))
        field_input(c2, "rep_dim", "Representation dim", **_per_run("rep_dim"))
        field_input(c3, "proj_dim", "Embedding dim", **_per_run("proj_dim"))
        shown = registry.DATASETS[ds].options  # the fields that shape this dataset, from its spec
        for start in range(0, len(shown), 3):  # three to a row
            row = shown[start:start + 3]
            for col, f in zip(st.columns(3), row, strict=False):
                field_input(col, f, DATASET_LABELS[f], **_per_run(f))
    st.text_input("Run name (optional)", key="train_name", placeholder=f"{loss} on {ds}", **_per_run("name"))
    if "train_distill" not in st.session_state:  # sessions started before these widgets existed
        _apply_distill_preset({})
    teachers = {f"{r.name} · {r.id}": r.id for r in store.list_runs(status=stmod.FINISHED)}  # label -> run id
    if st.session_state.get("train_teacher_label") not in ("none", *teachers):  # e.g. the teacher was deleted
        st.session_state["train_teacher_label"] = "none"
    with st.expander("Distillation, scarce labels, gradient accumulation"):
        c1, c2 = st.columns(2)
        c1.selectbox("Teacher run (distil from)", ["none", *teachers], key="train_teacher_label",
                     **_per_run("teacher", "A finished run of this store, trained on the same data. Presets that train "
                                "their own teacher start their students when it has finished."))
        kinds = registry.distillers_for_dataset(ds)
        if st.session_state.get("train_distill") not in ("none", *kinds):
            st.session_state["train_distill"] = "none"
        c2.selectbox("Distillation loss", ["none", *kinds], key="train_distill",
                     **_per_run("distill", "\n".join(f"- **{n}**: {registry.DISTILLERS[n].description}" for n in kinds)))
        c1, c2 = st.columns(2)
        field_input(c1, "task_weight", "Task weight", step=0.1, **_per_run("task_weight"))
        field_input(c2, "distill_weight", "Distillation weight", step=0.1, **_per_run("distill_weight"))
        c3, c4 = st.columns(2)
        field_input(c3, "label_fraction", "Label fraction", step=0.05,
                    **_per_run("label_fraction", "Fraction of training samples whose labels the task loss may use "
                               "(stratified, seeded)."))
        field_input(c4, "accum_steps", "Accumulation steps",
                    **_per_run("accum_steps", "Micro-batches per optimiser step: the effective batch is this times "
                               "the batch size."))

    if preset.is_sweep:
        n = len(preset.configs)
        times = f" × {len(seeds)} seeds = {n * len(seeds)} runs" if seeds and len(seeds) > 1 else ""
        st.markdown(f"**This preset launches {n} runs{times}** as one group:")
        st.caption(f"{', '.join(LABELS.get(f, f) for f in varied)}: set per run by the preset (greyed out above). "
                   f"Every other field applies to all {n} runs as set in the form"
                   + (", and each run is repeated once per seed." if times else "."))
        try:
            st.dataframe(_plan_table(expand(preset, _form_values(teachers)), varied), hide_index=True,
                         height=min(35 * (n + 1) + 3, 400))
        except ValueError as e:
            st.warning(f"These settings cannot run yet: {e}", icon=":material/warning:")

    n_runs = len(preset.configs) * (len(seeds) if seeds else 1)
    launch = st.button(":material/rocket_launch: Train" + (f" ({n_runs} runs)" if n_runs > 1 else ""),
                       type="primary", width="stretch")
    if launch and seeds_error:
        st.error(f"Cannot start: Seeds: {md_escape(seeds_error)}", icon=":material/block:")
    elif launch:
        group = f"{preset.name} · {secrets.token_hex(2)}" if preset.is_sweep else ""
        try:
            configs = expand(preset, _form_values(teachers), group=group)
            if seeds:
                if len(seeds) > 1:
                    named = preset.name if preset.is_sweep else configs[0].display_name
                    group = f"{named} · seeds {', '.join(map(str, seeds))} · {secrets.token_hex(2)}"
                configs = over_seeds([c.replace(group=group) for c in configs], seeds)
            for c in configs:  # a teacher that cannot teach is refused here, not when the worker starts
                if c.teacher and not c.teacher.startswith("@"):
                    check_teacher(store, c.teacher, c)
        except ValueError as e:
            st.error(f"Cannot start: {e}", icon=":material/block:")
        else:
            ids = runner.submit_group(store, configs)  # "@k" teacher references -> run k's id
            st.session_state[SELECTED] = ids
            st.session_state[LAUNCHED] = {"ids": ids, "group": group, "at": time.time()}
            if group:
                st.session_state["lab_compare_group"] = group  # the Compare page opens this group


def _launch_notice() -> None:
    """Confirm the last launch for a few seconds; the queue below shows the runs from then on."""
    done = st.session_state.get(LAUNCHED)
    if not done:
        return
    if time.time() - done["at"] > NOTICE_SECONDS:
        del st.session_state[LAUNCHED]
        return
    ids = done["ids"]
    listed = ", ".join(ids) if len(ids) <= 4 else f"{ids[0]} … {ids[-1]}"
    st.success(f"Queued {len(ids)} run(s): {listed}. They show in this queue and on the views as soon as "
               "their first snapshot is written.", icon=":material/check_circle:")
    if done["group"]:
        st.page_link("pages/compare.py", label="Open the group on Compare", icon=":material/compare:")


def _cancel(run_id: str) -> None:
    try:
        runner.cancel(store, run_id)
    except (stmod.StoreError, KeyError, ValueError) as e:  # a full disk still stops the worker, then says so
        st.toast(f"Cancel: {md_escape(e)}", icon=":material/block:")


def _cancel_all(run_ids: list[str]) -> None:
    for run_id in run_ids:
        _cancel(run_id)


def _ask_delete(run_id: str | None) -> None:
    """Ask to confirm the deletion of ``run_id`` (None: nothing waits for a confirmation)."""
    st.session_state[CONFIRM_DELETE] = run_id


def _delete(run_id: str) -> None:
    st.session_state[CONFIRM_DELETE] = None
    try:
        name = store.get_run(run_id).name
        store.delete_run(run_id)
    except (RuntimeError, KeyError) as e:  # resumed or deleted elsewhere meanwhile
        st.toast(f"Not deleted: {md_escape(e)}", icon=":material/block:")
    else:
        st.toast(f"Deleted run {md_escape(name)} ({run_id}) and its data.", icon=":material/delete:")


def _resume(run_id: str, from_scratch: bool = False) -> None:
    st.session_state[CONFIRM_SCRATCH] = None
    try:
        runner.resume(store, run_id, from_scratch=from_scratch)
    except ValueError as e:
        if "no checkpoint" in str(e):  # resuming would discard its data: ask first
            st.session_state[CONFIRM_SCRATCH] = run_id
        else:  # resumed or deleted elsewhere meanwhile
            st.toast(f"Not resumed: {md_escape(e)}", icon=":material/block:")
    except (stmod.StoreError, KeyError) as e:
        st.toast(f"Not resumed: {md_escape(e)}", icon=":material/block:")


def _run_card(r: stmod.RunRecord) -> None:
    """A running run: name, progress, latest metrics, cancel."""
    with st.container(border=True):
        top = st.columns([4, 1])
        top[0].markdown(f"**{STATUS_ICON[r.status]} {md_escape(r.name)}** · `{r.id}` · {r.status}")
        top[1].button("Cancel", key=f"train_cancel_{r.id}", disabled=r.cancel_requested, on_click=_cancel,
                      args=(r.id,))
        label = f"epoch {r.epoch}/{r.total_epochs} · {r.seconds:.0f} s"
        if r.epoch == 0 and not r.seconds:
            label = f"starting: the worker loads its libraries and the data (a few seconds) · 0/{r.total_epochs} epochs"
        if r.cancel_requested:
            label += " · cancelling…"
        st.progress(r.progress, text=label)
        m = r.metrics
        if m:
            st.caption(f"Held-out metrics at the latest snapshot (epoch {m.get('epoch', '?')}):")
            cols = st.columns(4)
            for col, (k, name) in zip(cols, [("knn_accuracy", "kNN acc"), ("alignment", "alignment"),
                                             ("uniformity", "uniformity"), ("rankme", "RankMe")], strict=True):
                v = m.get(k)
                col.metric(name, "–" if v is None else f"{v:.3f}")


def _queued_list(queued: list[stmod.RunRecord], active_ids: set[str]) -> None:
    """Queued runs, one line each in start order, in one collapsible list."""
    with st.expander(f"{len(queued)} queued", icon=":material/schedule:", key="train_queued_list"):
        for i, r in enumerate(queued):
            cols = st.columns([6, 1])
            waits = " · waits for its teacher" if r.config.get("teacher") in active_ids else ""
            cols[0].markdown(f"{i + 1} · {md_escape(r.name)} · `{r.id}`{waits}")
            cols[1].button(":material/close:", key=f"train_cancel_{r.id}", help="Cancel this queued run",
                           on_click=_cancel, args=(r.id,))
        if len(queued) > 1:
            st.button(f"Cancel all {len(queued)} queued runs", key="train_cancel_queued", on_click=_cancel_all,
                      args=([r.id for r in queued],))


def _loss_chart(runs: list[stmod.RunRecord], running: list[stmod.RunRecord]) -> None:
    """The loss curve of a running run (pick which when several run), else of the latest run that has one."""
    hist: dict[str, dict] = {}

    def has_history(run_id: str) -> bool:
        if run_id not in hist:
            hist[run_id] = store.history(run_id)
        return len(hist[run_id]["step"]) > 0

    live = chart_candidates(running, has_history)
    if len(live) > 1:
        by_id = {r.id: r for r in live}
        if st.session_state.get("train_chart_run") not in by_id:
            st.session_state["train_chart_run"] = live[0].id
        follow = by_id[st.selectbox("Loss curve of", list(by_id), key="train_chart_run",
                                    format_func=lambda i: f"{by_id[i].name} · {i}")]
    else:
        follow = live[0] if live else latest_with_history(runs, has_history)
    if follow is None:
        return
    fig = loss_figure(hist[follow.id], follow, run_colours(store, [follow]).get(follow.id))
    st.plotly_chart(fig, width="stretch", key="train_loss_chart")  # live: no download under it


def _recent_row(r: stmod.RunRecord) -> None:
    """A finished, failed or cancelled run: status, metrics, reason; resume; delete after a confirmation."""
    cols = st.columns([6, 1, 1])
    acc = r.metrics.get("knn_accuracy")
    extra = f" · kNN {acc:.3f}" if acc is not None else ""
    cols[0].markdown(f"{STATUS_ICON.get(r.status, '')} **{md_escape(r.name)}** · {r.status} · "
                     f"epoch {r.epoch}/{r.total_epochs}{extra}")
    if r.reason:
        cols[0].caption(md_escape(r.reason))
    if r.status in stmod.RESUMABLE:
        cols[1].button(":material/play_arrow:", key=f"train_resume_{r.id}", help="Resume from the last checkpoint",
                       on_click=_resume, args=(r.id,))
    cols[2].button(":material/delete:", key=f"train_delete_{r.id}", help="Delete this run and its data (asks first)",
                   on_click=_ask_delete, args=(r.id,))
    if st.session_state.get(CONFIRM_SCRATCH) == r.id:
        with st.container(border=True):
            st.markdown(f"Run **{md_escape(r.name)}** has no checkpoint, so it cannot continue where it stopped. "
                        "Start it again from scratch? Its history and snapshots will be discarded.")
            yes, no, _ = st.columns([1, 1, 2])
            yes.button("Start from scratch", type="primary", key=f"train_scratch_yes_{r.id}", on_click=_resume,
                       args=(r.id, True))
            no.button("Keep as it is", key=f"train_scratch_no_{r.id}", on_click=st.session_state.__setitem__,
                      args=(CONFIRM_SCRATCH, None))
    if st.session_state.get(CONFIRM_DELETE) == r.id:
        with st.container(border=True):
            st.markdown(f"Delete run **{md_escape(r.name)}** (`{r.id}`) and its data: checkpoints, snapshots, "
                        "maps? This cannot be undone.")
            yes, no, _ = st.columns([1, 1, 2])
            yes.button("Delete", type="primary", key=f"train_delete_yes_{r.id}", icon=":material/delete:",
                       on_click=_delete, args=(r.id,))
            no.button("Keep", key=f"train_delete_no_{r.id}", on_click=_ask_delete, args=(None,))


@st.fragment(run_every=1.0)
def queue() -> None:
    runs = store.list_runs()
    running, queued = split_queue(runs)
    st.subheader(f"Queue · {len(running) + len(queued)} active")
    st.caption(f"{len(running)} running · {len(queued)} queued")
    _launch_notice()
    if not runs:
        st.info("No runs yet: press **Train** (the defaults work).")
        return
    for r in running:
        _run_card(r)
    if queued:
        _queued_list(queued, {r.id for r in running + queued})
    _loss_chart(runs, running)
    recent = [r for r in runs if not r.active][:6]
    if st.session_state.get(CONFIRM_DELETE) not in {r.id for r in recent}:
        st.session_state.pop(CONFIRM_DELETE, None)  # the run left the list: nothing waits for a confirmation
    if recent:
        st.markdown("**Recent runs**")
        for r in recent:
            _recent_row(r)


with right:
    queue()
