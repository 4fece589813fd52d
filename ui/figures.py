"""Figures that several views draw: the covariance spectrum, the path of a run in the
(uniformity, alignment) plane, a metric over epochs, and a per-sample scatter coloured by a
continuous value.

Builders take plain data (run records, arrays, frames of ``ui.data.metrics_over_epochs``,
run id -> colour maps) and return a Plotly figure or trace; run names are escaped
(``plot_escape``) here, so a page passes them as typed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.bounds import uniformity_optimum
from jobs import store as stmod
from ui.points import PointRows
from ui.text import plot_escape

N_EVAL_DEFAULT = 1000  # held-out samples assumed for the uniformity optimum when no run says


def split_symbols(is_test: np.ndarray) -> np.ndarray:
    """The marker of each sample: a cross for the held-out split, a circle for training."""
    return np.where(is_test, "x", "circle")


def sample_customdata(*columns: np.ndarray) -> np.ndarray:
    """Per-sample values for the hover label (and a click's ``customdata``), one column each."""
    return np.stack(columns, 1)


# --------------------------------------------------------------------------- spectra


def spectrum_figure(runs: Sequence[stmod.RunRecord], spectra: Mapping[str, np.ndarray], epochs: Mapping[str, int],
                    colours: Mapping[str, str], *, title: str, height: int = 430, margin_top: int = 30,
                    legend_groups: bool = False, samples: Mapping[str, int] | None = None) -> go.Figure:
    """The sorted covariance eigenvalues of each run (``spectra``: run id -> eigenvalues at the
    snapshot of ``epochs[run id]``) on one log axis with one tick per decade.
    ``legend_groups``: each run's legend entry toggles its traces on the page's other figures
    of the same group too. ``samples``: run id -> the number of samples the spectrum was
    computed on; where it is smaller than the dimension, a dotted line at rank n - 1 marks
    where the eigenvalues must vanish whatever the model learned (a covariance of n samples
    has rank at most n - 1)."""
    fig = go.Figure()
    for r in runs:
        lam = spectra[r.id]
        fig.add_trace(go.Scatter(x=np.arange(1, len(lam) + 1), y=lam, mode="lines+markers", marker={"size": 4},
                                 line={"color": colours.get(r.id)}, legendgroup=r.id if legend_groups else None,
                                 name=plot_escape(f"{r.name} (epoch {epochs[r.id]})")))
        limit = sample_rank_limit(len(lam), (samples or {}).get(r.id))
        if limit is not None:
            fig.add_vline(x=limit + 0.5, line={"dash": "dot", "color": colours.get(r.id) or "grey", "width": 1},
                          annotation_text=f"rank ≤ {limit}: {limit + 1} samples", annotation_position="top left")
    fig.update_layout(yaxis_type="log", yaxis_dtick=1, yaxis_exponentformat="power", xaxis_title="rank k",
                      yaxis_title="eigenvalue λ_k (log scale)", height=height, legend={"orientation": "h", "y": -0.25},
                      margin={"t": margin_top}, title=title)
    return fig


def sample_rank_limit(dim: int, n_samples: int | None) -> int | None:
    """The largest rank a covariance of ``n_samples`` rows can have (n - 1), when it is below
    ``dim`` (else None: the samples do not limit the spectrum)."""
    if n_samples is None or n_samples - 1 >= dim:
        return None
    return max(0, int(n_samples) - 1)


# --------------------------------------------------------------------------- alignment and uniformity


def has_alignment_uniformity(frame: pd.DataFrame) -> bool:
    return not frame.empty and "uniformity" in frame


def au_paths_figure(runs: Sequence[stmod.RunRecord], frames: Mapping[str, pd.DataFrame], colours: Mapping[str, str], *,
                    labelled: bool = True, up_to: int | None = None) -> go.Figure:
    """Each run's path over its snapshots in the (uniformity, alignment) plane (``frames``: run
    id -> metrics over epochs; runs without these metrics are left out), with the optimum of
    uniformity for the largest held-out split as a dashed line.

    ``labelled``: the view's own figure (epochs written on the points, the dashed line named,
    the legend shown even for one run); else a titled panel beside others. ``up_to``: only the
    snapshots up to that epoch (at least each run's first)."""
    fig = go.Figure()
    n_eval: list[int] = []
    for r in runs:
        df = frames[r.id]
        if not has_alignment_uniformity(df):
            continue
        if up_to is not None:
            df = df[df["epoch"] <= max(up_to, int(df["epoch"].min()))]
        n_eval += [int(v) for v in df.get("n_eval", []) if v == v]
        colour = colours.get(r.id)
        hover = "epoch %{customdata}<br>uniformity %{x:.3f}<br>alignment %{y:.3f}<extra>%{fullData.name}</extra>"
        if labelled:
            fig.add_trace(go.Scatter(
                x=df["uniformity"], y=df["alignment"], mode="lines+markers+text", name=plot_escape(r.name),
                text=[f"{int(e)}" for e in df["epoch"]], textposition="top center", textfont={"size": 9},
                customdata=df["epoch"], hovertemplate=hover, marker={"size": 8, "color": colour}, line={"color": colour},
            ))
        else:
            fig.add_trace(go.Scatter(x=df["uniformity"], y=df["alignment"], mode="lines+markers", name=plot_escape(r.name),
                                     customdata=df["epoch"], marker={"size": 7, "color": colour}, line={"color": colour},
                                     legendgroup=r.id, hovertemplate=hover))
    optimum = uniformity_optimum(max(n_eval) if n_eval else N_EVAL_DEFAULT)
    if labelled:
        fig.add_vline(x=optimum, line_dash="dash", line_color="gray", annotation_text="uniformity optimum (−2t·n/(n−1))",
                      annotation_position="top right")
    else:
        fig.add_vline(x=optimum, line_dash="dash", line_color="gray")
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(xaxis_title="uniformity (lower = more uniform)", yaxis_title="alignment (lower = better aligned)")
    if labelled:
        fig.update_layout(height=520, legend={"orientation": "h", "y": -0.2}, margin={"t": 30}, showlegend=True)
    else:
        fig.update_layout(title="Alignment–uniformity over epochs", height=440, margin={"t": 40},
                          legend={"orientation": "h", "y": -0.25})
    return fig


# --------------------------------------------------------------------------- metrics over epochs


def epoch_line(frame: pd.DataFrame, column: str, *, name: str, colour: str | None, dotted: bool = False,
               markers: bool = True, group: str | None = None, showlegend: bool | None = None) -> go.Scatter:
    """One metric (``frame[column]``) over the epochs of one run, in the run's colour; ``name``
    as typed (escaped here). Dotted lines mark the second quantity of a pair (the embedding
    next to the representation)."""
    line = {"dash": "dot", "color": colour} if dotted else {"color": colour}
    return go.Scatter(x=frame["epoch"], y=frame[column], mode="lines+markers" if markers else "lines", line=line,
                      name=plot_escape(name), legendgroup=group, showlegend=showlegend)


# --------------------------------------------------------------------------- per-sample scatter


def value_map_trace(pts: PointRows, coords: np.ndarray, arrays: Mapping[str, np.ndarray], values: np.ndarray, *,
                    name: str, hovertemplate: str, hover_value: bool = True) -> go.Scatter | go.Scattergl:
    """The points ``pts.rows`` of a map (``coords``, (N, 2)) coloured by ``values`` on the
    figure's shared colour axis: circles for training samples, crosses for held-out ones.
    ``customdata`` is (index, label or target) per point, and the value as a third column
    when ``hover_value``. ``name`` as typed (escaped here); ``hovertemplate`` is the page's
    own markup."""
    rows = pts.rows
    columns = [arrays["index"][rows], arrays["y"][rows]] + ([values[rows]] if hover_value else [])
    return pts.trace(
        x=coords[rows, 0], y=coords[rows, 1], mode="markers", name=plot_escape(name), showlegend=False,
        marker={"size": 4, "color": values[rows], "coloraxis": "coloraxis", "symbol": split_symbols(arrays["is_test"][rows])},
        customdata=sample_customdata(*columns), hovertemplate=hovertemplate,
    )


# --------------------------------------------------------------------------- runs over seeds


def _translucent(colour: str | None, alpha: float) -> str:
    """A ``#rrggbb`` colour as ``rgba(r, g, b, alpha)`` (grey when there is none)."""
    if not colour or not colour.startswith("#") or len(colour) != 7:
        return f"rgba(128, 128, 128, {alpha})"
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"


REFERENCE_NAME = "raw input (no learning)"


def seed_bars_figure(labels: Sequence[str], summaries: Sequence[Mapping[str, object]], columns: Mapping[str, str],
                     colours: Sequence[str | None], *, height: int = 380,
                     reference: Mapping[str, float] | None = None) -> go.Figure:
    """One panel per metric of ``columns`` (metric key -> title) that some configuration has:
    a bar per configuration (``labels``, as typed; escaped here) at the mean over its seeds with
    an error bar of ± one standard deviation (``summaries``: per configuration, metric key ->
    ``analysis.seeds.Summary``). A configuration of one seed has no error bar; its bar says
    "one seed". One legend entry per configuration, in ``colours``. ``reference``: metric key ->
    the raw input's value (``python -m trainers baseline``), a dashed line across its panel."""
    from plotly.subplots import make_subplots

    keys = [k for k in columns if any(k in s for s in summaries)]
    fig = make_subplots(rows=1, cols=max(1, len(keys)), subplot_titles=[columns[k] for k in keys],
                        horizontal_spacing=0.06 if len(keys) > 3 else 0.1)
    for j, k in enumerate(keys):
        for i, (label, s) in enumerate(zip(labels, summaries, strict=True)):
            if k not in s:
                continue
            m = s[k]
            name = plot_escape(label)
            hover = (f"{m.mean:.4g} (one seed: no error bar)" if m.single_seed
                     else f"mean ± sd: {m.mean:.4g} ± {m.sd:.2g} over {m.n} seeds")
            fig.add_trace(go.Bar(
                x=[name], y=[m.mean], name=name, legendgroup=f"config{i}", showlegend=j == 0,
                marker={"color": colours[i]},
                error_y={"type": "data", "array": [0.0 if m.single_seed else m.sd], "visible": not m.single_seed,
                         "thickness": 1.5, "width": 6},
                text=["one seed" if m.single_seed else ""], textposition="outside", cliponaxis=False,
                hovertext=[hover], hovertemplate="%{hovertext}<extra>" + name + "</extra>",
            ), row=1, col=j + 1)
        if reference and k in reference:
            fig.add_hline(y=reference[k], line={"dash": "dash", "color": "#222", "width": 1.5}, row=1, col=j + 1)
    if reference and any(k in reference for k in keys):  # one legend entry says what the dashed lines are
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=REFERENCE_NAME,
                                 line={"dash": "dash", "color": "#222"}), row=1, col=1)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(title="Metrics over seeds: mean ± sd (error bar: one standard deviation, n − 1)",
                      height=height, barmode="group", margin={"t": 70}, legend={"orientation": "h", "y": -0.08})
    return fig


def seed_band_figure(labels: Sequence[str], bands: Sequence[Mapping[int, object]], colours: Sequence[str | None], *,
                     metric: str, height: int = 420, reference: float | None = None) -> go.Figure:
    """A metric over epochs for each configuration (``bands``: per configuration, epoch ->
    ``analysis.seeds.Summary`` over its seeds): the mean as a line and ± one standard deviation
    as a shaded band, over the epochs two seeds or more have. ``labels`` as typed (escaped
    here); ``metric`` is the axis title; ``reference``: the raw input's value, a dashed line."""
    fig = go.Figure()
    if reference is not None:
        fig.add_trace(go.Scatter(x=[min((e for b in bands for e in b), default=0),
                                    max((e for b in bands for e in b), default=1)], y=[reference, reference],
                                 mode="lines", name=REFERENCE_NAME, line={"dash": "dash", "color": "#222"},
                                 hovertemplate=f"raw input: {reference:.4g}<extra></extra>"))
    for i, (label, band) in enumerate(zip(labels, bands, strict=True)):
        if not band:
            continue
        name = plot_escape(label)
        epochs = list(band)
        spread = [e for e in epochs if not band[e].single_seed]
        if spread:
            upper = [band[e].mean + band[e].sd for e in spread]
            lower = [band[e].mean - band[e].sd for e in spread]
            fig.add_trace(go.Scatter(x=spread + spread[::-1], y=upper + lower[::-1], fill="toself", mode="lines",
                                     line={"width": 0}, fillcolor=_translucent(colours[i], 0.2), hoverinfo="skip",
                                     showlegend=False, legendgroup=f"config{i}", name=name + " ± sd"))
        text = [f"epoch {e}: {band[e].mean:.4g}" + (" (one seed)" if band[e].single_seed
                                                    else f" ± {band[e].sd:.2g} (n = {band[e].n})") for e in epochs]
        fig.add_trace(go.Scatter(x=epochs, y=[band[e].mean for e in epochs], mode="lines+markers", name=name,
                                 line={"color": colours[i]}, marker={"size": 6}, legendgroup=f"config{i}",
                                 hovertext=text, hovertemplate="%{hovertext}<extra>" + name + "</extra>"))
    fig.update_layout(title=f"{plot_escape(metric)} over epochs: mean ± sd over seeds", xaxis_title="epoch",
                      yaxis_title=plot_escape(metric), height=height, margin={"t": 50},
                      legend={"orientation": "h", "y": -0.25})
    return fig
