"""The Dimensional Collapse view's own figure: the effective rank of each run over its epochs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from jobs import store as stmod
from ui.figures import epoch_line

SPACES = {"embedding (projector output)": "emb", "representation (encoder output)": "rep"}  # radio label -> snapshot key


def rank_figure(runs: Sequence[stmod.RunRecord], frames: Mapping[str, pd.DataFrame], colours: Mapping[str, str],
                space: str) -> go.Figure:
    """RankMe of ``space`` ("emb" or "rep") per run over its epochs (solid), and the
    exp-entropy of its covariance eigenvalues where the snapshots have it (dotted)."""
    fig = go.Figure()
    for r in runs:
        df = frames[r.id]
        if df.empty:
            continue
        colour = colours.get(r.id)
        fig.add_trace(epoch_line(df, "rankme" if space == "rep" else "rankme_emb", name=f"{r.name} · RankMe",
                                 colour=colour))
        if f"erank_cov_{space}" in df:
            fig.add_trace(epoch_line(df, f"erank_cov_{space}", name=f"{r.name} · effective rank (covariance)",
                                     colour=colour, dotted=True, markers=False))
    fig.update_layout(xaxis_title="epoch", yaxis_title="effective rank", height=360, margin={"t": 30},
                      legend={"orientation": "h", "y": -0.3}, title="Effective rank over epochs")
    return fig
