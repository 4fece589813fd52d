"""Downloads a page offers: a figure as one standalone interactive HTML file, and a run's
snapshot as a Parquet table (jobs/export.py, docs/export.md).

The HTML file carries plotly.js inside it (about 4.7 MB), never a link to a CDN: it opens
in any browser, on a machine without a network too. Both files are built in memory when
the button is clicked (Streamlit's deferred download data), so a page that shows the
buttons pays nothing until someone downloads, and no file is left on the server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import streamlit as st

from jobs import export
from jobs import store as stmod

HTML_LABEL = "Download interactive HTML"
PARQUET_LABEL = "Download snapshot (Parquet)"
PARQUET_MIME = "application/vnd.apache.parquet"
# Streamlit builds a callable's data on click from 1.5x on ("or callable" in the docstring);
# an older Streamlit gets the bytes at once.
DEFERRED = "callable" in (st.download_button.__doc__ or "")


def figure_html(fig: Any) -> bytes:
    """``fig`` (a Plotly figure) as a standalone HTML page with plotly.js embedded, UTF-8."""
    html = fig.to_html(include_plotlyjs=True, full_html=True, config={"displaylogo": False})
    return html.encode("utf-8")


def safe_file_name(name: str, default: str = "figure") -> str:
    """``name`` as a file name without a folder or odd characters (letters, digits, ``._-``)."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._")
    return text[:120] or default


def _data(make: Callable[[], bytes]) -> dict[str, Any]:
    """The button's data (and, where the data is deferred, no rerun on click)."""
    return {"data": make, "on_click": "ignore"} if DEFERRED else {"data": make()}


def download_buttons(fig: Any, name: str, *, key: str | None = None) -> None:
    """A download button for ``fig`` as an interactive HTML file named after ``name``."""
    stem = safe_file_name(name)
    st.download_button(HTML_LABEL, **_data(lambda: figure_html(fig)), file_name=f"{stem}.html",
                       mime="text/html", key=key or f"download_html_{stem}", type="tertiary",
                       icon=":material/download:",
                       help="The figure as one HTML file with plotly.js inside: zoom, hover and toggle traces "
                            "in any browser, offline too.")


def run_download_button(store: stmod.Store, run_id: str, epoch: int, *, key: str | None = None) -> None:
    """A download button for the Parquet export of ``run_id``'s snapshot at ``epoch`` (one
    row per sample: label or target, split, 2-D maps, per-sample values, the embedding).
    Says so instead when the run has no snapshot at that epoch."""
    if epoch not in {s.epoch for s in store.snapshots(run_id)}:
        st.caption(f"No snapshot at epoch {epoch} to download.")
        return
    st.download_button(PARQUET_LABEL, **_data(lambda: export.parquet_bytes(store, run_id, epoch)),
                       file_name=f"{export.file_stem(run_id, epoch)}.parquet", mime=PARQUET_MIME,
                       key=key or f"download_parquet_{run_id}_{epoch}",
                       help="One row per sample: index, label or target, split, PCA and UMAP coordinates, "
                            "per-sample values and the embedding (pandas: pd.read_parquet). "
                            "`python -m trainers export` writes CSV, NumPy, TensorBoard and MLflow too.")


def chart(fig: Any, *, key: str, name: str | None = None, **kwargs: Any) -> Any:
    """``st.plotly_chart(fig, key=key, **kwargs)`` with, under it, the figure as a standalone
    interactive HTML download (named after ``name``, else the figure's title, else ``key``).
    Returns what ``st.plotly_chart`` returns (the selection of a chart with ``on_select``)."""
    kwargs.setdefault("width", "stretch")
    out = st.plotly_chart(fig, key=key, **kwargs)
    title = getattr(getattr(getattr(fig, "layout", None), "title", None), "text", None)
    download_buttons(fig, name or _plain(title) or key, key=f"{key}_html")
    return out


def _plain(text: str | None) -> str:
    """A figure title without the HTML tags Plotly allows in it (a file name, not markup)."""
    return re.sub(r"<[^>]*>", " ", text or "").strip()
