"""Shared widgets: the run picker and the "what this measures" box."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from trainers import store as stmod
from ui.data import run_label

SELECTED = "lab_selected_runs"  # run ids chosen on the Runs page, shared by the views


def explain(title: str, latex: list[str], text: str, *, expanded: bool = True) -> None:
    """A box that says what a view measures (formula) and what to look for."""
    with st.expander(f"What this shows: {title}", expanded=expanded):
        for f in latex:
            st.latex(f)
        st.markdown(text)


def runs_with_snapshots(store: stmod.Store) -> list[stmod.RunRecord]:
    counts = store.snapshot_counts()
    return [r for r in store.list_runs() if counts.get(r.id, 0) > 0]


def pick_runs(store: stmod.Store, key: str, *, max_runs: int = 6, label: str = "Runs",
              where: Callable[[stmod.RunRecord], bool] | None = None, empty: str = "",
              default: Callable[[list[stmod.RunRecord]], list[str]] | None = None) -> list[stmod.RunRecord]:
    """Multi-select over runs that have snapshots (and satisfy ``where``); defaults to the Runs
    page's selection, else ``default(runs)`` (run ids), else the newest run. ``empty``: the
    message when no run qualifies."""
    runs = [r for r in runs_with_snapshots(store) if where is None or where(r)]
    if not runs:
        st.info(empty or "No run has a snapshot yet. Start one on the **Train** page; its first snapshot "
                "arrives within seconds.")
        return []
    by_id = {r.id: r for r in runs}
    default_ids = [i for i in (default(runs) if default else []) if i in by_id][:max_runs]
    initial = [i for i in st.session_state.get(SELECTED, []) if i in by_id][:max_runs] or default_ids or [runs[0].id]
    if key not in st.session_state or not all(i in by_id for i in st.session_state[key]):
        st.session_state[key] = initial
    chosen = st.multiselect(label, options=list(by_id), format_func=lambda i: run_label(by_id[i]), key=key,
                            max_selections=max_runs)
    return [by_id[i] for i in chosen]


def pick_run(store: stmod.Store, key: str, *, label: str = "Run",
             where: Callable[[stmod.RunRecord], bool] | None = None, empty: str = "") -> stmod.RunRecord | None:
    """Select box over runs that have snapshots (and satisfy ``where``); ``empty``: the message
    when no run qualifies."""
    runs = [r for r in runs_with_snapshots(store) if where is None or where(r)]
    if not runs:
        st.info(empty or "No run has a snapshot yet. Start one on the **Train** page; its first snapshot "
                "arrives within seconds.")
        return None
    by_id = {r.id: r for r in runs}
    sel = [i for i in st.session_state.get(SELECTED, []) if i in by_id]
    if key not in st.session_state or st.session_state[key] not in by_id:
        st.session_state[key] = sel[0] if sel else runs[0].id
    rid = st.selectbox(label, options=list(by_id), format_func=lambda i: run_label(by_id[i]), key=key)
    return by_id[rid]


def rerun_on_new_snapshots(store: stmod.Store, runs: list[stmod.RunRecord], *, every: float = 2.0) -> None:
    """While any of ``runs`` is queued or running, rerun the page when one of them writes a
    snapshot (a light poll of the store from a fragment; the page itself is not redrawn)."""
    ids = [r.id for r in runs if r.active]
    if not ids:
        return
    seen = sum(store.snapshot_counts().get(i, 0) for i in ids)

    @st.fragment(run_every=every)
    def _watch() -> None:
        counts = store.snapshot_counts()
        if sum(counts.get(i, 0) for i in ids) != seen or any(not store.get_run(i).active for i in ids):
            st.rerun()

    _watch()
