"""Shared widgets: the run picker and the "what this measures" box."""

from __future__ import annotations

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


def pick_runs(store: stmod.Store, key: str, *, max_runs: int = 6, label: str = "Runs") -> list[stmod.RunRecord]:
    """Multi-select over runs that have snapshots; defaults to the Runs page's selection,
    else the newest run."""
    runs = runs_with_snapshots(store)
    if not runs:
        st.info("No run has a snapshot yet. Start one on the **Train** page; its first snapshot "
                "arrives within seconds.")
        return []
    by_id = {r.id: r for r in runs}
    default = [i for i in st.session_state.get(SELECTED, []) if i in by_id][:max_runs] or [runs[0].id]
    if key not in st.session_state or not all(i in by_id for i in st.session_state[key]):
        st.session_state[key] = default
    chosen = st.multiselect(label, options=list(by_id), format_func=lambda i: run_label(by_id[i]), key=key,
                            max_selections=max_runs)
    return [by_id[i] for i in chosen]


def pick_run(store: stmod.Store, key: str, *, label: str = "Run") -> stmod.RunRecord | None:
    runs = runs_with_snapshots(store)
    if not runs:
        st.info("No run has a snapshot yet. Start one on the **Train** page; its first snapshot "
                "arrives within seconds.")
        return None
    by_id = {r.id: r for r in runs}
    sel = [i for i in st.session_state.get(SELECTED, []) if i in by_id]
    if key not in st.session_state or st.session_state[key] not in by_id:
        st.session_state[key] = sel[0] if sel else runs[0].id
    rid = st.selectbox(label, options=list(by_id), format_func=lambda i: run_label(by_id[i]), key=key)
    return by_id[rid]
