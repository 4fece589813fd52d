"""What the Learn pages share that draws widgets: the warm simulation process, the
presentation-mode toggle, a lesson's introduction, its prediction question and run button,
its sentences and its ending.

The simulations run in one child process per Streamlit server (``jobs.toy_cli.ToyServer``,
kept in ``st.cache_resource``): it imports torch once, the server never does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import streamlit as st

from jobs import runner
from jobs import store as stmod
from jobs.toy_cli import ToyServer
from trainers.config import RunConfig
from trainers.options import ConfigError
from trainers.presets import get_preset
from ui.colours import assign_run_colours
from ui.data import STATUS_ICON
from ui.learn import ToyRun
from ui.lessons import JING_PRESET, Lesson, Question
from ui.text import md_escape

SAVED = "learn_saved_settings"  # widget values of the Learn pages, kept across the other pages
PRESENT = "learn_present"  # the presentation-mode toggle (shared by the Learn pages, kept in the URL as ?present=1)
SIM_TIMEOUT = 120.0  # seconds one simulation may take (500 points, 1000 steps: about 20 s on one core)
LESSON3_NAME = "Learn · dimensional collapse (Jing toy)"


@st.cache_resource(show_spinner=False, on_release=lambda server: server.stop())
def toy_server() -> ToyServer:
    """The server's one simulation process (started at first use by :func:`run_toys`)."""
    return ToyServer(threads=1)


def warm_toy_server() -> None:
    """Start the simulation process in the background, if it is not running: a page that
    simulates calls this when it opens, so that torch is loaded by the time Play is pressed
    (a first Play then waits for the simulation only; a Play during the start waits for both)."""
    server = toy_server()
    if server.running:
        return

    def start() -> None:
        try:
            server.start()
        except (RuntimeError, TimeoutError, OSError):
            pass  # run_toys starts it again and says what went wrong

    threading.Thread(target=start, name="toy-server-start", daemon=True).start()


def run_toys(configs: Sequence[dict[str, Any]]) -> list[ToyRun] | None:
    """Simulate ``configs`` in the warm child process, one after the other, with a spinner; a
    child that is not running (first use, or it died) is started first. Shows what went wrong
    and returns None when a config is refused or a simulation fails."""
    server = toy_server()
    try:
        if not server.running:
            with st.spinner("Starting the simulation process (it loads PyTorch once, a few seconds)…"):
                server.start()
        out = []
        with st.spinner(f"Simulating {len(configs)} run{'s' if len(configs) > 1 else ''}…"):
            for cfg in configs:
                try:
                    reply = server.request(dict(cfg), SIM_TIMEOUT, views=True)
                except RuntimeError:
                    if server.running:
                        raise
                    server.start()  # the child died: once more in a fresh one
                    reply = server.request(dict(cfg), SIM_TIMEOUT, views=True)
                out.append(ToyRun.from_reply(reply))
        return out
    except ConfigError as e:
        st.error(f"These settings cannot run: {e}", icon=":material/block:")
    except (RuntimeError, TimeoutError, OSError) as e:
        st.error(f"The simulation failed: {e}", icon=":material/error:")
    return None


def remember(defaults: Mapping[str, Any]) -> None:
    """Give each widget key of ``defaults`` its value from this session's last visit, else its
    default, before the widgets are drawn (Streamlit forgets the state of widgets that a script
    run does not draw: another page's run drops them), and keep what the widgets hold now for
    the next visit."""
    saved = st.session_state.setdefault(SAVED, {})
    for key, value in defaults.items():
        if key not in st.session_state:
            st.session_state[key] = saved.get(key, value)
    saved.update({key: st.session_state[key] for key in defaults})


# --------------------------------------------------------------------------- presentation mode


def presentation_mode() -> bool:
    """The sidebar's "Presentation mode" toggle: one setting for every Learn page, kept across
    them and in the URL (``?present=1``), so a lecturer can bookmark it."""
    saved = st.session_state.setdefault(SAVED, {})
    if PRESENT not in st.session_state:  # a new session (the URL says), or back from a page without the toggle
        st.session_state[PRESENT] = saved.get(PRESENT, st.query_params.get("present") == "1")
    else:  # from one Learn page to the next, the toggle keeps its value
        st.session_state[PRESENT] = st.session_state[PRESENT]
    on = st.sidebar.toggle("Presentation mode", key=PRESENT,
                           help="For a lecture hall: larger fonts, markers and figures; settings, timings and "
                                "reading lists folded away.")
    saved[PRESENT] = bool(on)
    if on and st.query_params.get("present") != "1":
        st.query_params["present"] = "1"
    elif not on and "present" in st.query_params:
        st.query_params.pop("present")
    return bool(on)


# --------------------------------------------------------------------------- a lesson


def lesson_intro(lesson: Lesson) -> None:
    st.title(lesson.title)
    st.markdown(lesson.idea)
    for f in lesson.latex:
        st.latex(f)


def predict(question: Question, key: str) -> str | None:
    """The prediction question, with no answer chosen at first; returns the chosen key."""
    st.subheader("Predict first", anchor=False)
    return st.radio(question.text, list(question.options), format_func=question.options.__getitem__, index=None,
                    key=key)


def run_button(label: str, key: str, answer: str | None, *, busy: bool = False,
               on_click: Callable[[], None] | None = None) -> bool:
    """The lesson's run button, enabled once a prediction is chosen (and not while ``busy``)."""
    pressed = st.button(label, key=key, type="primary", icon=":material/play_arrow:", disabled=answer is None or busy,
                        on_click=on_click)
    if answer is None:
        st.caption("Choose an answer above first: the run then shows whether it holds.")
    return pressed


def run_toy_lesson(lesson: Lesson, key: str, answer: str | None) -> dict[str, Any] | None:
    """The run button of a playground lesson and its result, kept in the session:
    ``{"runs", "labels", "predicted", "seconds"}`` (the prediction as it was when run)."""
    store_key = f"{key}_result"
    warm_toy_server()
    if run_button("Run it", f"{key}_run", answer):
        t0 = time.perf_counter()
        runs = run_toys([cfg for _, cfg in lesson.runs])
        if runs is not None:
            st.session_state[store_key] = {"runs": runs, "labels": [label for label, _ in lesson.runs],
                                           "predicted": answer, "seconds": time.perf_counter() - t0}
    return st.session_state.get(store_key)


def show_sentences(sentences: Sequence[str], present: bool) -> None:
    """The run's explanation: one paragraph per sentence; larger in presentation mode."""
    st.subheader("What happened", anchor=False)
    for s in sentences:
        if present:
            st.markdown(f"#### {s}")
        else:
            st.markdown(s)


def show_verdict(ok: bool, text: str) -> None:
    if ok:
        st.success(text, icon=":material/check_circle:")
    else:
        st.warning(text, icon=":material/lightbulb:")


def lesson_outro(lesson: Lesson, present: bool) -> None:
    """"Try this next" and the paper the lesson comes from (folded away in presentation mode)."""
    box = st.expander("Try this next · the paper", expanded=False) if present else st.container()
    with box:
        st.subheader("Try this next", anchor=False)
        for t in lesson.try_next:
            st.markdown(f"- {t}")
        st.markdown(f"**From:** {lesson.paper}")


# --------------------------------------------------------------------------- lesson 3: a real run


def lesson3_config() -> RunConfig:
    """The Jing et al. preset's one run, named for the lesson."""
    return RunConfig.from_dict({**get_preset(JING_PRESET).configs[0], "name": LESSON3_NAME})


def finished_lesson3_run(store: stmod.Store) -> stmod.RunRecord | None:
    """The newest finished run of the store with exactly the lesson's configuration."""
    want = lesson3_config().to_dict()
    for r in store.list_runs(status=stmod.FINISHED):
        if r.config == want:
            return r
    return None


def lesson3_run(store: stmod.Store, key: str, answer: str | None) -> tuple[stmod.RunRecord, str] | None:
    """The run button of lesson 3: it queues the preset's run through the runner (as the Train
    page does), or takes a finished run of the same configuration when the store has one.
    Returns the run (read from the store on every call) and the prediction made when it was
    launched; None before the first press, or when the run was deleted."""
    def held_run() -> stmod.RunRecord | None:
        held = st.session_state.get(key)
        try:
            return store.get_run(held["id"]) if held else None
        except KeyError:  # deleted meanwhile
            st.session_state.pop(key, None)
            return None

    def launch() -> None:  # before the page runs again, so that the button it draws is already disabled
        done = finished_lesson3_run(store)
        if done is not None:
            st.session_state[key] = {"id": done.id, "predicted": answer, "reused": True}
        else:
            st.session_state[key] = {"id": runner.submit(store, lesson3_config()), "predicted": answer,
                                     "reused": False}

    rec = held_run()
    run_button("Train it", f"{key}_run", answer, busy=rec is not None and rec.active, on_click=launch)
    held = st.session_state.get(key)
    if rec is None or not held:
        return None
    if held.get("reused"):
        st.caption(f"This store already holds a finished run of the preset (`{rec.id}`): shown here instead of "
                   "training it again.")
    return rec, held["predicted"]


# --------------------------------------------------------------------------- lessons that train several real runs


def lesson_configs(lesson: Lesson) -> list[RunConfig]:
    """The runs a lesson trains (``Lesson.train``), as configs."""
    return [RunConfig.from_dict(over) for over in lesson.train]


def finished_run(store: stmod.Store, config: RunConfig) -> stmod.RunRecord | None:
    """The newest finished run of the store with exactly ``config``."""
    want = config.to_dict()
    for r in store.list_runs(status=stmod.FINISHED):
        if r.config == want:
            return r
    return None


def lesson_runs(store: stmod.Store, lesson: Lesson, key: str,
                answer: str | None) -> tuple[list[stmod.RunRecord], str] | None:
    """The "Train it" button of a lesson that trains real runs: it queues the lesson's runs
    through the runner (as the Train page does), each one that the store already holds finished
    (the same configuration) taken as it is. Returns the runs, in the lesson's order, read from
    the store on every call, and the prediction made when they were launched; None before the
    first press, or when a run was deleted."""
    def held_runs() -> list[stmod.RunRecord] | None:
        held = st.session_state.get(key)
        try:
            return [store.get_run(i) for i in held["ids"]] if held else None
        except KeyError:  # deleted meanwhile
            st.session_state.pop(key, None)
            return None

    def launch() -> None:  # before the page runs again, so that the button it draws is already disabled
        ids, reused = [], 0
        for cfg in lesson_configs(lesson):
            done = finished_run(store, cfg)
            if done is not None:
                ids.append(done.id)
                reused += 1
            else:
                ids.append(runner.submit(store, cfg))
        st.session_state[key] = {"ids": ids, "predicted": answer, "reused": reused}

    runs = held_runs()
    run_button("Train it", f"{key}_run", answer, busy=runs is not None and any(r.active for r in runs),
               on_click=launch)
    held = st.session_state.get(key)
    if runs is None or not held:
        return None
    if held.get("reused"):
        n = held["reused"]
        st.caption(f"This store already holds {'a finished run' if n == 1 else f'{n} finished runs'} of the lesson: "
                   "shown here instead of training again.")
    return runs, held["predicted"]


def lesson_colours(store: stmod.Store, runs: Sequence[stmod.RunRecord]) -> dict[str, str]:
    """Run id -> the run's colour, as on every chart of the app."""
    return assign_run_colours(store.run_numbers(), [r.id for r in runs])


def show_progress(runs: Sequence[stmod.RunRecord]) -> None:
    """A progress bar per run that is queued or training; what went wrong with a run that
    stopped without finishing."""
    for run in runs:
        name = md_escape(run.name)
        if run.active:
            text = f"{name} · {STATUS_ICON[run.status]} {run.status} · epoch {run.epoch}/{run.total_epochs}"
            if run.status == stmod.QUEUED:
                text += " · waits for a free worker"
            elif run.epoch == 0 and not run.seconds:
                text += " · the worker starts and loads its libraries (a few seconds)"
            st.progress(run.progress, text=text)
        elif run.status != stmod.FINISHED:
            st.error(f"{name}: the run {run.status}: {md_escape(run.reason or 'no reason recorded')}",
                     icon=":material/error:")
