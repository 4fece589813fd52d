"""The actions on one run that a page offers: cancel, resume, delete (after a confirmation).

The Runs page shows them for the run whose details are open, so any run of the store, not
only the few recent ones the Train page lists, can be stopped, continued or removed.
"""

from __future__ import annotations

import streamlit as st

from jobs import runner
from jobs import store as stmod
from ui.text import md_escape


def _confirm_key(prefix: str) -> str:
    return f"{prefix}_confirm"


def _cancel(store: stmod.Store, run_id: str) -> None:
    try:
        runner.cancel(store, run_id)
    except (stmod.StoreError, KeyError, ValueError) as e:
        st.toast(f"Cancel: {md_escape(e)}", icon=":material/block:")


def _resume(store: stmod.Store, run_id: str, prefix: str, from_scratch: bool = False) -> None:
    st.session_state[_confirm_key(prefix)] = None
    try:
        runner.resume(store, run_id, from_scratch=from_scratch)
    except ValueError as e:
        if "no checkpoint" in str(e) and not from_scratch:  # resuming would discard its data: ask first
            st.session_state[_confirm_key(prefix)] = ("scratch", run_id)
        else:
            st.toast(f"Not resumed: {md_escape(e)}", icon=":material/block:")
    except (stmod.StoreError, KeyError) as e:
        st.toast(f"Not resumed: {md_escape(e)}", icon=":material/block:")


def _delete(store: stmod.Store, run_id: str, prefix: str) -> None:
    st.session_state[_confirm_key(prefix)] = None
    try:
        name = store.get_run(run_id).name
        store.delete_run(run_id)
    except (RuntimeError, KeyError, stmod.StoreError) as e:  # active, or resumed or deleted elsewhere meanwhile
        st.toast(f"Not deleted: {md_escape(e)}", icon=":material/block:")
    else:
        st.toast(f"Deleted run {md_escape(name)} ({run_id}) and its data.", icon=":material/delete:")


def run_actions(store: stmod.Store, rec: stmod.RunRecord, *, prefix: str) -> None:
    """Buttons for ``rec``: Cancel while it is queued or running; Resume when it stopped
    (cancelled, failed, diverged; not an imported run); Delete when it is not active, which
    asks for a confirmation first."""
    confirm = st.session_state.get(_confirm_key(prefix))
    cols = st.columns(3)
    if rec.active:
        cols[0].button("Cancel", key=f"{prefix}_cancel_{rec.id}", icon=":material/stop:", disabled=rec.cancel_requested,
                       on_click=_cancel, args=(store, rec.id))
    if rec.status in stmod.RESUMABLE and not rec.imported:
        cols[1].button("Resume", key=f"{prefix}_resume_{rec.id}", icon=":material/play_arrow:",
                       help="Queue it again: it continues from its last checkpoint", on_click=_resume,
                       args=(store, rec.id, prefix))
    if not rec.active:
        cols[2].button("Delete", key=f"{prefix}_delete_{rec.id}", icon=":material/delete:",
                       help="Delete this run and its data (asks first)",
                       on_click=st.session_state.__setitem__, args=(_confirm_key(prefix), ("delete", rec.id)))
    if confirm == ("delete", rec.id):
        st.warning(f"Delete **{md_escape(rec.name)}** (`{rec.id}`) with its snapshots, maps and checkpoint? "
                   "This cannot be undone.", icon=":material/delete:")
        yes, no = st.columns(2)
        yes.button("Delete", type="primary", key=f"{prefix}_delete_yes_{rec.id}", on_click=_delete,
                   args=(store, rec.id, prefix))
        no.button("Keep", key=f"{prefix}_delete_no_{rec.id}", on_click=st.session_state.__setitem__,
                  args=(_confirm_key(prefix), None))
    elif confirm == ("scratch", rec.id):
        st.warning(f"**{md_escape(rec.name)}** has no checkpoint: a resume starts it from scratch and discards its "
                   "history and snapshots.", icon=":material/warning:")
        yes, no = st.columns(2)
        yes.button("Start from scratch", type="primary", key=f"{prefix}_scratch_yes_{rec.id}", on_click=_resume,
                   args=(store, rec.id, prefix, True))
        no.button("Keep as it is", key=f"{prefix}_scratch_no_{rec.id}", on_click=st.session_state.__setitem__,
                  args=(_confirm_key(prefix), None))
