"""Lesson 2 · Temperature: NT-Xent at three temperatures from one start."""

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
from ui.lessons import TEMPERATURE as LESSON
from ui.lessons import temperature_observed, temperature_sentences, verdict

get_store()  # no run is read here; this keeps the router and the Train form as on every page
present = presentation_mode()
lesson_intro(LESSON)
answer = predict(LESSON.question, key="learn2_predict")
result = run_toy_lesson(LESSON, "learn2", answer)
if result:
    st.plotly_chart(compare_figure(result["runs"], result["labels"], style=style(present)), width="stretch",
                    key="learn2_fig")
    if not present:
        st.caption(f"computed in {result['seconds']:.2f} s · press ▶ Play to watch the three runs in step")
    show_sentences(temperature_sentences(result["runs"]), present)
    show_verdict(*verdict(LESSON.question, result["predicted"], *temperature_observed(result["runs"])))
lesson_outro(LESSON, present)
