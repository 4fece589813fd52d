"""The Compare view's own figure and table columns: one map per run on shared axes, and the
settings in which the compared runs differ."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from analysis.compare import config_differences
from jobs import store as stmod
from trainers import registry
from ui.colours import SEQUENTIAL, class_colour
from ui.figures import sample_customdata, split_symbols, value_map_trace
from ui.panel_grid import cell, panel_title, titled_grid
from ui.points import MapCoords, plot_rows
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
