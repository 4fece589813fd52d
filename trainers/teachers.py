"""Which runs can teach a distilled run: the checks made before a run is queued.

Kept apart from ``trainers.distill`` (which trains with torch) so that the app's Train page
can check a teacher without loading torch; ``trainers.distill`` re-exports
:func:`check_teacher`.
"""

from __future__ import annotations

from trainers import registry
from trainers import store as st
from trainers.config import ConfigError, RunConfig

#: Config fields that say which data a run saw; a teacher and its student must agree on them.
DATA_FIELDS = ("dataset", "n_classes", "data_dim", "n_samples", "imbalance_ratio", "few_samples")


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
