"""Lesson 8 · Augmentations and shortcuts: crop + colour against crop only on the shapes world."""

from __future__ import annotations

import streamlit as st

from jobs import store as stmod
from ui.data import get_store, snapshots
from ui.learn import epoch_lines_figure, probe_bars_figure, style
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
    SHAPE_CHANCE,
    SHAPES_LABELS,
    metric_lines,
    run_key,
    shapes_observed,
    shapes_sentences,
)
from ui.lessons_more import SHORTCUTS as LESSON
from ui.widgets import rerun_on_new_snapshots, set_selected_runs

store = get_store()
present = presentation_mode()
lesson_intro(LESSON)
answer = predict(LESSON.question, key="learn8_predict")
held = lesson_runs(store, LESSON, "learn8", answer)
if held:
    runs, predicted = held
    rerun_on_new_snapshots(store, runs)
    show_progress(runs)
    colours = lesson_colours(store, runs)
    snaps = {run_key(r.config): snapshots(store, r.id) for r in runs}
    last = {r.id: snaps[run_key(r.config)][-1]["metrics"] for r in runs if snaps[run_key(r.config)]}
    bars = [(SHAPES_LABELS[run_key(r.config)], colours[r.id], last[r.id]["factor_probes"],
             last[r.id]["factor_probes_embedding"]) for r in runs if "factor_probes" in last.get(r.id, {})]
    if bars:
        st.plotly_chart(probe_bars_figure(bars, style=style(present)), width="stretch", key="learn8_fig")
        if not present:
            st.caption("Each run's newest snapshot. Solid: the representation (the encoder's output); hatched: the "
                       "projector output the loss sees. Colour is a class (6 hues: chance 0.17); the rest are "
                       "numbers (R², 0: no better than their mean).")
    lines = metric_lines([(SHAPES_LABELS[run_key(r.config)], colours[r.id], snaps[run_key(r.config)]) for r in runs],
                         "knn_accuracy")
    if lines:
        st.plotly_chart(epoch_lines_figure(lines, title="The shape, read by a kNN probe of the representation",
                                           yaxis="shape kNN accuracy", reference=(SHAPE_CHANCE, "chance"),
                                           style=style(present)), width="stretch", key="learn8_shape")
    if all(r.status == stmod.FINISHED for r in runs):
        final = {k: s[-1]["metrics"] for k, s in snaps.items()}
        show_sentences(shapes_sentences(final, epoch=max(s[-1]["epoch"] for s in snaps.values())), present)
        show_verdict(*verdict(LESSON.question, predicted, *shapes_observed(final)))
        if st.button("Open both runs on Compare", icon=":material/compare:", key="learn8_open"):
            set_selected_runs([r.id for r in runs])
            st.switch_page("pages/compare.py")
lesson_outro(LESSON, present)
