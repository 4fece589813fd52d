"""The sidebar's "Runs train on" setting: this machine's worker processes, or a Ray cluster
(jobs.runner.choose_backend; docs/scaling.md)."""

from __future__ import annotations

import os

import streamlit as st

from jobs import runner
from jobs import store as stmod

LABELS = {"local": "this machine", "ray": "a Ray cluster"}
KEY = "sidebar_backend"
ERROR = "sidebar_backend_error"


def _switch(store: stmod.Store) -> None:
    """The selectbox's change: save the choice, or keep the reason it was refused (the box then
    shows the store's setting again: it is set from the store on every run)."""
    st.session_state.pop(ERROR, None)
    try:
        runner.choose_backend(store, st.session_state[KEY])
    except (ValueError, stmod.StoreError, OSError) as e:
        st.session_state[ERROR] = str(e)


def backend_choice(store: stmod.Store) -> None:
    """The setting, what it means now, and why a change was refused."""
    if store.read_only:
        return
    chosen = runner.chosen_backend(store)
    st.session_state[KEY] = chosen if chosen in LABELS else "local"  # the store's setting, whoever changed it
    st.selectbox("Runs train on", list(LABELS), format_func=LABELS.__getitem__, key=KEY, on_change=_switch,
                 args=(store,), disabled=bool(os.environ.get("LAB_BACKEND")),
                 help="This machine: worker processes here (a warm one waits, so a run starts at once). A Ray cluster: "
                      "each run is a Ray actor on some node of the cluster at $RAY_ADDRESS (or the one `ray start "
                      "--head` started here); the store stays here. A change applies to runs that start after the "
                      "runs training now have ended. $LAB_BACKEND, when set, decides.")
    if ERROR in st.session_state:
        st.warning(st.session_state[ERROR], icon=":material/warning:")
    running = runner.scheduler_backend(store)
    if running is not None and running != chosen:
        n = len(store.list_runs(status=stmod.RUNNING))
        st.caption(f"The scheduler still uses {LABELS.get(running, running)}: " + (
            f"it hands over when its {n} running run{'s' if n != 1 else ''} end{'s' if n == 1 else ''}." if n
            else "it hands over now."))
    failed = runner.backend_error(store)
    if failed and running is None and f"the scheduler's {chosen} backend" in failed:
        st.warning(f"{failed}. Runs queued now fail until this is fixed: start the cluster (docs/scaling.md), or "
                   "choose this machine.", icon=":material/warning:")
