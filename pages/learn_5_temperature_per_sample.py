"""Lesson 5 · A temperature per sample: iSogCLR on long-tailed digits, trained for real."""

from __future__ import annotations

import streamlit as st

from analysis.lesson_numbers import tau_classes
from jobs import store as stmod
from ui.data import get_store, snapshot_arrays, snapshots
from ui.learn import style, tau_class_figure
from ui.learn_widgets import (
    lesson_intro,
    lesson_outro,
    lesson_runs,
    predict,
    presentation_mode,
    show_progress,
    show_sentences,
    show_verdict,
)
from ui.lessons import verdict
from ui.lessons_more import ISOGCLR as LESSON
from ui.lessons_more import isogclr_observed, isogclr_sentences
from ui.widgets import rerun_on_new_snapshots, set_selected_runs

store = get_store()
present = presentation_mode()
lesson_intro(LESSON)
answer = predict(LESSON.question, key="learn5_predict")
held = lesson_runs(store, LESSON, "learn5", answer)
if held:
    (run,), predicted = held
    rerun_on_new_snapshots(store, [run])
    show_progress([run])
    snaps = snapshots(store, run.id)
    if snaps:
        last = snaps[-1]
        arrays = snapshot_arrays(store, run.id, last["epoch"], last["created"])
        taus = tau_classes(arrays["ps_tau"], arrays["y"])
        tau0 = float(run.config["temperature"])
        st.plotly_chart(tau_class_figure(taus.classes, taus.counts, taus.means, taus.stds, tau0=tau0,
                                         epoch=last["epoch"], style=style(present)), width="stretch", key="learn5_fig")
        if not present:
            st.caption("Each bar is one class of the training split (its size under it), most frequent first; the "
                       "whisker is one standard deviation of its samples' τ_i.")
        if run.status == stmod.FINISHED:
            show_sentences(isogclr_sentences(taus, tau0=tau0, epoch=last["epoch"]), present)
            show_verdict(*verdict(LESSON.question, predicted, *isogclr_observed(taus)))
            if st.button("Open the run on Temperature", icon=":material/thermostat:", key="learn5_open"):
                set_selected_runs([run.id])
                st.switch_page("pages/temperature.py")
lesson_outro(LESSON, present)
