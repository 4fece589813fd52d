"""Lesson 6 · Contrastive regression and ordinality: SupCon on bins, SupReMix, RnC and L1 on rotated digits."""

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
from ui.lessons_more import (
    REG_LABELS,
    metric_lines,
    regression_observed,
    regression_sentences,
    run_key,
)
from ui.lessons_more import REGRESSION as LESSON
from ui.widgets import rerun_on_new_snapshots, set_selected_runs

store = get_store()
present = presentation_mode()
lesson_intro(LESSON)
answer = predict(LESSON.question, key="learn6_predict")
held = lesson_runs(store, LESSON, "learn6", answer)
if held:
    runs, predicted = held
    rerun_on_new_snapshots(store, runs)
    show_progress(runs)
    colours = lesson_colours(store, runs)
    snaps = {run_key(r.config): snapshots(store, r.id) for r in runs}
    series = [(REG_LABELS[run_key(r.config)], colours[r.id], snaps[run_key(r.config)]) for r in runs]
    lines = metric_lines(series, "rank_correlation")
    if lines:
        st.plotly_chart(epoch_lines_figure(lines, title="How well distances follow the angle, epoch by epoch",
                                           yaxis="rank correlation ρ (representation)", style=style(present)),
                        width="stretch", key="learn6_fig")
        if not present:
            st.caption("ρ: the Spearman correlation between distances of held-out samples in the representation and "
                       "the differences of their angles (1: perfectly ordered).")
    if all(r.status == stmod.FINISHED for r in runs):
        final = {k: s[-1]["metrics"] for k, s in snaps.items()}
        show_sentences(regression_sentences(final, epoch=max(s[-1]["epoch"] for s in snaps.values())), present)
        show_verdict(*verdict(LESSON.question, predicted, *regression_observed(final)))
        if st.button("Open the runs on Ordinality", icon=":material/trending_up:", key="learn6_open"):
            set_selected_runs([r.id for r in runs])
            st.switch_page("pages/ordinality.py")
lesson_outro(LESSON, present)
