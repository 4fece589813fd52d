"""Cached reads of the store for the pages (caching at the edge, keyed by run and epoch)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from trainers import registry, runner
from trainers import store as stmod

STATUS_ICON = {  # plain symbols: they render in every font
    "queued": "…",
    "running": "▶",
    "finished": "✓",
    "cancelled": "■",
    "failed": "✕",
    "diverged": "⚠",
    "imported": "↓",
}


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


def get_store() -> stmod.Store:
    """The lab store (``$LAB_STORE`` or ./lab_store), one handle per server process.
    Every page calls this first (it also makes sure app.py's router is in charge)."""
    _ensure_router()
    return _store_for(str(stmod.default_root()))


def ensure_scheduler_throttled(store: stmod.Store, every: float = 5.0) -> None:
    """Restart the scheduler if it is gone (at most every few seconds per session)."""
    key = "lab_sched_checked"
    now = time.monotonic()
    if now - st.session_state.get(key, 0.0) < every:
        return
    st.session_state[key] = now
    runner.reap(store)
    active = store.list_runs(status=stmod.ACTIVE)
    pending = store.pending_projections("umap")
    if active or pending:
        runner.ensure_scheduler(store)


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
                "reason": r.reason,
                "created": pd.Timestamp(r.created, unit="s"),
            }
        )
    return pd.DataFrame(rows)


def run_label(rec: stmod.RunRecord) -> str:
    return f"{STATUS_ICON.get(rec.status, '')} {rec.name} · {rec.id[-6:]}"


@st.cache_data(show_spinner=False, max_entries=64)
def snapshot_list(root: str, run_id: str, _stamp: float) -> list[dict]:
    s = _store_for(root)
    return [{"epoch": x.epoch, "step": x.step, "metrics": x.metrics, "created": x.created} for x in s.snapshots(run_id)]


def snapshots(store: stmod.Store, run_id: str) -> list[dict]:
    """Snapshot records of a run (epoch, step, metrics); cache busted by the run's progress."""
    rec = store.get_run(run_id)
    return snapshot_list(str(store.root), run_id, rec.heartbeat or rec.finished or rec.created if rec.active else rec.finished or rec.created)


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
    return light_snapshot(str(store.root), run_id, epoch, created)


def projection(store: stmod.Store, run_id: str, epoch: int, space: str, method: str) -> np.ndarray | None:
    return store.projection(run_id, epoch, space, method)


@st.cache_data(show_spinner=False)
def dataset_images(dataset: str) -> np.ndarray | None:
    """(N, 8, 8) images by stable index for image datasets, else None."""
    from trainers import data
    from trainers.config import RunConfig

    if registry.DATASETS[dataset].kind != "image8":
        return None
    loss = "rnc" if registry.DATASETS[dataset].task == "regression" else "nt_xent"
    return data.load(RunConfig(dataset=dataset, loss=loss)).images


def metrics_over_epochs(store: stmod.Store, run_id: str) -> pd.DataFrame:
    snaps = snapshots(store, run_id)
    return pd.DataFrame([{"epoch": s["epoch"], **{k: v for k, v in s["metrics"].items() if k != "epoch"}} for s in snaps])
