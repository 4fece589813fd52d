"""Lesson 7 · Distillation and momentum self-distillation: centring only, sharpening only, both."""

from __future__ import annotations

import streamlit as st

from jobs import store as stmod
from ui.data import get_store, snapshots
from ui.learn import epoch_lines_figure, style
from ui.learn_widgets import (
    lesson_colours,
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
from ui.lessons_more import DISTILLATION as LESSON
from ui.lessons_more import MSD_LABELS, metric_lines, msd_observed, msd_sentences, run_key
from ui.widgets import rerun_on_new_snapshots, set_selected_runs

store = get_store()
present = presentation_mode()
lesson_intro(LESSON)
answer = predict(LESSON.question, key="learn7_predict")
held = lesson_runs(store, LESSON, "learn7", answer)
if held:
    runs, predicted = held
    rerun_on_new_snapshots(store, runs)
    show_progress(runs)
    colours = lesson_colours(store, runs)
    snaps = {run_key(r.config): snapshots(store, r.id) for r in runs}
    series = [(MSD_LABELS[run_key(r.config)], colours[r.id], snaps[run_key(r.config)]) for r in runs]
    lines = (metric_lines(series, "teacher_entropy", suffix=" · per input")
             + metric_lines(series, "teacher_mean_entropy", suffix=" · mean distribution", dash="dot"))
    hmax = next((s["metrics"]["entropy_max"] for ss in snaps.values() for s in ss if "entropy_max" in s["metrics"]),
                None)
    if lines:
        st.plotly_chart(epoch_lines_figure(lines, title="The teacher's entropy, epoch by epoch", yaxis="entropy H (nats)",
                                           reference=(hmax, f"log K = {hmax:.2f}: uniform") if hmax else None,
                                           style=style(present)), width="stretch", key="learn7_fig")
        if not present:
            st.caption("Solid: the entropy of each held-out input's teacher distribution, averaged (0: all mass on "
                       "one output). Dotted: the entropy of their mean (low: every input uses the same few outputs).")
    if all(r.status == stmod.FINISHED for r in runs):
        final = {k: s[-1]["metrics"] for k, s in snaps.items()}
        first = {k: next(x["metrics"] for x in s if "teacher_entropy" in x["metrics"]) for k, s in snaps.items()}
        show_sentences(msd_sentences(final, first, epoch=max(s[-1]["epoch"] for s in snaps.values())), present)
        show_verdict(*verdict(LESSON.question, predicted, *msd_observed(final)))
        if st.button("Open the runs on Momentum Self-Distillation", icon=":material/autorenew:", key="learn7_open"):
            set_selected_runs([r.id for r in runs])
            st.switch_page("pages/distillation_msd.py")
lesson_outro(LESSON, present)
