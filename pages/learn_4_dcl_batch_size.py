"""Lesson 4 · Hard negatives and batch size: NT-Xent and DCL with small and full batches, from one start."""

from __future__ import annotations

import streamlit as st

from ui.data import get_store
from ui.learn import compare_figure, style
from ui.learn_widgets import (
    lesson_intro,
    lesson_outro,
    predict,
    presentation_mode,
    run_toy_lesson,
    show_sentences,
    show_verdict,
)
from ui.lessons import verdict
from ui.lessons_more import DCL_BATCH as LESSON
from ui.lessons_more import DCL_KEYS, dcl_observed, dcl_sentences, dcl_shares

get_store()  # no run is read here; this keeps the router and the Train form as on every page
present = presentation_mode()
lesson_intro(LESSON)
answer = predict(LESSON.question, key="learn4_predict")
result = run_toy_lesson(LESSON, "learn4", answer)
if result:
    runs = dict(zip(DCL_KEYS, result["runs"], strict=True))
    st.plotly_chart(compare_figure(result["runs"], result["labels"], style=style(present)), width="stretch",
                    key="learn4_fig")
    if not present:
        st.caption(f"computed in {result['seconds']:.2f} s · press ▶ Play to watch the four runs in step")
    show_sentences(dcl_sentences(runs, *dcl_shares(runs)), present)
    show_verdict(*verdict(LESSON.question, result["predicted"], *dcl_observed(runs)))
lesson_outro(LESSON, present)
