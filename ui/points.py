"""Which points of a per-sample scatter a page draws, and with which trace type.

Up to :data:`MAX_SVG_POINTS` points every point is drawn as SVG. Above that the page
draws a stratified sample of that many (the classes, or quantile bins of a continuous
target, keep their shares: ``analysis.sampling.stratified_sample``) with WebGL, and
says so. A UMAP map of a very large snapshot covers only a sample itself (its other rows
are NaN, see ``jobs.projector.map_rows``); those rows are left out and that is said too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from analysis.sampling import stratified_sample
from jobs import store as stmod

MAX_SVG_POINTS = 10_000


@dataclass(frozen=True)
class PointRows:
    rows: np.ndarray  # indices into the snapshot's arrays, ascending
    scatter: type  # go.Scatter, or go.Scattergl above MAX_SVG_POINTS points
    note: str  # what is left out, in words; "" when every point is drawn
    total: int  # points in the snapshot

    def trace(self, **props: Any) -> go.Scatter | go.Scattergl:
        """``self.scatter(**props)`` without plotly's entry-by-entry check of per-point arrays.

        Plotly checks every entry of an enumerated array such as ``marker.symbol`` against its
        ~500 symbol names: 0.1 s for a 3,000-point trace on a machine whose cores are busy
        training, paid on every rerun of a page. The trace (its JSON) is the same; only the
        check is skipped, so ``props`` must be valid (each page's test renders its traces)."""
        return self.scatter(_validate=False, **props)


def plot_rows(labels: np.ndarray, coords: np.ndarray | None = None, *, limit: int = MAX_SVG_POINTS,
              method: str = "map") -> PointRows:
    """The rows of a snapshot to draw: those with finite ``coords`` (all when ``coords`` is
    None), thinned to a stratified sample of ``limit`` rows when there are more."""
    labels = np.asarray(labels)
    n = len(labels)
    if coords is None:
        mapped = np.arange(n)
    else:
        mapped = np.flatnonzero(np.isfinite(np.asarray(coords, dtype=np.float64)).all(axis=1))
    parts = []
    if len(mapped) < n:
        parts.append(f"the {method} was computed on a stratified sample of {len(mapped):,} of {n:,} points")
    rows = mapped
    if len(mapped) > limit:
        rows = mapped[stratified_sample(labels[mapped], limit, seed=0)]
        parts.insert(0, f"Showing a stratified sample of {len(rows):,} of {n:,} points (WebGL)")
    elif parts:
        parts.insert(0, f"Showing {len(rows):,} of {n:,} points")
    note = "; ".join(parts) + "." if parts else ""
    scatter = go.Scattergl if n > limit else go.Scatter
    return PointRows(rows=rows, scatter=scatter, note=note, total=n)


@dataclass(frozen=True)
class MapCoords:
    coords: np.ndarray  # (N, 2), NaN rows where a UMAP map covers only a sample
    method: str  # the map drawn: "UMAP", or "PCA" (asked for, or while the UMAP map is computed)


def map_coords(store: stmod.Store, run_id: str, epoch: int, space: str, method: str,
               arrays: dict[str, np.ndarray]) -> MapCoords:
    """The 2-D map of a snapshot (``arrays``: ``ui.data.snapshot_arrays``) in ``space`` ("emb"
    or "rep"): the worker's UMAP map when ``method`` is "UMAP" and it is computed, else the
    PCA stored with the snapshot."""
    xy = store.projection(run_id, epoch, space, "umap") if method == "UMAP" else None
    if xy is not None:
        return MapCoords(xy, "UMAP")
    return MapCoords(arrays[f"pca_{space}"], "PCA")


def panel_notes(notes: list[tuple[str, str]], n_panels: int, *, what: str = "map") -> list[str]:
    """Captions for a grid of panels from (panel name, note) pairs: one line per distinct
    note, naming its panels, or "Each map: ..." when every panel has the same note."""
    by_note: dict[str, list[str]] = {}
    for name, note in notes:
        if note:
            by_note.setdefault(note, []).append(name)
    out = []
    for note, names in by_note.items():
        who = f"Each {what}" if len(names) == n_panels and n_panels > 1 else ", ".join(names)
        out.append(f"{who}: {note[0].lower()}{note[1:]}")
    return out
