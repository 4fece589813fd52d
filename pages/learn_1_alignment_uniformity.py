"""Lesson 1 · Alignment and uniformity: alignment alone, uniformity alone and both, from one start."""

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
from ui.lessons import ALIGNMENT_UNIFORMITY as LESSON
from ui.lessons import au_lesson_sentences, au_observed, verdict

get_store()  # no run is read here; this keeps the router and the Train form as on every page
present = presentation_mode()
lesson_intro(LESSON)
answer = predict(LESSON.question, key="learn1_predict")
result = run_toy_lesson(LESSON, "learn1", answer)
if result:
    runs = dict(zip(("align", "uniform", "align_uniform"), result["runs"], strict=True))
    st.plotly_chart(compare_figure(result["runs"], result["labels"], style=style(present)), width="stretch",
                    key="learn1_fig")
    if not present:
        st.caption(f"computed in {result['seconds']:.2f} s · press ▶ Play to watch the three runs in step")
    show_sentences(au_lesson_sentences(runs), present)
    show_verdict(*verdict(LESSON.question, result["predicted"], *au_observed(runs["align"])))
lesson_outro(LESSON, present)
