"""The Embedding Map view's figures and text: the map of one snapshot coloured by label,
target, a per-sample value or a factor of variation of the dataset (the shapes world's colour,
position, scale, ...), the clicked sample ringed on it, and the sample's panel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.express as px
import plotly.graph_objects as go

from ui.colours import SEQUENTIAL, class_colour
from ui.figures import sample_customdata, split_symbols
from ui.points import PointRows
from ui.text import class_name, plot_escape

LABEL = "label / target"  # the colour choice of labels (classification) or targets (regression)
SPACE_NAMES = {"emb": "embedding", "rep": "representation"}


def colour_options(arrays: Mapping[str, np.ndarray], factors: Sequence[str] = ()) -> list[str]:
    """What the map can be coloured by: the label or target, then each per-sample value the
    snapshot holds (``ps_<name>`` arrays, such as learned temperatures), then each factor of
    variation of the dataset (``factors``: names, from ``ui.data.snapshot_factors``) that is
    not already a choice."""
    options = [LABEL] + [k[3:] for k in arrays if k.startswith("ps_")]
    return options + [f for f in factors if f not in options]


def factor_is_class(values: np.ndarray) -> bool:
    """Whether a factor is a class factor (integer, boolean or text values: one colour per class)
    rather than a numeric one (a continuous colour scale)."""
    return not np.issubdtype(np.asarray(values).dtype, np.floating)


def shows_classes(y: np.ndarray, colour: str) -> bool:
    """Whether the map draws one trace per class: integer labels coloured by label."""
    return bool(np.issubdtype(y.dtype, np.integer)) and colour == LABEL


def sample_row(arrays: Mapping[str, np.ndarray], index: int) -> int | None:
    """The snapshot row of the sample with stable index ``index``; None when the snapshot has not it."""
    row = np.flatnonzero(arrays["index"] == index)
    return int(row[0]) if len(row) else None


def map_figure(arrays: Mapping[str, np.ndarray], coords: np.ndarray, pts: PointRows, *, colour: str, shown: str,
               space: str, run_name: str, epoch: int, selected: int | None = None,
               factors: Mapping[str, np.ndarray] | None = None) -> go.Figure:
    """The map (``coords`` of the ``shown`` method, the rows ``pts.rows``) of one snapshot.

    Coloured by label: one trace per class and split (held-out samples as larger crosses,
    one legend entry per class). Coloured by a class factor of ``factors`` (name -> (N,) values
    in the snapshot's row order, such as the shapes world's colour): the same, one trace per
    value of the factor. Else a continuous colour scale (with a colour bar) of the target, of
    the per-sample value or of the numeric factor ``colour``. ``selected``: the snapshot row of
    a clicked sample, ringed in black where the map places it."""
    y, idx, is_test = arrays["y"], arrays["index"], arrays["is_test"]
    rows, Scatter = pts.rows, pts.scatter
    factors = factors or {}
    by_factor = colour != LABEL and f"ps_{colour}" not in arrays and colour in factors
    fig = go.Figure()
    as_classes = shows_classes(y, colour) or (by_factor and factor_is_class(factors[colour]))
    if as_classes:
        groups = y if not by_factor else np.asarray(factors[colour])
        classes = np.unique(groups)
        for k, c in enumerate(classes):
            name = class_name(arrays, c) if not by_factor else f"{plot_escape(colour)} {plot_escape(c)}"
            for test in (False, True):
                sel = rows[(groups[rows] == c) & (is_test[rows] == test)]
                if not len(sel):
                    continue
                extra = () if not by_factor else (groups[sel],)
                fig.add_trace(Scatter(
                    x=coords[sel, 0], y=coords[sel, 1], mode="markers", name=name + (" (held-out)" if test else ""),
                    legendgroup=str(c), showlegend=not test,
                    marker={"size": 6 if not test else 8, "symbol": "x" if test else "circle",
                            "color": class_colour(k, len(classes)), "opacity": 0.8},
                    customdata=sample_customdata(idx[sel], y[sel], *extra),
                    hovertemplate="index %{customdata[0]}<br>label %{customdata[1]}"
                                  + (f"<br>{plot_escape(colour)} %{{customdata[2]}}" if by_factor else "")
                                  + "<extra></extra>",
                ))
    else:
        values = y if colour == LABEL else factors[colour] if by_factor else arrays[f"ps_{colour}"]
        values = np.asarray(values, dtype=np.float64)
        fig.add_trace(pts.trace(
            x=coords[rows, 0], y=coords[rows, 1], mode="markers", name="samples", showlegend=False,  # the colour bar says it
            marker={"size": 6, "color": values[rows], "colorscale": SEQUENTIAL, "showscale": True,
                    "colorbar": {"title": plot_escape(colour)}, "symbol": split_symbols(is_test[rows])},
            customdata=sample_customdata(idx[rows], y[rows], values[rows]),
            hovertemplate="index %{customdata[0]}<br>label/target %{customdata[1]:.3g}<br>" + plot_escape(colour)
                          + " %{customdata[2]:.3g}<extra></extra>",
        ))
    if selected is not None and np.isfinite(coords[selected]).all():
        ring = [selected]
        fig.add_trace(Scatter(
            x=coords[ring, 0], y=coords[ring, 1], mode="markers", name="selected", showlegend=False,
            marker={"size": 16, "symbol": "circle-open", "color": "black", "line": {"width": 2}},
            customdata=sample_customdata(idx[ring], y[ring]),
            hovertemplate="selected: index %{customdata[0]}<extra></extra>",
        ))
    fig.update_layout(height=620, title=f"{shown} of the {SPACE_NAMES[space]} · {plot_escape(run_name)} · epoch {epoch}",
                      xaxis_title=f"{shown} 1", yaxis_title=f"{shown} 2",
                      legend={"title": (plot_escape(colour) if by_factor else "label") if as_classes else ""},
                      margin={"t": 40})
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def sample_line(arrays: Mapping[str, np.ndarray], coords: np.ndarray, row: int, *, shown: str, classes: bool,
                where: str) -> str:
    """One Markdown line on the clicked sample at snapshot row ``row``: its label or target,
    split and place on the map. ``where`` (Markdown, escaped by the caller) names the run and
    epoch; ``classes``: the map is coloured by class."""
    y = arrays["y"]
    label = int(y[row]) if np.issubdtype(y.dtype, np.integer) else f"{float(y[row]):.3g}"
    split = "held-out" if arrays["is_test"][row] else "training"
    xy = coords[row]
    place = (f"at ({xy[0]:.2f}, {xy[1]:.2f}) on this {shown} map" if np.isfinite(xy).all()
             else f"not on this {shown} map (it covers a sample of the points)")
    return (f"**Selected sample {int(arrays['index'][row])}** · {'label' if classes else 'label/target'} "
            f"{label} · {split} split · {where} · {place}")


def sample_image_figure(image: np.ndarray) -> go.Figure:
    """A sample's image as the encoder sees it, 220 px square, without axes: (H, W) grey levels
    in [0, 1] (digits: dark on light), or (H, W, 3) RGB in [0, 1] (the shapes world: its own
    colours, 0-255 per channel, one pixel per cell)."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 3:
        rgb = np.round(np.clip(image.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
        fig = go.Figure(go.Image(z=rgb, colormodel="rgb", hovertemplate="row %{y}, column %{x}<br>RGB %{z}<extra></extra>"))
        fig.update_layout(width=220, height=220)
    else:
        fig = px.imshow(image, color_continuous_scale="gray_r", width=220, height=220)
        fig.update_layout(coloraxis_showscale=False)
    fig.update_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def image_caption(index: int, image: np.ndarray) -> str:
    """The caption under a sample's image: its index and its size in pixels."""
    shape = np.asarray(image).shape
    kind = " RGB" if len(shape) == 3 and shape[-1] == 3 else ""
    return f"Sample {index} as the encoder sees it ({shape[0]}×{shape[1]}{kind} pixels)."
