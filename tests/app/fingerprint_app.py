"""A small app for the browser tests of the What It Keeps page: app.py's router with that page
and the Embedding Map (``streamlit run tests/app/fingerprint_app.py`` from the repository root)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # streamlit puts this file's folder on the path, not the repository
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from ui.data import ensure_scheduler_throttled, get_store  # noqa: E402

st.set_page_config(page_title="Embedding Geometry Lab", page_icon=":material/explore:", layout="wide")
nav = st.navigation({"Views": [
    st.Page(str(ROOT / "pages" / "embedding_map.py"), title="Embedding Map", icon=":material/map:"),
    st.Page(str(ROOT / "pages" / "fingerprint.py"), title="What It Keeps", icon=":material/fingerprint:", default=True),
]}, expanded=True)
store = get_store()
ensure_scheduler_throttled(store)
nav.run()
