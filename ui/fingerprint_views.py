"""The What It Keeps view: how well each factor of variation (the label, and the shapes world's
colour, position, scale, angle, background, noise) can be read from a run's representation and
from its projector output, next to the same probes on the raw input.

The raw-input baseline is ``python -m trainers baseline --json`` for the run's dataset and its
settings, run as a child process (the server never imports torch) once per server and settings:
the page draws at once and adds the baseline when the process has answered (a few seconds).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from analysis.fingerprint import LABEL, SPACES
from jobs import store as stmod
from jobs.baseline import DATA_FIELDS
from ui.data import data_options
from ui.text import plot_escape

ROOT = Path(__file__).resolve().parents[1]
SPACE_NAMES = {"rep": "representation", "emb": "projector output"}
BASELINE_NAME = "raw input"
BASELINE_COLOUR = "#222222"


def factor_title(name: str, dataset: str = "") -> str:
    """A factor's name as the page shows it: the label says what it is on the shapes world."""
    if name == LABEL:
        return "label (shape)" if dataset == "shapes" else "label"
    return name


# --------------------------------------------------------------------------- the raw-input baseline


@dataclass
class Baseline:
    """Where the raw-input baseline of one dataset and settings stands."""

    state: str  # "running", "ready" or "failed"
    command: str  # the command line, to show and to copy
    result: dict[str, Any] = field(default_factory=dict)  # its JSON object, once "ready"
    error: str = ""  # the end of its error output, once "failed"
    seconds: float = 0.0  # since it started (running) or how long it took


def baseline_argv(dataset: str, options: Sequence[tuple[str, Any]]) -> list[str]:
    """``python -m trainers baseline`` for ``dataset`` with the settings ``options`` (pairs from
    ``ui.data.data_options``; those the command does not take are left out), one thread, JSON."""
    argv = [sys.executable, "-m", "trainers", "baseline", "--dataset", dataset]
    for name, value in options:
        if name in DATA_FIELDS:
            argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv + ["--threads", "1", "--json"]


class _BaselineJob:
    """One baseline command, started at once in its own process group; a thread collects its output."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.started = time.monotonic()
        self.finished: float | None = None
        self.result: dict[str, Any] = {}
        self.error = ""
        try:
            self.proc: subprocess.Popen | None = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(ROOT),
                text=True, start_new_session=True)
        except OSError as e:
            self.proc, self.error, self.finished = None, f"cannot start the command: {e}", self.started
            return
        threading.Thread(target=self._collect, name=f"baseline-{self.proc.pid}", daemon=True).start()

    def _collect(self) -> None:
        assert self.proc is not None
        out, err = self.proc.communicate()
        lines = [ln for ln in out.splitlines() if ln.strip().startswith("{")]
        if self.proc.returncode == 0 and lines:
            try:
                self.result = json.loads(lines[-1])
            except ValueError:
                self.error = "the command's output is not JSON: " + out[-500:]
        else:
            self.error = (err or out).strip()[-1500:] or f"the command exited with status {self.proc.returncode}"
        self.finished = time.monotonic()

    def state(self) -> Baseline:
        command = " ".join(["python", *self.argv[1:]])
        if self.finished is None:
            return Baseline("running", command, seconds=time.monotonic() - self.started)
        took = self.finished - self.started
        if self.result:
            return Baseline("ready", command, result=dict(self.result), seconds=took)
        return Baseline("failed", command, error=self.error, seconds=took)


@st.cache_resource(show_spinner=False, max_entries=32)
def _baseline_job(dataset: str, options: tuple[tuple[str, Any], ...]) -> _BaselineJob:
    return _BaselineJob(baseline_argv(dataset, options))


def raw_baseline(dataset: str, options: tuple[tuple[str, Any], ...]) -> Baseline:
    """The raw-input baseline of ``dataset`` with ``options``: started on the first call (one
    process per server, shared by every session), then read; never waits for it."""
    return _baseline_job(dataset, options).state()


REFERENCE_METRICS = ("knn_accuracy", "linear_accuracy", "knn_mae", "linear_mae")


def raw_reference(runs: Sequence[Any]) -> dict[str, float]:
    """The raw input's probe values (metric key -> value) when ``runs`` all trained on one
    dataset with the same data settings and its baseline is ready; else {} (it starts the
    baseline in the background, and a later rerun finds it)."""
    key = _reference_key(runs)
    if key is None:
        return {}
    b = raw_baseline(*key)
    if b.state != "ready":
        return {}
    return {k: float(b.result[k]) for k in REFERENCE_METRICS if isinstance(b.result.get(k), (int, float))}


def _reference_key(runs: Sequence[Any]) -> tuple[str, tuple[tuple[str, Any], ...]] | None:
    keys = {(str(r.config.get("dataset")), data_options(r.config)) for r in runs}
    if len(keys) != 1 or any(r.imported for r in runs):
        return None
    return next(iter(keys))


def rerun_when_reference_ready(runs: Sequence[Any]) -> None:
    """While the raw-input baseline of ``runs`` is computed, poll it each second (a fragment) and
    rerun the page once it is ready, so that its reference lines appear without a reload."""
    key = _reference_key(runs)
    if key is None or raw_baseline(*key).state != "running":
        return

    @st.fragment(run_every=1.0)
    def poll() -> None:
        if raw_baseline(*key).state != "running":
            st.rerun()
        st.caption("Computing the raw-input reference in the background (a few seconds)…")

    poll()


def retry_baselines() -> None:
    """Forget every baseline (a failed one is computed again on the next call)."""
    _baseline_job.clear()


# --------------------------------------------------------------------------- figures and tables


@dataclass(frozen=True)
class RunProbes:
    """One run's probes at the epoch shown, for the figures."""

    run: stmod.RunRecord
    epoch: int
    fingerprint: Mapping[str, Mapping[str, float]]  # analysis.fingerprint.fingerprint of its snapshot
    baseline: Mapping[str, float]  # analysis.fingerprint.baseline_scores; empty until computed
    colour: str | None


def _fmt(v: float) -> str:
    return "–" if not np.isfinite(v) else f"{v:.2f}"


def fingerprint_figure(shown: Sequence[RunProbes], factors: Sequence[str], *, dataset: str = "") -> go.Figure:
    """Grouped bars, one panel per space (representation above, projector output below): for
    each factor, one bar per run (its colour, its value written on it), and the raw-input
    baseline of that run's data as a black tick across its bar."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        subplot_titles=[f"from the {SPACE_NAMES[s]}" for s in SPACES])
    n = max(1, len(shown))
    width = 0.8 / n
    xs = np.arange(len(factors), dtype=np.float64)
    legend_baseline = True
    for row, space in enumerate(SPACES, start=1):
        for j, p in enumerate(shown):
            pos = xs + (j - (n - 1) / 2) * width
            y = np.array([p.fingerprint.get(space, {}).get(f, np.nan) for f in factors], dtype=np.float64)
            name = f"{p.run.name} · epoch {p.epoch}"
            fig.add_trace(go.Bar(
                x=pos, y=y, width=width * 0.92, name=plot_escape(name), legendgroup=p.run.id, showlegend=row == 1,
                marker={"color": p.colour}, text=[_fmt(v) for v in y], textposition="outside", cliponaxis=False,
                customdata=[factor_title(f, dataset) for f in factors],
                hovertemplate="%{customdata}: %{y:.3f}<extra>" + plot_escape(p.run.name) + "</extra>",
            ), row=row, col=1)
            if p.baseline:
                b = np.array([p.baseline.get(f, np.nan) for f in factors], dtype=np.float64)
                fig.add_trace(go.Scatter(
                    x=pos, y=b, mode="markers", name=BASELINE_NAME, legendgroup="baseline",
                    showlegend=legend_baseline,
                    marker={"symbol": "line-ew-open", "size": max(8, int(360 * width / max(1, len(factors)))),
                            "line": {"width": 3, "color": BASELINE_COLOUR}, "color": BASELINE_COLOUR},
                    customdata=[factor_title(f, dataset) for f in factors],
                    hovertemplate="raw input · %{customdata}: %{y:.3f}<extra>" + plot_escape(p.run.name) + "</extra>",
                ), row=row, col=1)
                legend_baseline = False
    ticks = [factor_title(f, dataset) for f in factors]
    fig.update_xaxes(tickvals=xs, ticktext=ticks, row=2, col=1)
    fig.update_xaxes(tickvals=xs, ticktext=ticks, showticklabels=False, row=1, col=1)
    fig.update_yaxes(title_text="kNN accuracy / R²", range=[min(-0.1, _lowest(shown)), 1.12])
    fig.update_layout(height=640, barmode="overlay", legend={"orientation": "h", "y": -0.12}, margin={"t": 40},
                      bargap=0.15)
    return fig


def _lowest(shown: Sequence[RunProbes]) -> float:
    vals = [v for p in shown for s in p.fingerprint.values() for v in s.values() if np.isfinite(v)]
    vals += [v for p in shown for v in p.baseline.values() if np.isfinite(v)]
    return min(vals, default=0.0) - 0.05


def fingerprint_table(shown: Sequence[RunProbes], factors: Sequence[str], *, dataset: str = "") -> pd.DataFrame:
    """One row per run and space (and one per distinct raw-input baseline), one column per
    factor: the numbers of the figure."""
    rows: list[dict[str, Any]] = []
    baselines: dict[tuple, tuple[list[str], dict[str, Any]]] = {}  # one row per distinct baseline, with its runs
    for p in shown:
        for space in SPACES:
            rows.append({"run": p.run.name, "epoch": str(p.epoch), "space": SPACE_NAMES[space],
                         **{factor_title(f, dataset): p.fingerprint.get(space, {}).get(f, np.nan) for f in factors}})
        if p.baseline:
            key = tuple(sorted(p.baseline.items()))
            values = {factor_title(f, dataset): p.baseline.get(f, np.nan) for f in factors}
            baselines.setdefault(key, ([], values))[0].append(p.run.name)
    for names, values in baselines.values():
        rows.append({"run": BASELINE_NAME, "epoch": "–", "space": "data of " + ", ".join(names), **values})
    return pd.DataFrame(rows)


def epochs_figure(run: stmod.RunRecord, epochs: np.ndarray, series: Mapping[str, Mapping[str, np.ndarray]],
                  factors: Sequence[str], *, colour: str | None, baseline: Mapping[str, float], epoch: int,
                  dataset: str = "") -> go.Figure:
    """One small panel per factor: its score over the run's epochs from the representation
    (solid) and the projector output (dotted), the raw-input baseline (dashed grey) and the
    epoch shown above (a vertical line)."""
    cols = 4
    rows = int(np.ceil(len(factors) / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[factor_title(f, dataset) for f in factors],
                        horizontal_spacing=0.06, vertical_spacing=0.16 if rows > 1 else 0.0)
    for i, f in enumerate(factors):
        where = {"row": i // cols + 1, "col": i % cols + 1}
        for space in SPACES:
            fig.add_trace(go.Scatter(
                x=epochs, y=series[space][f], mode="lines+markers", name=SPACE_NAMES[space], legendgroup=space,
                showlegend=i == 0, line={"color": colour, "dash": "dot" if space == "emb" else "solid"},
                marker={"size": 5}, hovertemplate="epoch %{x}: %{y:.3f}<extra>" + SPACE_NAMES[space] + "</extra>",
            ), **where)
        if f in baseline and np.isfinite(baseline[f]):
            fig.add_trace(go.Scatter(
                x=[epochs.min(), epochs.max()] if len(epochs) else [], y=[baseline[f]] * (2 if len(epochs) else 0),
                mode="lines", name=BASELINE_NAME, legendgroup="baseline", showlegend=i == 0,
                line={"color": "grey", "dash": "dash", "width": 1.5},
                hovertemplate="raw input: %{y:.3f}<extra></extra>",
            ), **where)
        fig.add_vline(x=epoch, line={"color": "#999", "width": 1, "dash": "dot"}, **where)
    fig.update_xaxes(title_text="epoch", row=rows)
    fig.update_layout(height=260 * rows + 130, legend={"orientation": "h", "y": -0.12}, margin={"t": 90},
                      title={"text": f"{plot_escape(run.name)} over epochs", "y": 0.99, "yanchor": "top"})
    return fig
