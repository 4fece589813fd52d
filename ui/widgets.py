"""Shared widgets: the run picker and the "what this measures" box."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from jobs import store as stmod
from ui.data import run_label

SELECTED = "lab_selected_runs"  # run ids picked on the Runs page or any view, shared by the views
QUERY_RUNS = "runs"  # the same ids in the URL (?runs=a,b): survives a reload, can be bookmarked
MAX_SELECTED = 24


def explain(title: str, latex: list[str], text: str, *, expanded: bool = True) -> None:
    """A box that says what a view measures (formula) and what to look for."""
    with st.expander(f"What this shows: {title}", expanded=expanded):
        for f in latex:
            st.latex(f)
        st.markdown(text)


def runs_with_snapshots(store: stmod.Store) -> list[stmod.RunRecord]:
    counts = store.snapshot_counts()
    return [r for r in store.list_runs() if counts.get(r.id, 0) > 0]


def selected_runs() -> list[str]:
    """The runs a person picked (ids, in order): the session's choice, else the URL's
    ``?runs=`` (a reload or a bookmark starts a new session)."""
    if SELECTED not in st.session_state:
        raw = st.query_params.get(QUERY_RUNS, "")
        st.session_state[SELECTED] = [i for i in raw.split(",") if i][:MAX_SELECTED]
    return list(st.session_state[SELECTED])


def set_selected_runs(ids: list[str]) -> None:
    """Share a choice of runs with every view and keep it in the URL."""
    ids = list(dict.fromkeys(ids))[:MAX_SELECTED]
    st.session_state[SELECTED] = ids
    sync_url()


def sync_url() -> None:
    """Write the session's choice of runs into the URL (page links drop the query string)."""
    ids = st.session_state.get(SELECTED, [])
    want = ",".join(ids)
    if st.query_params.get(QUERY_RUNS, "") != want:
        if want:
            st.query_params[QUERY_RUNS] = want
        else:
            st.query_params.pop(QUERY_RUNS, None)


def _no_runs(store: stmod.Store, empty: str) -> None:
    """Say that no run qualifies; while runs are queued or running, rerun the page when one
    of them writes its first snapshot."""
    st.info(empty or "No run has a snapshot yet. Start one on the **Train** page; its first snapshot "
            "arrives within seconds.")
    rerun_on_new_snapshots(store, store.list_runs(status=stmod.ACTIVE))


def pick_runs(store: stmod.Store, key: str, *, max_runs: int = 6, label: str = "Runs",
              where: Callable[[stmod.RunRecord], bool] | None = None, empty: str = "",
              default: Callable[[list[stmod.RunRecord]], list[str]] | None = None) -> list[stmod.RunRecord]:
    """Multi-select over runs that have snapshots (and satisfy ``where``). Starts from the
    runs picked on any view or on the Runs page (kept in the URL), else ``default(runs)``
    (run ids), else the newest run; a change here is shared with the other views.
    ``empty``: the message when no run qualifies."""
    runs = [r for r in runs_with_snapshots(store) if where is None or where(r)]
    if not runs:
        _no_runs(store, empty)
        return []
    by_id = {r.id: r for r in runs}
    chosen = [i for i in selected_runs() if i in by_id][:max_runs]
    if not chosen:
        chosen = [i for i in st.session_state.get(key) or [] if i in by_id][:max_runs]
    if not chosen:
        chosen = [i for i in (default(runs) if default else []) if i in by_id][:max_runs] or [runs[0].id]
    if st.session_state.get(key) != chosen:
        st.session_state[key] = chosen

    def _changed() -> None:
        picked = [i for i in st.session_state[key] if i in by_id]
        known = {r.id for r in store.list_runs()}
        others = [i for i in selected_runs() if i not in by_id and i in known]  # picks this view cannot show
        set_selected_runs(picked + others)

    st.multiselect(label, options=list(by_id), format_func=lambda i: run_label(by_id[i]), key=key,
                   max_selections=max_runs, on_change=_changed)
    sync_url()
    return [by_id[i] for i in st.session_state[key]]


def pick_run(store: stmod.Store, key: str, *, label: str = "Run",
             where: Callable[[stmod.RunRecord], bool] | None = None, empty: str = "") -> stmod.RunRecord | None:
    """Select box over runs that have snapshots (and satisfy ``where``): the first picked run
    it can show, else the newest. Picking another run here makes it the first of the shared
    choice (the views that show several runs keep the others)."""
    runs = [r for r in runs_with_snapshots(store) if where is None or where(r)]
    if not runs:
        _no_runs(store, empty)
        return None
    by_id = {r.id: r for r in runs}
    sel = [i for i in selected_runs() if i in by_id]
    want = sel[0] if sel else st.session_state.get(key) if st.session_state.get(key) in by_id else runs[0].id
    if st.session_state.get(key) != want:
        st.session_state[key] = want

    def _changed() -> None:
        rid = st.session_state[key]
        if rid not in by_id:
            return
        current = selected_runs()
        set_selected_runs([rid, *[i for i in current if i != rid]] if rid in current else [rid])

    st.selectbox(label, options=list(by_id), format_func=lambda i: run_label(by_id[i]), key=key, on_change=_changed)
    sync_url()
    return by_id[st.session_state[key]]


def epoch_slider(label: str, epochs: list[int], *, key: str, container=None) -> int:
    """A select-slider over snapshot epochs that follows the newest epoch while it is at
    the end (a training run's new snapshots move it along); a person who moved it back
    stays where they put it, until they move it to the end again. One epoch: no slider."""
    where = container or st
    epochs = sorted(set(int(e) for e in epochs))
    if len(epochs) == 1:
        st.session_state.pop(key, None)
        return epochs[0]
    follow = f"{key}__follow"  # whether the slider follows the newest epoch
    cur = st.session_state.get(key)
    if follow not in st.session_state:  # a value set before the first draw (a link, a test) is kept
        st.session_state[follow] = cur not in epochs or cur == epochs[-1]
    if st.session_state[follow] or cur not in epochs:
        st.session_state[key] = epochs[-1]

    def _moved() -> None:  # only a person's move calls this, never a new snapshot
        st.session_state[follow] = st.session_state[key] == epochs[-1]

    return int(where.select_slider(label, options=epochs, key=key, on_change=_moved))


def _progress_signature(store: stmod.Store, ids: list[str]) -> tuple:
    counts = store.snapshot_counts()
    status = {r.id: r.status for r in store.list_runs()}
    return tuple((i, counts.get(i, 0), status.get(i, "deleted")) for i in ids)


def rerun_on_new_snapshots(store: stmod.Store, runs: list[stmod.RunRecord], *, every: float = 2.0) -> None:
    """While any of ``runs`` is queued or running, rerun the page when one of them writes a
    snapshot or stops (a light poll of the store from a fragment; the page itself is not
    redrawn until something changed). Call it before reading the runs' snapshots."""
    ids = [r.id for r in runs if r.active]
    if not ids:
        return
    seen = _progress_signature(store, ids)

    @st.fragment(run_every=every)
    def _watch() -> None:
        if _progress_signature(store, ids) != seen:
            st.rerun()

    _watch()
