"""The Ordinality view's computations and figures: which runs it opens, the local target gap
and the target along the first principal component of a snapshot (cached), one map per run
coloured by target or gap, the rank correlation and gap over epochs, and the fragmentation
plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from jobs import store as stmod
from ui.data import load_snapshot, one_thread, snapshot_arrays
from ui.figures import epoch_line, value_map_trace
from ui.panel_grid import cell, panel_title, titled_grid
from ui.points import MapCoords, map_coords, plot_rows
from ui.text import plot_escape

GAP_K = 10  # neighbours of the local target gap
TARGET, GAP = "target", "local gap"  # what the maps are coloured by


def is_regression(r: stmod.RunRecord) -> bool:
    return r.task == "regression"


def newest_peers(runs: list[stmod.RunRecord]) -> list[str]:
    """The newest run's group; else the newest run of each loss on the newest run's dataset."""
    first = runs[0]
    if first.group:
        return [r.id for r in runs if r.group == first.group]
    seen: dict[str, str] = {}
    for r in runs:
        if r.config.get("dataset") == first.config.get("dataset"):
            seen.setdefault(r.config.get("loss", ""), r.id)
    return list(seen.values())


def gap_per_sample(store: stmod.Store, run_id: str, epoch: int, created: float, space: str, shown: str) -> np.ndarray:
    """Local target gap of the points the map draws (``plot_rows``: every point up to 10,000,
    else a stratified sample, whose neighbours are then among the sample), NaN elsewhere;
    ``shown``: the map drawn ("UMAP" or "PCA"). Cached per snapshot."""
    return _gap_per_sample(store, str(store.root), run_id, epoch, created, space, shown)


@st.cache_data(show_spinner=False, max_entries=32)
def _gap_per_sample(_store: stmod.Store, root: str, run_id: str, epoch: int, created: float, space: str,
                    shown: str) -> np.ndarray:
    """Bounded: on all 50,000 points of a large run it took 8 s and 550 MB in this process.
    (``_store`` is not hashed: ``root`` names it.)"""
    a = load_snapshot(root, run_id, epoch, created)
    coords = _store.projection(run_id, epoch, space, "umap") if shown == "UMAP" else a[f"pca_{space}"]
    rows = plot_rows(a["y"], coords).rows
    gaps = np.full(len(a["y"]), np.nan)
    # analysis.ordinality computes with torch: loaded when this view is first computed
    from analysis.ordinality import local_target_gap

    with one_thread():
        gaps[rows] = local_target_gap(a[space][rows], a["y"][rows], k=GAP_K)
    return gaps


@dataclass(frozen=True)
class AlongPc:
    targets: np.ndarray  # held-out targets in the order of the first principal component
    spearman: float  # rank correlation of that order with the target
    explained: float  # share of the variance the component holds


@st.cache_data(show_spinner=False, max_entries=32)
def along_pc(root: str, run_id: str, epoch: int, created: float, space: str) -> AlongPc:
    """Held-out targets in the order of the first principal component, its Spearman rho and explained variance."""
    a = load_snapshot(root, run_id, epoch, created)
    te = a["is_test"]
    # analysis.ordinality computes with torch: loaded when this view is first computed
    from analysis.ordinality import target_along_first_pc

    with one_thread():
        res = target_along_first_pc(a[space][te], a["y"][te])
    return AlongPc(a["y"][te][res.order], res.spearman, res.explained)


@dataclass(frozen=True)
class Panel:
    """One run's map as the view draws it."""

    run: stmod.RunRecord
    arrays: dict[str, np.ndarray]  # ui.data.snapshot_arrays
    map: MapCoords
    epoch: int
    values: np.ndarray  # the colour of each sample: its target or its local gap


def map_panel(store: stmod.Store, run: stmod.RunRecord, snap: dict, *, space: str, method: str, colour: str) -> Panel:
    """The map of ``run`` at its snapshot ``snap`` (a record of ``ui.data.snapshots``) in
    ``space``, by ``method`` where computed (else PCA), coloured by ``colour`` (TARGET or GAP)."""
    arrays = snapshot_arrays(store, run.id, snap["epoch"], snap["created"])
    mapped = map_coords(store, run.id, snap["epoch"], space, method, arrays)
    values = arrays["y"] if colour == TARGET else gap_per_sample(store, run.id, snap["epoch"], snap["created"], space,
                                                                 mapped.method)
    return Panel(run, arrays, mapped, int(snap["epoch"]), values)


@dataclass(frozen=True)
class Grid:
    figure: go.Figure
    notes: list[tuple[str, str]]  # (run name, which points its panel leaves out), for ui.points.panel_notes


def maps_figure(panels: Sequence[Panel], *, method: str, colour: str) -> Grid:
    """One map per run on one colour scale (the target, or the local gap with the ``Inferno``
    scale), titled with its name, loss and epoch (and "PCA" where PCA stands in for the
    ``method`` asked for); no tick labels."""
    n = len(panels)
    fig = titled_grid([panel_title(p.run.name, f"{p.run.config['loss']} · epoch {p.epoch}"
                                   + (" · PCA" if p.map.method != method else ""), n=n) for p in panels], panel_px=330)
    notes = []
    for i, p in enumerate(panels):
        pts = plot_rows(p.arrays["y"], p.map.coords, method="map")
        if pts.note:
            notes.append((p.run.name, pts.note))
        fig.add_trace(value_map_trace(
            pts, p.map.coords, p.arrays, p.values, name=p.run.name,
            hovertemplate="index %{customdata[0]}<br>target %{customdata[1]:.3g}"
                          + ("<br>local gap %{customdata[2]:.2f}" if colour != TARGET else "") + "<extra></extra>",
        ), **cell(i, n))
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(
        coloraxis={"colorscale": "Viridis" if colour == TARGET else "Inferno",
                   "colorbar": {"title": "target" if colour == TARGET else "local gap"}})
    return Grid(fig, notes)


def over_epochs_figure(runs: Sequence[stmod.RunRecord], frames: Mapping[str, pd.DataFrame],
                       colours: Mapping[str, str]) -> go.Figure:
    """Left: Spearman ρ of each run over epochs (representation solid, embedding dotted);
    right: its neighbour target gap. Runs without ρ are left out."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["Spearman ρ (embedding vs target distances)",
                                                        f"neighbour target gap (k = {GAP_K})"])
    for r in runs:
        df = frames[r.id]
        if df.empty or "rank_correlation" not in df:
            continue
        c = colours.get(r.id)
        fig.add_trace(epoch_line(df, "rank_correlation", name=f"{r.name} · representation", colour=c, group=r.id),
                      row=1, col=1)
        if "rank_correlation_emb" in df:
            fig.add_trace(epoch_line(df, "rank_correlation_emb", name=f"{r.name} · embedding", colour=c, dotted=True,
                                     markers=False, group=r.id), row=1, col=1)
        if "neighbour_gap" in df:
            fig.add_trace(epoch_line(df, "neighbour_gap", name=f"{r.name} · gap", colour=c, group=r.id, showlegend=False),
                          row=1, col=2)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="Spearman ρ", row=1, col=1)
    fig.update_yaxes(title_text="gap (0 = ordered, 1 = random)", rangemode="tozero", row=1, col=2)
    fig.update_layout(height=420, margin={"t": 40}, legend={"orientation": "h", "y": -0.25})
    return fig


def fragmentation_figure(runs: Sequence[stmod.RunRecord], pcs: Sequence[AlongPc], colours: Mapping[str, str]) -> Grid:
    """One plot per run of its held-out targets in the order of the first principal component
    (``pcs``, one per run), titled with ρ and the component's share of the variance, on one
    target axis."""
    fig = titled_grid([panel_title(r.name, f"ρ(PC1, y) = {pc.spearman:.2f} · PC1 holds {pc.explained:.0%} of the variance",
                                   n=len(runs)) for r, pc in zip(runs, pcs, strict=True)],
                      panel_px=300, x_axis_titles=True)
    notes = []
    for i, (r, pc) in enumerate(zip(runs, pcs, strict=True)):
        pts = plot_rows(pc.targets)
        if pts.note:
            notes.append((r.name, pts.note))
        fig.add_trace(pts.scatter(x=pts.rows, y=pc.targets[pts.rows], mode="markers", name=plot_escape(r.name),
                                  showlegend=False, marker={"size": 4, "color": colours.get(r.id)},
                                  hovertemplate="rank %{x}<br>target %{y:.3g}<extra></extra>"),
                      **cell(i, len(runs)))
    fig.update_xaxes(title_text="rank along PC1")
    fig.update_yaxes(matches="y")
    fig.update_yaxes(title_text="target", col=1)
    return Grid(fig, notes)
