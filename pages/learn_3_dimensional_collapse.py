"""Lesson 3 · Dimensional collapse: Jing et al.'s linear encoder on their toy data, trained for real."""

from __future__ import annotations

import streamlit as st

from jobs import store as stmod
from ui.data import STATUS_ICON, get_store, snapshot_arrays, snapshots
from ui.learn import spectra_figure, style
from ui.learn_widgets import (
    lesson3_run,
    lesson_intro,
    lesson_outro,
    predict,
    presentation_mode,
    show_sentences,
    show_verdict,
)
from ui.lessons import ALIVE, collapse_observed, collapse_sentences, verdict
from ui.lessons import DIMENSIONAL_COLLAPSE as LESSON
from ui.text import md_escape
from ui.widgets import rerun_on_new_snapshots, set_selected_runs

store = get_store()
present = presentation_mode()
lesson_intro(LESSON)
answer = predict(LESSON.question, key="learn3_predict")
held = lesson3_run(store, "learn3", answer)
if held:
    run, predicted = held
    rerun_on_new_snapshots(store, [run])
    if run.active:
        text = f"{STATUS_ICON[run.status]} {run.status} · epoch {run.epoch}/{run.total_epochs}"
        if run.status == stmod.QUEUED or (run.epoch == 0 and not run.seconds):
            text += " · the worker starts and loads its libraries (a few seconds)"
        st.progress(run.progress, text=text)
    elif run.status != stmod.FINISHED:
        st.error(f"The run {run.status}: {md_escape(run.reason or 'no reason recorded')}", icon=":material/error:")
    snaps = snapshots(store, run.id)
    if snaps:
        first, last = snaps[0], snaps[-1]
        arrays = {s["epoch"]: snapshot_arrays(store, run.id, s["epoch"], s["created"]) for s in snaps}
        spectra = {e: a["spectrum_emb"] for e, a in arrays.items()}
        top = float(max(spectra[last["epoch"]]))
        st.plotly_chart(spectra_figure(spectra, title="Covariance spectrum of the embedding, epoch by epoch",
                                       floor=ALIVE * top, style=style(present)), width="stretch", key="learn3_fig")
        if not present:
            st.caption("Each line is one snapshot (dark: early, light: late). The dotted line is 1/1000 of the last "
                       "snapshot's largest eigenvalue: directions below it have collapsed.")
        if run.status == stmod.FINISHED:
            sentences = collapse_sentences(
                (first["epoch"], spectra[first["epoch"]]), (last["epoch"], spectra[last["epoch"]]),
                representation=arrays[last["epoch"]]["spectrum_rep"],
                rankme=(first["metrics"].get("rankme_emb"), last["metrics"].get("rankme_emb"))
                if "rankme_emb" in first["metrics"] and "rankme_emb" in last["metrics"] else None)
            show_sentences(sentences, present)
            show_verdict(*verdict(LESSON.question, predicted,
                                  *collapse_observed((last["epoch"], spectra[last["epoch"]]))))
            if st.button("Open the run on Dimensional Collapse", icon=":material/stacked_line_chart:",
                         key="learn3_open"):
                set_selected_runs([run.id])
                st.switch_page("pages/collapse.py")
lesson_outro(LESSON, present)
