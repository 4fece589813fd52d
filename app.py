"""Embedding Geometry Lab: the router (page config, shared sidebar, navigation)."""

from __future__ import annotations

import streamlit as st

from jobs import store as stmod
from ui.backend_choice import backend_choice
from ui.data import ensure_scheduler_throttled, get_store, show_store_error

st.set_page_config(page_title="Embedding Geometry Lab", page_icon=":material/explore:", layout="wide")

PAGES = {
    "Train": [
        st.Page("pages/train.py", title="Train", icon=":material/play_circle:", default=True),
        st.Page("pages/runs.py", title="Runs", icon=":material/table_rows:"),
        st.Page("pages/import_embeddings.py", title="Import", icon=":material/upload_file:"),
    ],
    "Geometry": [
        st.Page("pages/alignment_uniformity.py", title="Alignment & Uniformity", icon=":material/scatter_plot:"),
        st.Page("pages/collapse.py", title="Dimensional Collapse", icon=":material/stacked_line_chart:"),
        st.Page("pages/embedding_map.py", title="Embedding Map", icon=":material/map:"),
        st.Page("pages/fingerprint.py", title="What It Keeps", icon=":material/fingerprint:"),
    ],
    "Methods": [
        st.Page("pages/temperature.py", title="Temperature", icon=":material/thermostat:"),
        st.Page("pages/ordinality.py", title="Ordinality", icon=":material/trending_up:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
    ],
    "Distillation": [
        st.Page("pages/distillation_teacher_student.py", title="Teacher & Student", icon=":material/school:"),
        st.Page("pages/distillation_msd.py", title="Momentum Self-Distillation", icon=":material/autorenew:"),
        st.Page("pages/distillation_kernel_toy.py", title="Kernel Ridge Toy", icon=":material/function:"),
    ],
    "Learn": [
        st.Page("pages/learn_playground.py", title="Sphere Playground", icon=":material/public:"),
        st.Page("pages/learn_1_alignment_uniformity.py", title="Lesson 1 · Alignment and uniformity",
                icon=":material/counter_1:"),
        st.Page("pages/learn_2_temperature.py", title="Lesson 2 · Temperature", icon=":material/counter_2:"),
        st.Page("pages/learn_3_dimensional_collapse.py", title="Lesson 3 · Dimensional collapse",
                icon=":material/counter_3:"),
        st.Page("pages/learn_4_dcl_batch_size.py", title="Lesson 4 · Hard negatives and batch size",
                icon=":material/counter_4:"),
        st.Page("pages/learn_5_temperature_per_sample.py", title="Lesson 5 · A temperature per sample",
                icon=":material/counter_5:"),
        st.Page("pages/learn_6_contrastive_regression.py", title="Lesson 6 · Contrastive regression and ordinality",
                icon=":material/counter_6:"),
        st.Page("pages/learn_7_self_distillation.py", title="Lesson 7 · Distillation and momentum self-distillation",
                icon=":material/counter_7:"),
        st.Page("pages/learn_8_augmentations_shortcuts.py", title="Lesson 8 · Augmentations and shortcuts",
                icon=":material/counter_8:"),
    ],
}

nav = st.navigation(PAGES, expanded=True)

store = get_store()
ensure_scheduler_throttled(store)


@st.fragment(run_every=2.0)
def run_counts() -> None:
    """The store's run counts, refreshed every two seconds while the page is open."""
    try:
        runs = store.list_runs()
    except stmod.StoreError:
        return
    n_run = sum(r.status == stmod.RUNNING for r in runs)
    n_q = sum(r.status == stmod.QUEUED for r in runs)
    st.caption(f"{len(runs)} runs · {n_run} running · {n_q} queued")


with st.sidebar:
    st.markdown("### :material/explore: Embedding Geometry Lab")
    run_counts()
    st.caption(f"Store: `{store.root}`")
    backend_choice(store)
    health = store.health()
    if health["message"]:
        st.warning(health["message"], icon=":material/warning:")

try:
    nav.run()
except stmod.StoreError as e:  # a damaged snapshot or run, a full disk: say what and what to do
    show_store_error(e)
