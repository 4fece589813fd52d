"""A grid of Plotly panels (one per run) whose titles never overlap.

Titles are wrapped to the width of a column (a long run name is cut with "…"), drawn a
little smaller than Plotly's default, and the rows are spaced by the pixels the titles
and the x-axis titles need, so that the second row's titles never sit on the first row's
axis. Run names are escaped: Plotly renders a subset of HTML in titles.
"""

from __future__ import annotations

import math
import textwrap

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.text import plot_escape

TITLE_SIZE = 13  # px, the subplot titles
LINE_PX = 18  # px, one line of a subplot title
CHAR_PX = 0.6 * TITLE_SIZE  # px, a generous average width of one character of a title
WRAP = {1: 90, 2: 46, 3: 28}  # characters per title line for 1, 2 and 3 columns
MAX_NAME_LINES = 2  # a longer run name is cut with "…"
H_SPACING = 0.07  # of the figure's width, between columns
AXIS_TITLE_PX = 48  # px under a row whose x axes have tick labels and a title
BARE_AXIS_PX = 14  # px under a row whose x axes show nothing


def n_cols(n: int) -> int:
    """Columns of a grid of ``n`` panels: 2x2 for four, else up to three in a row."""
    return 2 if n == 4 else max(1, min(n, 3))


def cell(i: int, n: int) -> dict[str, int]:
    """``row=`` and ``col=`` of the ``i``-th of ``n`` panels."""
    return {"row": i // n_cols(n) + 1, "col": i % n_cols(n) + 1}


def panel_title(name: str, *details: str, n: int) -> str:
    """A subplot title: the run's name in bold (escaped, at most two lines), then each detail
    on lines of its own, every line wrapped to the column width of a grid of ``n`` panels."""
    width = WRAP[n_cols(n)]
    name_lines = textwrap.wrap(name, width, break_long_words=True) or [""]
    if len(name_lines) > MAX_NAME_LINES:
        name_lines = name_lines[:MAX_NAME_LINES]
        name_lines[-1] = name_lines[-1][: width - 1] + "…"
    lines = [f"<b>{plot_escape(x)}</b>" for x in name_lines]
    for d in details:
        lines += [plot_escape(x) for x in textwrap.wrap(d, width, break_long_words=True)]
    return "<br>".join(lines)


def title_lines(title: str) -> int:
    return title.count("<br>") + 1


def titled_grid(titles: list[str], *, panel_px: int = 330, x_axis_titles: bool = False) -> go.Figure:
    """Subplots for ``len(titles)`` panels with ``titles`` (from :func:`panel_title`), sized so
    that nothing overlaps: the figure's height is set here (``panel_px`` per row plus the
    rows' titles and axes)."""
    n = len(titles)
    cols = n_cols(n)
    rows = math.ceil(n / cols)
    title_px = max(title_lines(t) for t in titles) * LINE_PX + 8
    axis_px = AXIS_TITLE_PX if x_axis_titles else BARE_AXIS_PX
    gap_px = title_px + axis_px
    plot_px = rows * panel_px + (rows - 1) * gap_px
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=H_SPACING,
                        vertical_spacing=gap_px / plot_px if rows > 1 else 0.0)
    fig.update_annotations(font_size=TITLE_SIZE)
    top, bottom = title_px + 16, axis_px + 16
    fig.update_layout(height=plot_px + top + bottom, margin={"t": top, "b": bottom})
    return fig
