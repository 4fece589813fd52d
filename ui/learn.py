"""The Learn section's figures: the sphere playground as an animation that plays in the
browser, small multiples of several runs from the same start, and a run's covariance
spectra at chosen epochs.

A :class:`ToyRun` is one simulation (``trainers.toy.simulate``, computed in the warm child
process of ``jobs.toy_cli.ToyServer``): the points' positions at each recorded step, the two
views of every point there, and the loss, alignment and uniformity of every step. The
animated figures carry one Plotly frame per recorded step, a play / pause button and a step
slider: they play in the browser without a round trip to the server. Every text in them comes
from the configuration (no user text).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.colours import RUN_PALETTE, SEQUENTIAL, class_colour

LOSS_LABELS = {"nt_xent": "NT-Xent", "dcl": "DCL", "supcon": "SupCon", "align": "alignment only",
               "uniform": "uniformity only", "align_uniform": "alignment + λ·uniformity"}
CONTRASTIVE = ("nt_xent", "dcl", "supcon")  # the losses that read the temperature

# the playground's choices (each inside trainers.toy.RULES; tests/ui/test_learn.py checks)
TEMPERATURES = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
LEARNING_RATES = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
BATCH_SIZES = (0, 8, 16, 32, 64)  # 0: every point in every step (at most 100 points are ever fewer)
NOISE = (0.0, 0.5, 0.01)  # min, max, step of the augmentation noise slider
LAMBDA = (0.0, 5.0, 0.1)
POINTS = (100, 500, 50)
CLASSES = (2, 10)
STEPS = (50, 1000, 50)


def loss_label(loss: str, temperature: float | None = None, lam: float | None = None) -> str:
    """``"NT-Xent · τ = 0.5"``, ``"alignment + λ·uniformity · λ = 1"``, ``"uniformity only"``."""
    text = LOSS_LABELS.get(loss, loss)
    if loss in CONTRASTIVE and temperature is not None:
        text += f" · τ = {temperature:g}"
    if loss == "align_uniform" and lam is not None:
        text += f" · λ = {lam:g}"
    return text


# --------------------------------------------------------------------------- a simulation


@dataclass(frozen=True)
class ToyRun:
    """One simulation, as ``jobs.toy_cli.ToyServer.request(config, views=True)`` returns it."""

    config: dict[str, Any]  # ToyConfig's fields
    steps: list[int]  # the step of each frame
    positions: np.ndarray  # (frames, N, dim): the clean position of every point at each frame
    views: np.ndarray | None  # (frames, 2, N, dim): the two views of every point at each frame
    labels: np.ndarray  # (N,) classes
    inputs: np.ndarray | None  # (N, 2) encoder mode's inputs; None in free mode
    loss: list[float]  # per step 0..steps
    alignment: list[float]  # per step 0..steps: mean squared distance between the two views of a point
    uniformity: list[float]  # per step 0..steps: of the clean positions
    seconds: float  # the simulation's wall time in the child process
    uniformity_optimum: float  # the lowest uniformity these many points can reach on this circle / sphere
    uniformity_uniform: float  # uniformity of the uniform distribution there

    @classmethod
    def from_reply(cls, d: Mapping[str, Any]) -> ToyRun:
        return cls(config=dict(d["config"]), steps=[int(s) for s in d["steps"]], positions=np.asarray(d["positions"]),
                   views=None if d.get("views") is None else np.asarray(d["views"]), labels=np.asarray(d["labels"]),
                   inputs=None if d.get("inputs") is None else np.asarray(d["inputs"]),
                   loss=[float(v) for v in d["loss"]], alignment=[float(v) for v in d["alignment"]],
                   uniformity=[float(v) for v in d["uniformity"]], seconds=float(d["seconds"]),
                   uniformity_optimum=float(d["uniformity_optimum"]),
                   uniformity_uniform=float(d["uniformity_uniform"]))

    @property
    def dim(self) -> int:
        return int(self.positions.shape[2])

    @property
    def n_points(self) -> int:
        return int(self.positions.shape[1])

    @property
    def classes(self) -> list[int]:
        return sorted(int(c) for c in np.unique(self.labels))

    @property
    def temperature(self) -> float | None:
        return self.config.get("temperature")

    @property
    def label(self) -> str:
        return loss_label(self.config["loss"], self.temperature, self.config.get("lam"))


# --------------------------------------------------------------------------- style


@dataclass(frozen=True)
class Style:
    """Sizes of a figure: the plain view, or presentation mode for a lecture hall."""

    font: int = 13  # layout font size (titles, axes, legend, slider)
    marker: float = 6.0  # point size of the embedded points
    line: float = 2.0  # width of the curves and paths
    height: int = 640  # of the playground's figure
    frame_ms: int = 60  # time per frame while playing


PLAIN = Style()
PRESENTATION = Style(font=22, marker=11.0, line=4.0, height=900, frame_ms=80)


def style(presentation: bool) -> Style:
    return PRESENTATION if presentation else PLAIN


# --------------------------------------------------------------------------- traces


def _class_name(c: int) -> str:
    return f"class {c}"


def _points(pos: np.ndarray, **kw: Any) -> go.Scatter | go.Scatter3d:
    """Points of a (n, 2) or (n, 3) array as one scatter trace."""
    if pos.shape[1] == 3:
        return go.Scatter3d(x=pos[:, 0], y=pos[:, 1], z=pos[:, 2], mode="markers", **kw)
    return go.Scatter(x=pos[:, 0], y=pos[:, 1], mode="markers", **kw)


def typed_array(values: np.ndarray) -> dict[str, str]:
    """``values`` as Plotly's typed-array spec (float32, base64): what Plotly itself sends for a
    numpy array it has checked, a third of the size of a list of numbers in JSON."""
    return {"dtype": "f4", "bdata": base64.b64encode(np.ascontiguousarray(values, dtype="<f4").tobytes()).decode()}


def _point_update(pos: np.ndarray) -> dict[str, Any]:
    """A frame's update of a points trace: coordinates only (a plain dict, not checked again:
    see :class:`AnimatedFigure`)."""
    if pos.shape[1] == 3:
        return {"type": "scatter3d", "x": typed_array(pos[:, 0]), "y": typed_array(pos[:, 1]),
                "z": typed_array(pos[:, 2])}
    return {"type": "scatter", "x": typed_array(pos[:, 0]), "y": typed_array(pos[:, 1])}


def pair_segments(views: np.ndarray) -> np.ndarray:
    """The segments between the two views of each point, as one polyline with gaps:
    ``views`` (2, N, dim) -> (3N, dim) rows ``v1_i, v2_i, NaN``."""
    two, n, dim = views.shape
    out = np.full((n, 3, dim), np.nan, dtype=np.float32)
    out[:, 0] = views[0]
    out[:, 1] = views[1]
    return out.reshape(3 * n, dim)


def _segments(views: np.ndarray, *, style: Style, **kw: Any) -> go.Scatter | go.Scatter3d:
    seg = pair_segments(views)
    line = {"color": "rgba(20, 20, 20, 0.75)", "width": max(1.0, style.line / 1.5)}
    if seg.shape[1] == 3:
        return go.Scatter3d(x=seg[:, 0], y=seg[:, 1], z=seg[:, 2], mode="lines", line=line, hoverinfo="skip", **kw)
    return go.Scatter(x=seg[:, 0], y=seg[:, 1], mode="lines", line=line, hoverinfo="skip", connectgaps=False, **kw)


def _segment_update(views: np.ndarray) -> dict[str, Any]:
    return _point_update(pair_segments(views))


def _marker_update(x: float, y: float) -> dict[str, Any]:
    return {"type": "scatter", "x": [x], "y": [y]}


def _unit_circle() -> go.Scatter:
    t = np.linspace(0, 2 * np.pi, 181)
    return go.Scatter(x=np.cos(t), y=np.sin(t), mode="lines", line={"color": "lightgray", "width": 1.5},
                      hoverinfo="skip", showlegend=False, name="unit circle")


def _unit_sphere() -> go.Surface:
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 37), np.linspace(0, np.pi, 19))
    return go.Surface(x=np.cos(u) * np.sin(v), y=np.sin(u) * np.sin(v), z=np.cos(v), opacity=0.12,
                      colorscale=[[0, "lightgray"], [1, "lightgray"]], showscale=False, hoverinfo="skip",
                      name="unit sphere", showlegend=False)


def _sphere_axes(style: Style) -> dict[str, Any]:
    axis = {"range": [-1.1, 1.1], "showticklabels": False, "title": {"text": ""}, "showbackground": False,
            "gridcolor": "#eee", "zeroline": False}
    return {"xaxis": axis, "yaxis": axis, "zaxis": axis, "aspectmode": "cube",
            "camera": {"eye": {"x": 1.6, "y": 0.9, "z": 0.7}}}


class AnimatedFigure(go.Figure):
    """A figure whose frames and play controls (slider, buttons) are kept as plain dicts and
    added when it is serialised (``to_dict``, which ``st.plotly_chart`` and ``plotly.io`` call).

    Plotly checks every property of every frame when frames are set on a figure: for the
    playground's 101 frames that took 1.2-2.4 s of the server's time per Play on 2 cores, more
    than the simulation. The frames here are built from the same few keys every time (``x``,
    ``y``, ``z``, ``type`` of traces the figure has), so they are not checked again."""

    def __init__(self, fig: go.Figure, frames: list[dict[str, Any]]) -> None:
        super().__init__(fig)
        self._raw_frames = frames
        self._raw_layout: dict[str, Any] = {}  # updatemenus and sliders

    @property
    def raw_layout(self) -> dict[str, Any]:
        return self._raw_layout

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["frames"] = self._raw_frames
        d["layout"] = {**d.get("layout", {}), **self._raw_layout}
        return d

    def to_plotly_json(self) -> dict[str, Any]:
        return self.to_dict()


def _layout(fig: AnimatedFigure, *, style: Style, height: int, title: str | None = None) -> None:
    """Size and fonts; the play controls below the plots (clear of the axes' labels) and the
    legend below them, placed in pixels from the plots' bottom edge."""
    axis = 30 + round(2.4 * style.font)  # tick labels and an axis title
    legend = axis + 50 + 2 * style.font  # the slider with its current value above the rail
    top, bottom = 60 + 2 * style.font, legend + 30 + style.font
    plots = height - top - bottom
    fig.update_layout(height=height, margin={"t": top, "b": bottom, "l": 60, "r": 30},
                      legend={"orientation": "h", "x": 0.0, "y": -legend / plots, "yanchor": "top",
                              "itemsizing": "constant"})
    _fonts(fig, style)
    fig.raw_layout["updatemenus"][0]["pad"] = {"t": axis, "r": 10}
    fig.raw_layout["sliders"][0]["pad"] = {"t": axis}
    if title is not None:
        fig.update_layout(title={"text": title, "font": {"size": style.font + 3}, "x": 0.0, "xanchor": "left",
                                 "y": 1.0, "yanchor": "top", "yref": "container", "pad": {"t": 12, "l": 10}})
    fig.update_annotations(font_size=style.font + 1)


def _fonts(fig: go.Figure, style: Style) -> None:
    """Every text of the figure at the style's size: the app's chart theme sets the axes' and
    the legend's own sizes, which a layout-wide font does not override."""
    fig.update_layout(font={"size": style.font}, legend_font_size=style.font)
    fig.update_xaxes(tickfont_size=style.font - 1, title_font_size=style.font)
    fig.update_yaxes(tickfont_size=style.font - 1, title_font_size=style.font)


def _animation(fig: AnimatedFigure, names: Sequence[str], steps: Sequence[int], *, style: Style, redraw: bool) -> None:
    """A play / pause button and a step slider over the figure's frames (named ``names``)."""
    play = {"frame": {"duration": style.frame_ms, "redraw": redraw}, "fromcurrent": True, "mode": "immediate",
            "transition": {"duration": 0}}
    jump = {"frame": {"duration": 0, "redraw": redraw}, "mode": "immediate", "transition": {"duration": 0}}
    fig.raw_layout.update(
        updatemenus=[{
            "type": "buttons", "direction": "left", "showactive": False, "x": 0.0, "y": 0.0, "xanchor": "left",
            "yanchor": "top", "pad": {"t": 10, "r": 10}, "font": {"size": style.font},
            "buttons": [{"label": "▶ Play", "method": "animate", "args": [None, play]},
                        {"label": "❚❚ Pause", "method": "animate",
                         "args": [[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate",
                                           "transition": {"duration": 0}}]}],
        }],
        sliders=[{
            "active": 0, "x": 0.08 + 0.009 * style.font, "len": 0.92 - 0.009 * style.font, "y": 0.0, "yanchor": "top",
            "pad": {"t": 10},
            "currentvalue": {"prefix": "step ", "font": {"size": style.font, "color": "#333"}},
            "font": {"color": "rgba(0, 0, 0, 0)"},  # one tick label per frame would overlap: the current value says it
            "tickcolor": "rgba(0, 0, 0, 0)",
            "steps": [{"label": str(s), "method": "animate", "args": [[name], jump]} for name, s in zip(names, steps, strict=True)],
        }],
    )


def _frame_names(steps: Sequence[int]) -> list[str]:
    return [f"step {s}" for s in steps]


# --------------------------------------------------------------------------- the playground


CURVES = (("loss", "loss"), ("alignment", "alignment"), ("uniformity", "uniformity"))  # (ToyRun field, axis title)


def playground_figure(run: ToyRun, *, pairs: bool = False, style: Style = PLAIN) -> AnimatedFigure:
    """The playground's animation of one run.

    Left (encoder mode only): the 2-D inputs coloured by class. Middle: the embedded points on
    the unit circle (``dim`` 2) or a faint unit sphere (``dim`` 3), one trace per class, and with
    ``pairs`` the two views of each point joined by a segment (alignment is the mean squared
    length of these segments). Right: the loss, alignment and uniformity of every step, each
    with a marker at the shown frame's step; the uniformity panel has the optimum for these
    many points as a dashed line. One frame per recorded step moves the points, the segments
    and the three markers.
    """
    encoder = run.inputs is not None
    three = run.dim == 3
    emb_col = 2 if encoder else 1
    curve_col = emb_col + 1
    cols = curve_col
    emb_spec = {"type": "scene" if three else "xy", "rowspan": 3}
    specs: list[list[dict[str, Any] | None]] = []
    for r in range(3):
        row: list[dict[str, Any] | None] = []
        if encoder:
            row.append({"type": "xy", "rowspan": 3} if r == 0 else None)
        row.append(emb_spec if r == 0 else None)
        row.append({"type": "xy"})
        specs.append(row)
    where = "sphere" if three else "circle"
    titles = (["inputs (2-D data)"] if encoder else []) + [f"embedding on the {where}", "", "", ""]
    widths = [0.26, 0.44, 0.30] if encoder else [0.62, 0.38]
    fig = make_subplots(rows=3, cols=cols, specs=specs, column_widths=widths, subplot_titles=titles,
                        horizontal_spacing=0.07, vertical_spacing=0.1)
    classes = run.classes
    k = len(classes)
    marker_of = {c: {"size": style.marker * (0.7 if three else 1.0), "color": class_colour(i, k)}
                 for i, c in enumerate(classes)}
    masks = {c: run.labels == c for c in classes}

    # static: inputs, circle or sphere
    held: list[int] = []  # static traces in a subplot that no frame moves: named in every frame, unchanged
    if encoder:
        assert run.inputs is not None
        for c in classes:
            held.append(len(fig.data))
            fig.add_trace(_points(run.inputs[masks[c]], name=_class_name(c), legendgroup=_class_name(c),
                                  marker={**marker_of[c], "size": style.marker * 0.8}, showlegend=False,
                                  hovertemplate=f"{_class_name(c)}<br>input (%{{x:.2f}}, %{{y:.2f}})<extra></extra>"),
                          row=1, col=1)
        fig.update_xaxes(title_text="x₁", row=1, col=1)
        fig.update_yaxes(title_text="x₂", scaleanchor="x", scaleratio=1, row=1, col=1)
    fig.add_trace(_unit_sphere() if three else _unit_circle(), row=1, col=emb_col)

    animated: list[int] = []
    pos0 = run.positions[0]
    for c in classes:
        animated.append(len(fig.data))
        fig.add_trace(_points(pos0[masks[c]], name=_class_name(c), legendgroup=_class_name(c), marker=marker_of[c],
                              hoverinfo="name"), row=1, col=emb_col)
    draw_pairs = pairs and run.views is not None
    if draw_pairs:
        assert run.views is not None
        animated.append(len(fig.data))
        fig.add_trace(_segments(run.views[0], style=style, name="positive pairs (the two views of a point)"),
                      row=1, col=emb_col)
    if not three:
        axis = f"x{emb_col}" if emb_col > 1 else "x"
        fig.update_xaxes(range=[-1.15, 1.15], showticklabels=False, zeroline=False, row=1, col=emb_col)
        fig.update_yaxes(range=[-1.15, 1.15], showticklabels=False, zeroline=False, scaleanchor=axis, scaleratio=1,
                         row=1, col=emb_col)
    else:
        fig.update_scenes(**_sphere_axes(style))

    # the curves and their markers
    x_all = np.arange(len(run.loss))
    s0 = run.steps[0]
    for r, (field, title) in enumerate(CURVES, start=1):
        values = getattr(run, field)
        fig.add_trace(go.Scatter(x=x_all, y=values, mode="lines", line={"color": RUN_PALETTE[r - 1], "width": style.line},
                                 name=title, showlegend=False, hovertemplate=f"step %{{x}}<br>{title} %{{y:.4g}}<extra></extra>"),
                      row=r, col=curve_col)
        if field == "uniformity":
            fig.add_trace(go.Scatter(x=[0, x_all[-1]], y=[run.uniformity_optimum] * 2, mode="lines",
                                     line={"color": "gray", "dash": "dash", "width": max(1.0, style.line / 2)},
                                     name=f"uniformity optimum for {run.n_points} points", hoverinfo="name"),
                          row=r, col=curve_col)
        animated.append(len(fig.data))
        fig.add_trace(go.Scatter(x=[s0], y=[values[s0]], mode="markers", showlegend=False, name=f"{title} now",
                                 marker={"size": style.marker * 1.8, "color": RUN_PALETTE[r - 1],
                                         "line": {"color": "white", "width": 1.5}},
                                 hovertemplate=f"step %{{x}}<br>{title} %{{y:.4g}}<extra></extra>"),
                      row=r, col=curve_col)
        fig.update_yaxes(title_text=title, row=r, col=curve_col)
    fig.update_xaxes(title_text="step", row=3, col=curve_col)

    names = _frame_names(run.steps)
    frames = []
    for f, (name, s) in enumerate(zip(names, run.steps, strict=True)):
        data: list[Any] = [_point_update(run.positions[f][masks[c]]) for c in classes]
        if draw_pairs:
            assert run.views is not None
            data.append(_segment_update(run.views[f]))
        data += [_marker_update(s, getattr(run, field)[s]) for field, _ in CURVES]
        # Plotly's animation without a redraw empties a subplot none of whose traces the frame names
        data += [{"type": "scatter"} for _ in held]
        frames.append({"name": name, "data": data, "traces": animated + held})
    fig = AnimatedFigure(fig, frames)
    _animation(fig, names, run.steps, style=style, redraw=three)
    tau = f" · τ = {run.config['temperature']:g}" if run.config["loss"] in CONTRASTIVE and run.temperature else ""
    lam = f" · λ = {run.config['lam']:g}" if run.config["loss"] == "align_uniform" else ""
    _layout(fig, style=style, height=style.height,
            title=f"{LOSS_LABELS[run.config['loss']]}{tau}{lam} · {run.n_points} points · {run.config['mode']} mode")
    return fig


# --------------------------------------------------------------------------- small multiples


def compare_figure(runs: Sequence[ToyRun], labels: Sequence[str], *, pairs: bool = False,
                   style: Style = PLAIN) -> AnimatedFigure:
    """Several runs of the same start side by side, playing in step: one panel per run with its
    points on the circle or sphere (titled by ``labels``), and below them every run's path in
    the (uniformity, alignment) plane with a marker at the shown frame's step and the
    uniformity optimum for these many points as a dashed vertical line. All runs must have the
    same frames (the same number of steps) and the same dimension."""
    if not runs or len(runs) != len(labels):
        raise ValueError(f"one label per run: {len(runs)} runs, {len(labels)} labels")
    first = runs[0]
    if any(r.steps != first.steps or r.dim != first.dim for r in runs):
        raise ValueError("the runs to compare need the same steps and the same dimension")
    three = first.dim == 3
    n = len(runs)
    kind = "scene" if three else "xy"
    specs: list[list[dict[str, Any] | None]] = [[{"type": kind} for _ in range(n)],
                                                [{"type": "xy", "colspan": n}] + [None] * (n - 1)]
    fig = make_subplots(rows=2, cols=n, specs=specs, row_heights=[0.58, 0.42], vertical_spacing=0.12,
                        horizontal_spacing=0.03, subplot_titles=[*labels, "alignment–uniformity paths"])
    classes = first.classes
    k = len(classes)
    animated: list[int] = []
    for j, run in enumerate(runs):
        masks = {c: run.labels == c for c in classes}
        fig.add_trace(_unit_sphere() if three else _unit_circle(), row=1, col=j + 1)
        for i, c in enumerate(classes):
            animated.append(len(fig.data))
            fig.add_trace(_points(run.positions[0][masks[c]], name=_class_name(c), legendgroup=_class_name(c),
                                  showlegend=j == 0, hoverinfo="name",
                                  marker={"size": style.marker * (0.6 if three else 0.8), "color": class_colour(i, k)}),
                          row=1, col=j + 1)
        if pairs and run.views is not None:
            animated.append(len(fig.data))
            fig.add_trace(_segments(run.views[0], style=style, name="positive pairs", legendgroup="pairs",
                                    showlegend=j == 0), row=1, col=j + 1)
        if not three:
            axis = "x" if j == 0 else f"x{j + 1}"
            fig.update_xaxes(range=[-1.15, 1.15], showticklabels=False, zeroline=False, row=1, col=j + 1)
            fig.update_yaxes(range=[-1.15, 1.15], showticklabels=False, zeroline=False, scaleanchor=axis,
                             scaleratio=1, row=1, col=j + 1)
    if three:
        fig.update_scenes(**_sphere_axes(style))
    s0 = first.steps[0]
    for j, (run, label) in enumerate(zip(runs, labels, strict=True)):
        colour = RUN_PALETTE[j % len(RUN_PALETTE)]
        fig.add_trace(go.Scatter(x=run.uniformity, y=run.alignment, mode="lines", name=label, legendgroup=f"run{j}",
                                 line={"color": colour, "width": style.line},
                                 hovertemplate="uniformity %{x:.3f}<br>alignment %{y:.4f}<extra>%{fullData.name}</extra>"),
                      row=2, col=1)
        animated.append(len(fig.data))
        fig.add_trace(go.Scatter(x=[run.uniformity[s0]], y=[run.alignment[s0]], mode="markers", name=f"{label} now",
                                 legendgroup=f"run{j}", showlegend=False,
                                 marker={"size": style.marker * 2, "color": colour, "line": {"color": "white", "width": 1.5}},
                                 hovertemplate="uniformity %{x:.3f}<br>alignment %{y:.4f}<extra></extra>"),
                      row=2, col=1)
    top = 1.1 * max(max(r.alignment) for r in runs) or 1.0
    fig.add_trace(go.Scatter(x=[first.uniformity_optimum] * 2, y=[0.0, top], mode="lines",
                             line={"color": "gray", "dash": "dash", "width": max(1.0, style.line / 2)},
                             name=f"uniformity optimum for {first.n_points} points", hoverinfo="name"),
                  row=2, col=1)
    fig.update_xaxes(title_text="uniformity (lower = more uniform)", row=2, col=1)
    fig.update_yaxes(title_text="alignment (lower = views closer)", range=[0.0, top], row=2, col=1)

    names = _frame_names(first.steps)
    frames = []
    for f, (name, s) in enumerate(zip(names, first.steps, strict=True)):
        data: list[Any] = []
        for run in runs:
            data += [_point_update(run.positions[f][run.labels == c]) for c in classes]
            if pairs and run.views is not None:
                data.append(_segment_update(run.views[f]))
        data += [_marker_update(run.uniformity[s], run.alignment[s]) for run in runs]
        frames.append({"name": name, "data": data, "traces": animated})
    fig = AnimatedFigure(fig, frames)
    _animation(fig, names, first.steps, style=style, redraw=three)
    _layout(fig, style=style, height=int(style.height * 1.25))
    return fig


# --------------------------------------------------------------------------- covariance spectra


def spectra_figure(spectra: Mapping[int, np.ndarray], *, title: str, floor: float | None = None,
                   style: Style = PLAIN) -> go.Figure:
    """The sorted covariance eigenvalues at several epochs of one run (``spectra``: epoch ->
    eigenvalues), coloured from dark (first epoch) to light (last) on one log axis; ``floor``:
    a dotted line at the value below which a direction counts as collapsed."""
    epochs = sorted(spectra)
    colours = px.colors.sample_colorscale(SEQUENTIAL, [i / max(1, len(epochs) - 1) * 0.85 for i in range(len(epochs))])
    fig = go.Figure()
    for e, colour in zip(epochs, colours, strict=True):
        lam = np.asarray(spectra[e], dtype=float)
        fig.add_trace(go.Scatter(x=np.arange(1, len(lam) + 1), y=np.maximum(lam, 1e-12), mode="lines+markers",
                                 name=f"epoch {e}", line={"color": colour, "width": style.line},
                                 marker={"size": style.marker}))
    if floor is not None and epochs:
        fig.add_hline(y=floor, line_dash="dot", line_color="gray", annotation_text="collapsed below this line",
                      annotation_position="bottom left", annotation_font_size=style.font)
    fig.update_layout(yaxis_type="log", yaxis_dtick=1, yaxis_exponentformat="power", xaxis_title="rank k",
                      yaxis_title="eigenvalue λ_k (log scale)", title=title, height=int(style.height * 0.8),
                      margin={"t": 50 + style.font}, legend={"orientation": "h", "y": -0.2})
    _fonts(fig, style)
    return fig


# --------------------------------------------------------------------------- real runs of a lesson


def epoch_lines_figure(lines: Sequence[Mapping[str, Any]], *, title: str, yaxis: str,
                       reference: tuple[float, str] | None = None, style: Style = PLAIN) -> go.Figure:
    """One metric over epochs for several runs: ``lines`` of ``{"name", "epochs", "values",
    "colour"}`` (and optionally ``"dash"``, ``"legendgroup"``); ``reference``: a dashed
    horizontal line ``(value, label)``."""
    fig = go.Figure()
    for ln in lines:
        fig.add_trace(go.Scatter(x=list(ln["epochs"]), y=list(ln["values"]), mode="lines+markers", name=ln["name"],
                                 legendgroup=ln.get("legendgroup", ln["name"]),
                                 line={"color": ln["colour"], "width": style.line, "dash": ln.get("dash", "solid")},
                                 marker={"size": style.marker},
                                 hovertemplate="epoch %{x}<br>%{y:.3f}<extra>%{fullData.name}</extra>"))
    if reference is not None:
        fig.add_hline(y=reference[0], line_dash="dash", line_color="gray", annotation_text=reference[1],
                      annotation_position="bottom right", annotation_font_size=style.font)
    fig.update_layout(title=title, xaxis_title="epoch", yaxis_title=yaxis, height=int(style.height * 0.75),
                      margin={"t": 50 + style.font}, legend={"orientation": "h", "y": -0.2})
    _fonts(fig, style)
    return fig


def tau_class_figure(classes: Sequence[int], counts: Sequence[int], means: Sequence[float], stds: Sequence[float], *,
                     tau0: float, epoch: int, style: Style = PLAIN) -> go.Figure:
    """The mean learned temperature of each class (bars, ± one standard deviation), classes
    from the most frequent to the rarest, with the class sizes under the bars and the starting
    temperature as a dashed line."""
    names = [f"class {int(c)}<br>{int(n)} samples" for c, n in zip(classes, counts, strict=True)]
    colours = px.colors.sample_colorscale(SEQUENTIAL, [0.85 * i / max(1, len(names) - 1) for i in range(len(names))])
    fig = go.Figure(go.Bar(x=names, y=list(means), error_y={"type": "data", "array": list(stds), "visible": True},
                           marker_color=colours, name="mean τ_i of the class",
                           hovertemplate="%{x}<br>mean τ_i %{y:.3f}<extra></extra>"))
    fig.add_hline(y=tau0, line_dash="dash", line_color="gray", annotation_text=f"start: τ = {tau0:g}",
                  annotation_position="top right", annotation_font_size=style.font)
    lo = min(min(m - s for m, s in zip(means, stds, strict=True)), tau0)
    hi = max(max(m + s for m, s in zip(means, stds, strict=True)), tau0)
    pad = 0.15 * (hi - lo) or 0.05
    fig.update_layout(title=f"Learned temperature by class at epoch {epoch}, most frequent class first",
                      xaxis_title="class (training samples)", yaxis_title="τ_i (mean ± sd)",
                      yaxis_range=[lo - pad, hi + pad], height=int(style.height * 0.75), margin={"t": 50 + style.font},
                      showlegend=False)
    _fonts(fig, style)
    return fig


FACTOR_TITLES = {"colour": "colour (accuracy)", "x": "x position (R²)", "y": "y position (R²)",
                 "scale": "scale (R²)", "angle": "angle (R²)", "background": "background (R²)",
                 "noise": "pixel noise (R²)"}


def probe_bars_figure(runs: Sequence[tuple[str, str, Mapping[str, float], Mapping[str, float]]], *,
                      style: Style = PLAIN) -> go.Figure:
    """What each run's representation and projector output keep of every factor: ``runs`` of
    ``(name, colour, representation probes, projector-output probes)``; grouped bars per factor,
    the representation solid and the projector output hatched, one colour per run."""
    fig = go.Figure()
    factors = [f for f in FACTOR_TITLES if any(f in rep for _, _, rep, _ in runs)]
    factors += sorted({f for _, _, rep, _ in runs for f in rep} - set(factors))
    for name, colour, rep, emb in runs:
        for space, probes, pattern in (("representation", rep, ""), ("projector output", emb, "/")):
            fig.add_trace(go.Bar(x=[FACTOR_TITLES.get(f, f) for f in factors], y=[probes.get(f) for f in factors],
                                 name=f"{name} · {space}", marker={"color": colour, "pattern_shape": pattern,
                                                                    "line": {"color": colour, "width": 1.5}},
                                 opacity=1.0 if not pattern else 0.7,
                                 hovertemplate="%{x}: %{y:.3f}<extra>%{fullData.name}</extra>"))
    low = min([0.0] + [v for _, _, rep, emb in runs for v in (*rep.values(), *emb.values())])
    fig.update_layout(barmode="group", title="What a kNN probe reads of each factor (1 = all of it, 0 = nothing)",
                      yaxis_title="probe score", yaxis_range=[low - 0.05, 1.05],
                      height=int(style.height * 0.8), margin={"t": 50 + style.font}, legend={"orientation": "h", "y": -0.25})
    _fonts(fig, style)
    return fig
