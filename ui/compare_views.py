"""The Compare view's own figure and table columns: one map per run on shared axes, the
settings in which the compared runs differ, and runs of one configuration over seeds: a metric
over epochs as mean ± sd, and the paired difference of two configurations over shared seeds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.compare import config_differences, metric_goal
from analysis.seeds import Summary, paired_difference, summarise_by_epoch
from jobs import store as stmod
from trainers import registry
from ui.colours import SEQUENTIAL, class_colour
from ui.figures import sample_customdata, split_symbols, value_map_trace
from ui.panel_grid import cell, panel_title, titled_grid
from ui.points import MapCoords, plot_rows
from ui.runs_views import ConfigRuns, seed_list
from ui.text import class_name, plot_escape

METRICS = {"knn_accuracy": "kNN acc", "linear_accuracy": "linear acc", "knn_mae": "kNN MAE", "linear_mae": "linear MAE",
           "linear_r2": "linear R²", "rank_correlation": "rank corr", "alignment": "alignment",
           "uniformity": "uniformity", "rankme": "RankMe"}  # the table's columns: metric key -> header


def dataset_tasks(runs: Sequence[stmod.RunRecord]) -> set[str]:
    """The tasks ("classification", "regression") of the runs' datasets."""
    return {r.task for r in runs if r.task != "none"}


@dataclass(frozen=True)
class Maps:
    figure: go.Figure
    notes: list[tuple[str, str]]  # (run name, which points its panel leaves out), for ui.points.panel_notes
    fell_back: bool  # some panel shows PCA because its UMAP map is not computed yet


def maps_figure(runs: Sequence[stmod.RunRecord], arrays: Mapping[str, dict[str, np.ndarray]],
                maps: Mapping[str, MapCoords], epochs: Mapping[str, int], *, method: str, classification: bool,
                same_axes: bool) -> Maps:
    """One panel per run (its map ``maps[run id]`` of the snapshot ``arrays[run id]`` at
    ``epochs[run id]``), titled with its name, loss and epoch (and "PCA" where PCA stands in
    for the ``method`` asked for). Each panel by its own run's task: classification, one trace
    per class in a qualitative palette, one legend for every panel; regression, the target on
    one colour scale shared by the regression panels (``classification``: every run is a
    classification run). ``same_axes``: every panel on the first panel's axis ranges, with tick
    labels."""
    titles = [panel_title(r.name, f"{r.config['loss']} · epoch {epochs[r.id]}"
                          + (f" · {maps[r.id].method}" if maps[r.id].method != method else ""), n=len(runs))
              for r in runs]
    fig = titled_grid(titles, panel_px=330)
    if same_axes:
        fig.update_xaxes(matches="x")
        fig.update_yaxes(matches="y")
    notes = []
    mixed = {"classification", "regression"} <= {r.task for r in runs}  # else every panel as ``classification`` says
    by_class = {r.id: classification or (mixed and r.task == "classification") for r in runs}
    labelled = [arrays[r.id]["y"] for r in runs if by_class[r.id]]
    classes = np.unique(np.concatenate(labelled)) if labelled else np.array([])
    first_labelled = next((r.id for r in runs if by_class[r.id]), None)
    for i, r in enumerate(runs):
        a, xy = arrays[r.id], maps[r.id].coords
        pts = plot_rows(a["y"], xy, method="map")
        if pts.note:
            notes.append((r.name, pts.note))
        rows = pts.rows
        where = cell(i, len(runs))
        if by_class[r.id]:  # one trace per class: a qualitative palette, one legend for every panel
            for k, c in enumerate(classes):
                sel = rows[a["y"][rows] == c]
                fig.add_trace(pts.scatter(
                    x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=class_name(a, c), legendgroup=str(c),
                    showlegend=r.id == first_labelled,
                    marker={"size": 4, "color": class_colour(k, len(classes)), "symbol": split_symbols(a["is_test"][sel])},
                    customdata=sample_customdata(a["index"][sel], a["y"][sel]),
                    hovertemplate="index %{customdata[0]}<br>label %{customdata[1]}<extra>" + plot_escape(r.name)
                                  + "</extra>",
                ), **where)
        else:
            fig.add_trace(value_map_trace(
                pts, xy, a, a["y"], name=r.name, hover_value=False,
                hovertemplate="index %{customdata[0]}<br>target %{customdata[1]:.3g}<extra>" + plot_escape(r.name)
                              + "</extra>",
            ), **where)
    fig.update_xaxes(showticklabels=same_axes)
    fig.update_yaxes(showticklabels=same_axes)
    fig.update_layout(legend={"title": "label"})
    if not all(by_class.values()):
        fig.update_layout(coloraxis={"colorscale": SEQUENTIAL, "colorbar": {"title": "target"}})
    return Maps(fig, notes, any(maps[r.id].method != method for r in runs))


def setting_columns(runs: Sequence[stmod.RunRecord]) -> dict[str, list[str]]:
    """The settings in which ``runs`` differ (setting -> its value per run, as text; "–" for a
    run without it). A run made without a temperature shows its loss's own, not a blank."""
    differs = config_differences([{**r.config, "temperature": registry.temperature_of(r.config)} for r in runs])
    return {k: ["–" if v is None else f"{v:g}" if isinstance(v, float) else str(v) for v in vals]
            for k, vals in differs.items()}


def config_colours(groups: Sequence[ConfigRuns], colours: Mapping[str, str]) -> list[str | None]:
    """A configuration's colour: that of its first run (``colours``: run id -> colour)."""
    return [colours.get(g.runs[0].id) for g in groups]


def seed_bands(groups: Sequence[ConfigRuns], frames: Mapping[str, pd.DataFrame], metric: str,
               up_to: int | None = None) -> list[dict[int, Summary]]:
    """Per configuration, ``metric`` at each snapshot epoch (up to ``up_to``) as mean, sd and n
    over its seeds (``frames``: run id -> metrics over epochs)."""
    out = []
    for g in groups:
        series = []
        for r in g.runs:
            df = frames[r.id]
            if df.empty or metric not in df:
                continue
            if up_to is not None:
                df = df[df["epoch"] <= up_to]
            series.append(dict(zip(df["epoch"].astype(int), pd.to_numeric(df[metric], errors="coerce"), strict=True)))
        out.append(summarise_by_epoch(series))
    return out


def epoch_metrics(frames: Mapping[str, pd.DataFrame], columns: Mapping[str, str]) -> list[str]:
    """The metrics of ``columns`` that some run has over its epochs."""
    return [k for k in columns if any(not df.empty and k in df for df in frames.values())]


def paired_table(a: ConfigRuns, b: ConfigRuns, metrics: Mapping[str, Mapping[str, Any]],
                 columns: Mapping[str, str], *, confidence: float = 0.95) -> pd.DataFrame | None:
    """The difference a − b of each metric of ``columns`` over the seeds both configurations ran
    (``metrics``: run id -> its metrics), paired seed by seed (``analysis.seeds.paired_difference``):
    one row per metric with the mean difference, its sd, the Student-t interval, the shared seeds,
    and which configuration the difference favours when the interval excludes 0. One shared seed:
    the difference is written "one seed: no error bar". A seed that a configuration ran twice
    counts once, with the mean of its runs. ``None`` when they share no seed."""
    def by_seed(g: ConfigRuns, k: str) -> dict[int, float]:  # two runs of one seed: their mean
        values: dict[int, list[float]] = {}
        for r in g.runs:
            v, s = metrics.get(r.id, {}).get(k), r.config.get("seed")
            if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and isinstance(s, int):
                values.setdefault(s, []).append(float(v))
        return {s: float(np.mean(v)) for s, v in values.items()}

    rows = []
    for k, header in columns.items():
        va, vb = by_seed(a, k), by_seed(b, k)
        if not set(va) & set(vb):
            continue
        d = paired_difference(va, vb, confidence=confidence)
        goal = metric_goal(k)
        verdict = ""
        if not d.single_seed and (d.low > 0 or d.high < 0) and goal is not None:
            verdict = "A" if (d.mean > 0) == (goal == "max") else "B"
        rows.append({"metric": header, "A − B": d.text(), "sd of differences": "–" if d.single_seed else f"{d.sd:.3g}",
                     "shared seeds": seed_list(d.seeds), "better": verdict or "–"})
    return pd.DataFrame(rows) if rows else None
