"""Cached reads of the store for the pages (caching at the edge, keyed by run and epoch)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
from threadpoolctl import threadpool_limits

from jobs import runner
from jobs import store as stmod
from trainers import registry
from ui.colours import assign_run_colours

STATUS_ICON = {  # plain symbols: they render in every font
    "queued": "…",
    "running": "▶",
    "finished": "✓",
    "cancelled": "■",
    "failed": "✕",
    "diverged": "⚠",
    "imported": "↓",
}


@contextmanager
def one_thread() -> Iterator[None]:
    """Run a page's computation with one BLAS/OpenMP thread and one torch thread.

    The server computes on small arrays while the workers keep every core busy; a pool of
    several threads then waits for cores that are taken: on 2 cores with two runs training,
    the SVD of a (600, 128) matrix took 0.5-5 s with two threads and 0.03 s with one
    (``bench/bench_pages_load.py``). The previous thread counts are restored afterwards (torch's
    count is one per process: two sessions computing at once may leave the server at one
    thread, which is what its pages want anyway). Torch's threads are set only when a view
    has loaded torch: the server does not import it for this."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(before)


@st.cache_resource(show_spinner=False)
def _store_for(root: str) -> stmod.Store:
    return stmod.Store(root)


def _ensure_router() -> None:
    """Make sure the page runs under app.py's st.navigation.

    Streamlit keeps a relic of its first multipage design: on the very first script run
    of a server whose entrypoint sits next to a ``pages/`` folder, a URL such as
    ``/runs`` executes ``pages/runs.py`` alone, without app.py (no shared sidebar, the
    folder's file names as navigation). Once app.py has called st.navigation the flag
    is off for good; if it is still on here, turn it off and rerun through the router.
    A session the router has already served is not rerun (AppTest turns the flag back on
    before every run; a rerun there would drop the run's button clicks).
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - other streamlit versions
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if not st.session_state.get("lab_routed"):
            st.rerun()
    else:
        st.session_state["lab_routed"] = True


FORM_PREFIX = "train_"  # the Train form's widgets
FORM_ACTIONS = ("train_cancel", "train_delete", "train_resume", "train_scratch", "train_loss_chart",
                "train_queued_list")  # buttons and charts of the Train page: not form state


def keep_form_state() -> None:
    """Keep what a person typed into the Train form while they look at other pages: Streamlit
    forgets the state of widgets that a script run does not draw, unless it is set again."""
    for key in [k for k in st.session_state if str(k).startswith(FORM_PREFIX) and not str(k).startswith(FORM_ACTIONS)]:
        st.session_state[key] = st.session_state[key]


def get_store() -> stmod.Store:
    """The lab store (``$LAB_STORE`` or ./lab_store), one handle per server process.
    Every page calls this first (it also makes sure app.py's router is in charge). A store
    that cannot be opened (a damaged database, a path that is not a folder) stops the page
    with what is wrong and what to do."""
    _ensure_router()
    keep_form_state()
    try:
        return _store_for(str(stmod.default_root()))
    except (stmod.StoreError, OSError) as e:
        st.error(f"The lab store at {stmod.default_root()} cannot be opened: {e}", icon=":material/error:")
        st.stop()


def ensure_scheduler_throttled(store: stmod.Store, every: float = 5.0) -> None:
    """Restart the scheduler if it is gone (at most every few seconds per session)."""
    key = "lab_sched_checked"
    now = time.monotonic()
    if now - st.session_state.get(key, 0.0) < every:
        return
    st.session_state[key] = now
    try:
        runner.reap(store)
        if runner.warm_enabled():  # a person may press Train soon: have a warm worker ready
            runner.ensure_scheduler(store)
        else:
            runner.wake_scheduler(store)
    except (stmod.StoreError, OSError):  # shown by the sidebar's store health line
        pass


def runs_frame(store: stmod.Store) -> pd.DataFrame:
    """One row per run with its status and final metrics (not cached: it is the live view)."""
    rows = []
    for r in store.list_runs():
        c = r.config
        m = r.metrics
        rows.append(
            {
                "id": r.id,
                "": STATUS_ICON.get(r.status, ""),
                "status": r.status,
                "name": r.name,
                "dataset": c.get("dataset"),
                "loss": c.get("loss"),
                "encoder": c.get("encoder"),
                "epoch": f"{r.epoch}/{r.total_epochs}",
                "progress": r.progress,
                "seconds": round(r.seconds, 1),
                "kNN acc": m.get("knn_accuracy"),
                "linear acc": m.get("linear_accuracy"),
                "alignment": m.get("alignment"),
                "uniformity": m.get("uniformity"),
                "RankMe": m.get("rankme"),
                "group": r.group,
                "ran on": " · ".join(x for x in (r.backend, r.node) if x),
                "reason": r.reason,
                "created": pd.Timestamp(r.created, unit="s"),
            }
        )
    df = pd.DataFrame(rows)
    for col in ("kNN acc", "linear acc", "alignment", "uniformity", "RankMe"):
        if col in df:  # None (a metric the run's task has not) shows as an empty cell, not "None"
            df[col] = pd.to_numeric(df[col], errors="coerce")
    return df


def run_label(rec: stmod.RunRecord) -> str:
    """A run as a picker shows it: name and the end of its id. No status: a picker knows its
    choices by their labels, and a label that changed when the run finished lost the choice."""
    return f"{rec.name} · {rec.id[-6:]}"


def snapshots(store: stmod.Store, run_id: str) -> list[dict]:
    """Snapshot records of a run (epoch, step, metrics, created), read from the store on
    every call: one small SQLite query, so a view never shows a list older than the store.
    (Only what a snapshot holds is cached, keyed by its creation time, which a resume that
    rewrites an epoch changes.)"""
    return [{"epoch": x.epoch, "step": x.step, "metrics": x.metrics, "created": x.created}
            for x in store.snapshots(run_id)]


def snapshot_at_or_before(store: stmod.Store, run_id: str, epoch: int) -> dict:
    """The run's latest snapshot record at or before ``epoch`` (its first when it has none
    that early)."""
    snaps = snapshots(store, run_id)
    before = [s for s in snaps if s["epoch"] <= epoch]
    return before[-1] if before else snaps[0]


HEAVY = ("rep", "emb")  # the (N, D) matrices: read only by the cached computations that need them


def load_snapshot(root: str, run_id: str, epoch: int, created: float) -> dict[str, np.ndarray]:
    """Every array of a snapshot, the embedding matrices included. Not cached (a 200,000-sample
    snapshot is about 150 MB): call it inside a cached function that keeps only its result."""
    return _store_for(root).load_snapshot(run_id, epoch)


@st.cache_data(show_spinner=False, max_entries=64)
def light_snapshot(root: str, run_id: str, epoch: int, created: float) -> dict[str, np.ndarray]:
    """A snapshot without its embedding matrices (labels, indices, PCA coordinates, spectra,
    per-sample values): what pages draw from; cached."""
    return _store_for(root).load_snapshot(run_id, epoch, skip=HEAVY)


def snapshot_arrays(store: stmod.Store, run_id: str, epoch: int, created: float) -> dict[str, np.ndarray]:
    """What a page draws from one snapshot (``light_snapshot``). A damaged snapshot stops the
    page there with what is damaged and what to do (the run pickers above stay usable)."""
    try:
        return light_snapshot(str(store.root), run_id, epoch, created)
    except stmod.StoreError as e:
        show_store_error(e)
        st.stop()


def show_store_error(e: Exception) -> None:
    """A store error (damaged snapshot or run, full disk, read-only store) in words, with what to do."""
    st.error(str(e), icon=":material/error:")
    st.caption("Other runs and pages are not affected: pick another run above, or check the store with "
               "`python -m trainers doctor` (`--repair` to fix what can be fixed).")


def projection(store: stmod.Store, run_id: str, epoch: int, space: str, method: str) -> np.ndarray | None:
    return store.projection(run_id, epoch, space, method)


def data_options(config: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The settings of a run's ``config`` that shape its dataset's rows and split (its dataset
    spec's options, the augmentation switches aside), as a hashable key: a generated set such as
    the shapes world draws other images for another ``n_samples``. Empty for an imported run."""
    spec = registry.DATASETS.get(str(config.get("dataset")))
    if spec is None:
        return ()
    return tuple((f, config[f]) for f in spec.options if not f.startswith("aug_") and f in config)


def _dataset(dataset: str, options: tuple[tuple[str, Any], ...]) -> Any:
    """The dataset ``dataset`` with the settings ``options`` (``trainers.data.load``)."""
    from trainers import data
    from trainers.config import RunConfig

    spec = registry.DATASETS[dataset]
    loss = "rnc" if spec.task == "regression" else "nt_xent"
    return data.load(RunConfig.from_dict({"dataset": dataset, "loss": loss,
                                          "encoder": registry.encoders_for_dataset(dataset)[0], **dict(options)}))


@st.cache_data(show_spinner=False, max_entries=8)
def dataset_images(dataset: str, options: tuple[tuple[str, Any], ...] = ()) -> np.ndarray | None:
    """Images by stable index for image datasets, else None: (N, 8, 8) grey levels in [0, 1]
    (digits), or (N, H, W, 3) RGB in [0, 1] (the shapes world). ``options``: the run's
    :func:`data_options` (a generated set's images depend on them)."""
    spec = registry.DATASETS.get(dataset)
    if spec is None or spec.kind not in ("image8", "rgb"):
        return None
    return _dataset(dataset, options).images


@st.cache_data(show_spinner=False, max_entries=8)
def dataset_factors(dataset: str, options: tuple[tuple[str, Any], ...] = ()) -> dict[str, np.ndarray]:
    """The per-sample factors of a dataset (the shapes world's colour, x, y, scale, angle, ...),
    name -> (N,) array by stable index (integer: a class factor; float: a numeric one); empty for
    datasets without factors. ``options``: the run's :func:`data_options`."""
    if dataset not in registry.DATASETS:
        return {}
    return {k: np.asarray(v) for k, v in _dataset(dataset, options).factors.items()}


def snapshot_factors(arrays: Mapping[str, np.ndarray], config: Mapping[str, Any],
                     metrics: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The factors of each row of a snapshot (``arrays``, from :func:`snapshot_arrays`; its
    ``metrics`` and its run's ``config``), name -> (N,) array in the snapshot's row order: the
    dataset's per-sample factors at the snapshot's stable indices (``arrays["index"]``). A worker
    writes them into the snapshot (``factor_<name>``); those are read as they are. A snapshot
    whose metrics have factor probes but whose arrays lack the factors loads them from the
    dataset (:func:`dataset_factors`, cached); any other has none (no dataset is loaded)."""
    stored = {k[len("factor_"):]: np.asarray(v) for k, v in arrays.items() if k.startswith("factor_")}
    if stored or not metrics.get("factor_probes"):
        return stored
    factors = dataset_factors(str(config.get("dataset")), data_options(config))
    index = np.asarray(arrays["index"])
    return {k: v[index] for k, v in factors.items() if len(index) == 0 or int(index.max()) < len(v)}


def metrics_over_epochs(store: stmod.Store, run_id: str) -> pd.DataFrame:
    snaps = snapshots(store, run_id)
    return pd.DataFrame([{"epoch": s["epoch"], **{k: v for k, v in s["metrics"].items() if k != "epoch"}} for s in snaps])


def run_colours(store: stmod.Store, shown: list[stmod.RunRecord] | tuple[stmod.RunRecord, ...] = ()) -> dict[str, str]:
    """Run id -> its colour, the same on every chart of the app; the runs ``shown`` together
    on the page never share one (``ui.colours.assign_run_colours``)."""
    return assign_run_colours(store.run_numbers(), [r.id for r in shown if r is not None])
