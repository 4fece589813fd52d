"""The sample a person clicked on a map, kept across reruns and epochs.

``st.plotly_chart(..., on_select="rerun")`` returns the selection with one dict per point:
``curve_number``, ``point_index``, ``x``, ``y`` and the point's ``customdata``. Plotly sends
a numeric ``customdata`` array to the browser as a typed array, and Streamlit's front end
turns a typed-array row into an object keyed by position, so a two-column ``customdata``
arrives as ``{"0": 17, "1": 7}``, not ``[17, 7]`` (SVG and WebGL traces alike; a list of
lists arrives as a list). :func:`point_values` reads every form.

A click is remembered as a :class:`Selection` in the session (run, dataset, sample index):
the map's chart can redraw (a new epoch, UMAP replacing PCA, a page rerun) without losing
it, and another run of the same dataset shows the same sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st


@dataclass(frozen=True)
class Selection:
    run_id: str  # the run the sample was clicked on
    dataset: str  # its dataset: a sample index means the same sample in every run of it
    index: int  # the sample's stable index in the dataset


def point_values(point: Mapping[str, Any]) -> list[Any]:
    """A selected point's ``customdata`` as a list, whatever form the front end sent."""
    cd = point.get("customdata")
    if cd is None:
        return []
    if isinstance(cd, Mapping):  # {"0": 17, "1": 7}: a typed-array row
        return [cd[k] for k in sorted(cd, key=lambda k: int(k))]
    if isinstance(cd, Sequence) and not isinstance(cd, str):
        return list(cd)
    return [cd]


def _first_point(event: Any) -> tuple[int, Any, Any] | None:
    """(sample index, x, y) of the first selected point of a chart event that carries a
    sample index in its ``customdata``; None when nothing is selected."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for p in points or []:
        values = point_values(p)
        if values:
            try:
                return int(float(values[0])), p.get("x"), p.get("y")
            except (TypeError, ValueError):
                continue
    return None


def clicked_index(event: Any) -> int | None:
    """The sample index (``customdata``'s first value) of the first selected point of a chart
    event, or None when nothing is selected."""
    first = _first_point(event)
    return None if first is None else first[0]


def remember_click(event: Any, *, key: str, run_id: str, dataset: str) -> Selection | None:
    """Update the selection kept under ``key`` from a chart event and return it.

    Only a new click changes it: the chart keeps returning its last event on every rerun, and
    that event must not bring back a selection the person cleared."""
    seen_key = f"{key}__event"
    first = _first_point(event)
    if first is not None and st.session_state.get(seen_key) != first:
        st.session_state[key] = Selection(run_id, dataset, first[0])
    st.session_state[seen_key] = first
    return current(key, dataset=dataset)


def current(key: str, *, dataset: str) -> Selection | None:
    """The kept selection, if it is a sample of ``dataset``."""
    sel = st.session_state.get(key)
    return sel if isinstance(sel, Selection) and sel.dataset == dataset else None


def clear(key: str) -> None:
    st.session_state.pop(key, None)
