"""User-supplied text (run names, failure reasons, group names) shown as text, never as markup.

``st.markdown`` and the labels of most widgets read Markdown (emphasis, links, ``$`` for
LaTeX, ``:red[...]`` colour directives), and Plotly reads a subset of HTML in titles,
legend names and hover labels. These helpers escape a string so that it shows exactly as
typed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

# every ASCII punctuation character: CommonMark lets a backslash escape any of them, and
# an escaped character is always shown literally (no emphasis, link, HTML tag, entity, LaTeX)
_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")


def md_escape(s: object) -> str:
    """``s`` as Markdown that ``st.markdown`` shows literally, on one line.

    Every ASCII punctuation character gets a backslash (``<b>`` stays ``<b>``, ``*x*``
    stays ``*x*``, ``$x$`` is not LaTeX) and line breaks become spaces, so the result can
    sit inside a bold span or a table row of a larger Markdown string.
    """
    text = " ".join(str(s).splitlines())
    return _MD_SPECIAL.sub(r"\\\1", text)


def plot_escape(s: object) -> str:
    """``s`` for a Plotly title, axis title, legend entry or hover label: Plotly renders
    ``<b>``, ``<a href>``, ``<br>`` and entities there, so ``<``, ``>`` and ``&`` are written
    as entities (Plotly shows them as the characters)."""
    return html.escape(str(s), quote=False)


def class_name(arrays: Mapping[str, Any], code: Any) -> str:
    """The name of class ``code`` for a legend: an imported run's own label name (its
    snapshot's ``label_names``), escaped for Plotly; else the code itself."""
    names = arrays.get("label_names")
    if names is not None:
        try:
            i = int(code)
        except (TypeError, ValueError):
            i = -1
        if 0 <= i < len(names):
            return plot_escape(str(names[i]))
    return str(code)
