"""The Train page's queue: which runs get a card, which wait in the compact list, and which
run the live loss chart follows."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import plotly.graph_objects as go

from jobs import store as stmod
from ui.text import plot_escape


def split_queue(runs: Sequence[stmod.RunRecord]) -> tuple[list[stmod.RunRecord], list[stmod.RunRecord]]:
    """(running, queued): running runs, the most recently started first; queued runs in the
    order the scheduler starts them (oldest first)."""
    running = sorted((r for r in runs if r.status == stmod.RUNNING), key=lambda r: -(r.started or r.created))
    queued = sorted((r for r in runs if r.status == stmod.QUEUED), key=lambda r: r.created)
    return running, queued


def chart_candidates(running: Sequence[stmod.RunRecord], has_history: Callable[[str], bool]) -> list[stmod.RunRecord]:
    """The running runs that already have a loss curve: the ones the live chart can follow."""
    return [r for r in running if has_history(r.id)]


def latest_with_history(runs: Sequence[stmod.RunRecord], has_history: Callable[[str], bool], *,
                        limit: int = 20) -> stmod.RunRecord | None:
    """The most recent run (``runs`` newest first) that has a loss curve, among the first
    ``limit`` runs that are not queued; None if there is none."""
    started = [r for r in runs if r.status != stmod.QUEUED][:limit]
    return next((r for r in started if has_history(r.id)), None)


def loss_figure(history: dict[str, np.ndarray], run: stmod.RunRecord, colour: str | None) -> go.Figure:
    """A run's training loss over epochs: the epoch means as a line in the run's colour, the
    points written within an epoch (about one a second) as grey dots."""
    ends = history["epoch"] == np.round(history["epoch"])  # epoch means; the rest are points within an epoch
    fig = go.Figure()
    if (~ends).any():
        fig.add_trace(go.Scatter(x=history["epoch"][~ends], y=history["loss"][~ends], mode="markers", name="within epoch",
                                 marker={"size": 4, "color": "rgba(120,120,120,0.45)"}))
    fig.add_trace(go.Scatter(x=history["epoch"][ends], y=history["loss"][ends], mode="lines+markers", name="epoch mean",
                             marker={"size": 4}, line={"color": colour}))
    fig.update_layout(title=f"Loss · {plot_escape(run.name)} · {run.status}", xaxis_title="epoch",
                      yaxis_title="training loss", height=260, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      showlegend=bool((~ends).any()))
    return fig
