"""Teachers in the job system: which runs can teach a distilled run (checked when a run is
queued and again when its worker starts), a group's "@k" references, and the scheduler's
gate that holds a student until its teacher has finished.

Standard library only (with the store): the app's Train page checks a teacher without torch.
"""

from __future__ import annotations

import time

from jobs import store as st
from trainers import registry
from trainers.config import ConfigError, RunConfig

#: Config fields that say which data a run saw; a teacher and its student must agree on them.
DATA_FIELDS = ("dataset", "n_classes", "data_dim", "n_samples", "imbalance_ratio", "few_samples", "n_shapes")


def check_teacher(store: st.Store, run_id: str, student: RunConfig | None = None) -> st.RunRecord:
    """The teacher's run record, or :class:`ConfigError` saying why it cannot teach.

    A teacher is a FINISHED run of this store with a checkpoint; with ``student`` given, it
    must have been trained on the same data (same dataset and dataset options).
    """
    if not run_id:
        raise ConfigError("no teacher run given")
    if run_id.startswith("@"):
        raise ConfigError(
            f"teacher {run_id!r} refers to a run of a preset group; it is resolved when the group is "
            "submitted (runner.submit_group) and cannot be trained on its own"
        )
    try:
        rec = store.get_run(run_id)
    except (KeyError, ValueError):
        raise ConfigError(
            f"teacher {run_id!r} is not a run in the store at {store.root}; give the id of a finished run "
            "(the Runs page or `python -m trainers list` shows them)"
        ) from None
    if rec.status != st.FINISHED:
        raise ConfigError(
            f"teacher run {run_id} ({rec.name}) is {rec.status}, not finished: a teacher must be a finished run"
            + (" (wait for it to finish)" if rec.active else "")
        )
    if not store.checkpoint_path(run_id).exists():
        raise ConfigError(f"teacher run {run_id} ({rec.name}) has no checkpoint to load")
    if student is not None:
        for f in DATA_FIELDS:
            tv, sv = rec.config.get(f, getattr(student, f)), getattr(student, f)
            if tv != sv and (f == "dataset" or registry.DATASETS[student.dataset].generated or f == "few_samples"):
                raise ConfigError(
                    f"teacher run {run_id} was trained with {f} = {tv!r}, this run has {sv!r}: teacher and "
                    "student must see the same data"
                )
    return rec


def resolve_group_refs(configs: list[RunConfig], ids: list[str | None], i: int) -> RunConfig:
    """Config ``i`` of a group with a teacher reference ``"@k"`` replaced by run k's id."""
    c = configs[i]
    if not c.teacher.startswith("@"):
        return c
    k = int(c.teacher[1:])
    if not 0 <= k < len(configs) or k == i or ids[k] is None:
        raise ConfigError(f"run {i} of the group refers to teacher '@{k}', which is not an earlier run of the group")
    return c.replace(teacher=ids[k])


def teacher_gate(store: st.Store, rec: st.RunRecord) -> bool:
    """For the scheduler: may this queued run start? False while its teacher is queued or
    running; when the teacher ended without finishing, the run is marked failed (with the
    reason) and False is returned."""
    tid = rec.config.get("teacher") or ""
    if not tid:
        return True
    try:
        t = store.get_run(tid)
    except (KeyError, ValueError):
        store.transition(rec.id, (st.QUEUED,), status=st.FAILED, reason=f"teacher run {tid!r} does not exist",
                         finished=time.time())
        return False
    if t.status == st.FINISHED:
        return True
    if t.active:
        return False
    store.transition(rec.id, (st.QUEUED,), status=st.FAILED,
                     reason=f"teacher run {tid} ({t.name}) is {t.status}; resume it, then resume this run",
                     finished=time.time())
    return False
