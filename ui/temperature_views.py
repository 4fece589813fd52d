"""The Temperature view's computations and figures: which runs learn a per-sample
temperature, the temperatures of one snapshot by class, their distribution, the map coloured
by them, the samples at both ends, their evolution, and the comparison with a run that has one
global temperature.

Run names are escaped here (``plot_escape``) where a figure shows them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from analysis.temperature import (
    TauByClass,
    accuracy_by_class_from_hits,
    knn_accuracy_by_class,
    tau_by_class,
    tau_frequency_correlation,
    tau_summary,
    tau_trajectory,
)
from jobs import store as stmod
from trainers import registry
from ui.data import light_snapshot, load_snapshot, one_thread
from ui.figures import sample_customdata
from ui.points import PointRows
from ui.text import plot_escape

SECTIONS = ["distribution", "map", "extremes", "evolution", "next to a global τ"]
N_EXTREME = 8  # samples shown at each end of the temperature range
TAU_COLOUR = "#4c78a8"  # the histogram and the boxes
GROUP_COLOURS = ("#1f77b4", "#ff7f0e", "#d62728", "#2ca02c", "#9467bd")  # class-frequency groups over epochs
COMPARED = (("knn_accuracy", "kNN accuracy"), ("linear_accuracy", "linear accuracy"), ("alignment", "alignment"),
            ("uniformity", "uniformity"), ("rankme", "RankMe"))  # metrics of the side-by-side table


# --------------------------------------------------------------------------- which runs


def learns_tau(r: stmod.RunRecord) -> bool:
    """A run whose loss learns one temperature per training sample (iSogCLR)."""
    spec = registry.LOSSES.get(r.config.get("loss", ""))
    return bool(spec and spec.per_sample_tau)


def global_tau(r: stmod.RunRecord) -> bool:
    """A trained classification run with one temperature for every sample: one to compare with."""
    return not learns_tau(r) and not r.imported and r.task == "classification"


def closest_first(others: Sequence[stmod.RunRecord], run: stmod.RunRecord) -> list[stmod.RunRecord]:
    """``others`` ordered by how well they compare with ``run``: the same dataset, then the same
    imbalance, a sogclr run, the same group, the same seed."""
    c = run.config

    def distance(r: stmod.RunRecord) -> tuple:
        o = r.config
        return (o.get("dataset") != c.get("dataset"), o.get("imbalance_ratio") != c.get("imbalance_ratio"),
                o.get("loss") != "sogclr", r.group != run.group or not run.group, o.get("seed") != c.get("seed"))

    return sorted(others, key=distance)


# --------------------------------------------------------------------------- one snapshot


@dataclass(frozen=True)
class TauSnapshot:
    """The learned temperatures of one snapshot, with what the view shows about them."""

    tau: np.ndarray  # per sample; held-out samples have none (NaN)
    y: np.ndarray  # class labels
    is_test: np.ndarray
    index: np.ndarray  # stable sample indices
    by_class: TauByClass  # training samples' temperatures per class, most frequent class first
    summary: dict[str, float]  # n, mean, std, min, max of the training samples' temperatures
    rho: float  # Spearman correlation of τᵢ with the size of the sample's class (NaN when undefined)

    @property
    def classes(self) -> tuple:
        return tuple(self.by_class.classes.tolist())

    @property
    def class_labels(self) -> list[str]:
        """"class (n=count)" per class, most frequent first: the x axis of the per-class charts."""
        return [f"{c} (n={n})" for c, n in zip(self.by_class.classes, self.by_class.counts, strict=True)]

    @property
    def frequency(self) -> dict:
        """Class -> its number of training samples."""
        return dict(zip(self.by_class.classes.tolist(), self.by_class.counts.tolist(), strict=True))


def tau_snapshot(arrays: Mapping[str, np.ndarray]) -> TauSnapshot:
    """The temperatures (``ps_tau``) of a snapshot's arrays (``ui.data.snapshot_arrays``)."""
    tau, y = arrays["ps_tau"], arrays["y"]
    return TauSnapshot(tau, y, arrays["is_test"], arrays["index"], tau_by_class(tau, y), tau_summary(tau),
                       tau_frequency_correlation(tau, y))


def signed(x: float) -> str:
    """A correlation with its sign and two decimals; "–" when undefined."""
    return "–" if math.isnan(x) else f"{x:+.2f}"


@st.cache_data(show_spinner=False, max_entries=16)
def trajectory(root: str, run_id: str, stamps: tuple[tuple[int, float], ...]) -> dict[str, np.ndarray]:
    """``analysis.temperature.tau_trajectory`` over the snapshots ``stamps`` ((epoch, created), in order)."""
    arrs = [light_snapshot(root, run_id, e, c) for e, c in stamps]
    return tau_trajectory([e for e, _ in stamps], [a["ps_tau"] for a in arrs], arrs[-1]["y"])


@st.cache_data(show_spinner=False, max_entries=32)
def accuracy_by_class(root: str, run_id: str, epoch: int, created: float, classes: tuple) -> np.ndarray:
    """The kNN probe's accuracy on the held-out samples of each of ``classes``: from the outcomes
    the worker stored with the snapshot, else (older snapshots) computed here."""
    light = light_snapshot(root, run_id, epoch, created)
    if "knn_hit" in light:  # the probe's outcomes, stored by the worker with the snapshot
        return accuracy_by_class_from_hits(light["knn_hit"], light["y"], classes=np.asarray(classes))
    a = load_snapshot(root, run_id, epoch, created)  # snapshots written before knn_hit existed
    tr = ~a["is_test"]
    with one_thread():
        return knn_accuracy_by_class(a["rep"][tr], a["y"][tr], a["rep"][~tr], a["y"][~tr], classes=np.asarray(classes))


# --------------------------------------------------------------------------- figures and tables


def histogram_figure(t: TauSnapshot, *, tau0: float, epoch: int) -> go.Figure:
    """The training samples' τᵢ in 40 bins, with τ_init as a dashed line."""
    fig = go.Figure(go.Histogram(x=t.tau[~t.is_test], nbinsx=40, name="τᵢ", marker={"color": TAU_COLOUR}))
    fig.add_vline(x=tau0, line_dash="dash", line_color="gray", annotation_text=f"τ_init {tau0:g}")
    fig.update_layout(title=f"τᵢ of {int(t.summary['n']):,} training samples · epoch {epoch}",
                      xaxis_title="learned temperature τᵢ", yaxis_title="samples", height=400, margin={"t": 50},
                      bargap=0.05)
    return fig


def class_box_figure(t: TauSnapshot, *, tau0: float) -> go.Figure:
    """One box of τᵢ per class, most frequent class first, with τ_init as a dashed line."""
    fig = go.Figure()
    for label, vals in zip(t.class_labels, t.by_class.values, strict=True):
        fig.add_trace(go.Box(y=vals, name=label, boxpoints=False, marker={"color": TAU_COLOUR}, showlegend=False))
    fig.add_hline(y=tau0, line_dash="dash", line_color="gray")
    fig.update_layout(title="τᵢ per class, most frequent class first", xaxis_title="class (training samples)",
                      yaxis_title="learned temperature τᵢ", height=400, margin={"t": 50})
    return fig


def tau_map_figure(t: TauSnapshot, coords: np.ndarray, pts: PointRows, *, shown: str, run_name: str,
                   epoch: int) -> go.Figure:
    """The map of the embedding (``coords`` of the ``shown`` method; the rows ``pts.rows``):
    training samples coloured by τᵢ, held-out samples (no τ) as grey crosses."""
    drawn = np.zeros(len(t.y), dtype=bool)
    drawn[pts.rows] = True
    fig = go.Figure()
    te = drawn & t.is_test
    fig.add_trace(pts.scatter(
        x=coords[te, 0], y=coords[te, 1], mode="markers", name="held-out (no τ)",
        marker={"size": 5, "color": "lightgray", "symbol": "x"}, hoverinfo="skip"))
    tr = drawn & ~t.is_test
    fig.add_trace(pts.scatter(
        x=coords[tr, 0], y=coords[tr, 1], mode="markers", name="training samples",
        marker={"size": 6, "color": t.tau[tr], "colorscale": "Viridis", "showscale": True, "colorbar": {"title": "τᵢ"}},
        customdata=sample_customdata(t.index[tr], t.y[tr], t.tau[tr]),
        hovertemplate="index %{customdata[0]}<br>class %{customdata[1]}<br>τ %{customdata[2]:.3f}<extra></extra>"))
    fig.update_layout(title=f"{shown} of the embedding · {plot_escape(run_name)} · epoch {epoch}", xaxis_title=f"{shown} 1",
                      yaxis_title=f"{shown} 2", height=560, margin={"t": 50}, legend={"orientation": "h", "y": -0.12})
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def extremes_figure(t: TauSnapshot, images: np.ndarray, low: np.ndarray, high: np.ndarray) -> go.Figure:
    """The images of the samples at rows ``low`` (top row) and ``high`` (bottom row), titled
    "τ value · class"; ``images`` by stable sample index."""
    n_cols = max(len(low), len(high))
    titles = [f"τ {t.tau[r]:.2f} · {t.y[r]}" for r in low] + [""] * (n_cols - len(low)) + \
             [f"τ {t.tau[r]:.2f} · {t.y[r]}" for r in high] + [""] * (n_cols - len(high))
    fig = make_subplots(rows=2, cols=n_cols, subplot_titles=titles, horizontal_spacing=0.01, vertical_spacing=0.12)
    for row, rows in ((1, low), (2, high)):
        for col, r in enumerate(rows, start=1):
            i = t.index[r]
            fig.add_trace(go.Heatmap(z=images[i], colorscale="gray_r", showscale=False, name=f"index {i}",
                                     hovertemplate=f"index {i}<extra></extra>"), row=row, col=col)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    fig.update_annotations(font_size=11)
    fig.update_layout(height=330, margin={"t": 30, "b": 0, "l": 0, "r": 0})
    return fig


def extremes_table(t: TauSnapshot, rows: np.ndarray) -> pd.DataFrame:
    """The samples at ``rows``: index, class, the class's number of training samples, τᵢ."""
    freq = t.frequency
    return pd.DataFrame({"index": t.index[rows], "class": t.y[rows], "class frequency": [freq[c] for c in t.y[rows]],
                         "τᵢ": t.tau[rows]})


def evolution_figure(traj: Mapping[str, np.ndarray]) -> go.Figure:
    """Mean τᵢ of each class-frequency group over epochs, with its 10–90% quantile band
    (``traj``: ``analysis.temperature.tau_trajectory``)."""
    fig = go.Figure()
    for g in np.unique(traj["group"]):
        sel = traj["group"] == g
        name, classes, colour = traj["group_name"][sel][0], traj["classes"][sel][0], GROUP_COLOURS[int(g) % len(GROUP_COLOURS)]
        ep = traj["epoch"][sel]
        fig.add_trace(go.Scatter(x=np.r_[ep, ep[::-1]], y=np.r_[traj["q_high"][sel], traj["q_low"][sel][::-1]],
                                 fill="toself", fillcolor=colour, opacity=0.18, line={"width": 0}, hoverinfo="skip",
                                 name=f"{name}: 10–90% band", legendgroup=name, showlegend=False))
        fig.add_trace(go.Scatter(x=ep, y=traj["mean"][sel], mode="lines+markers", line={"color": colour},
                                 name=f"{name} classes ({classes})", legendgroup=name,
                                 hovertemplate="epoch %{x}<br>mean τ %{y:.3f}<extra>" + name + "</extra>"))
    fig.update_layout(xaxis_title="epoch", yaxis_title="τᵢ (mean; band: 10%–90% quantiles)", height=420,
                      margin={"t": 30}, legend={"orientation": "h", "y": -0.2, "title": "class-frequency group"})
    return fig


def side_by_side_table(run: stmod.RunRecord, ref: stmod.RunRecord, t: TauSnapshot, *, epoch: int,
                       metrics: Mapping, ref_epoch: int, ref_metrics: Mapping) -> pd.DataFrame:
    """The iSogCLR run (at ``epoch``) next to the run with a global temperature (at
    ``ref_epoch``): loss, temperature, epoch and the metrics of :data:`COMPARED`."""
    rows = [("loss", run.config["loss"], ref.config["loss"]),
            ("temperature", f"learned per sample: {t.summary['mean']:.3f} ± {t.summary['std']:.3f}",
             f"global: {registry.temperature_of(ref.config):g}"),
            ("epoch", str(epoch), str(ref_epoch))]
    for key, label in COMPARED:
        a, b = metrics.get(key), ref_metrics.get(key)
        rows.append((label, "–" if a is None else f"{a:.3f}", "–" if b is None else f"{b:.3f}"))
    return pd.DataFrame(rows, columns=["", f"iSogCLR · {run.name}", f"global τ · {ref.name}"])


def class_accuracy_figure(t: TauSnapshot, acc: np.ndarray, ref_acc: np.ndarray, run: stmod.RunRecord,
                          ref: stmod.RunRecord, colours: Mapping[str, str]) -> go.Figure:
    """Grouped bars of the kNN accuracy per class (``t``'s classes, most frequent first) of the
    iSogCLR run and of the run with a global temperature, each in its run's colour."""
    fig = go.Figure([go.Bar(x=t.class_labels, y=acc, name=plot_escape(f"iSogCLR · {run.name}"),
                            marker={"color": colours.get(run.id)}),
                     go.Bar(x=t.class_labels, y=ref_acc, name=plot_escape(f"global τ · {ref.name}"),
                            marker={"color": colours.get(ref.id)})])
    fig.update_layout(barmode="group", xaxis_title="class (training samples of the iSogCLR run), most frequent first",
                      yaxis_title="kNN accuracy on the held-out samples of the class", yaxis_range=[0, 1.02],
                      height=400, margin={"t": 30}, legend={"orientation": "h", "y": -0.3})
    return fig
