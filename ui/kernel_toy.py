"""The figures and the table of the kernel-ridge toy of self-distillation
(``analysis.kernel_sd.toy_experiment``): the fit and the shrinkage factors of each step, and
K unweighted steps next to the single plain ridge that matches them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from analysis.kernel_sd import ToyExperiment, toy_experiment
from ui.colours import CLASS_PALETTE, SEQUENTIAL

GAMMA = 10.0  # the RBF kernel's width
RIDGES = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0)  # the choices of λ


@st.cache_data(show_spinner=False, max_entries=64)
def toy(n: int, noise: float, seed: int, ridge: float, steps: int, alpha: float) -> ToyExperiment:
    """The toy experiment for one setting of the page's sliders (exact; cached)."""
    return toy_experiment(n=int(n), noise=float(noise), seed=int(seed), gamma=GAMMA, ridge=float(ridge),
                          steps=int(steps), alpha=float(alpha))


@dataclass(frozen=True)
class ToyFigures:
    fits: go.Figure  # the noisy data, the true function and each step's fit
    shrinkage: go.Figure  # B_k per eigen-direction, per step
    equivalent_fits: go.Figure  # K unweighted steps, the matching ridge λ' and the plain ridge λ
    equivalent_shrinkage: go.Figure  # their shrinkage factors


def toy_figures(e: ToyExperiment, *, alpha: float, ridge: float) -> ToyFigures:
    """The four figures of the toy: steps coloured from dark (first) to light (last); with
    α > 0 also the infinite-step limit, plain ridge with λ/α (crimson, dotted)."""
    steps = len(e.fits)
    colours = px.colors.sample_colorscale(SEQUENTIAL, [i / max(1, steps - 1) for i in range(steps)])
    idx = np.arange(1, len(e.d) + 1)

    fits = go.Figure()
    fits.add_trace(go.Scatter(x=e.x, y=e.y, mode="markers", name="noisy data", marker={"color": "black", "size": 6}))
    fits.add_trace(go.Scatter(x=e.grid, y=e.grid_true, mode="lines", name="true function",
                              line={"color": "gray", "dash": "dash"}))
    for k in range(steps):
        fits.add_trace(go.Scatter(x=e.grid, y=e.fits[k], mode="lines", name=f"step {k + 1}", line={"color": colours[k]}))
    if alpha > 0:
        fits.add_trace(go.Scatter(x=e.grid, y=e.limit_fit, mode="lines", name=f"ridge λ/α = {e.limit_ridge:.3g} (∞ steps)",
                                  line={"color": "crimson", "dash": "dot"}))
    fits.update_layout(title=f"The fit of each step (α = {alpha:g}, λ = {ridge:g})", xaxis_title="x", yaxis_title="y",
                       height=420, margin={"t": 40}, legend={"orientation": "v"})

    shrink = go.Figure()
    for k in range(steps):
        shrink.add_trace(go.Scatter(x=idx, y=e.shrinkage[k], mode="lines+markers", marker={"size": 4}, name=f"B_{k + 1}",
                                    line={"color": colours[k]}))
    if alpha > 0:
        shrink.add_trace(go.Scatter(x=idx, y=e.limit_shrinkage, mode="lines", name="B_∞ = d/(d + λ/α)",
                                    line={"color": "crimson", "dash": "dot"}))
    shrink.update_layout(title="Per-step shrinkage factor of each eigen-direction",
                         xaxis_title="eigenvalue index i (largest first)", yaxis_title="B_k[i] (1 = kept, 0 = removed)",
                         yaxis_range=[-0.02, 1.02], height=420, margin={"t": 40})

    eq_fit = go.Figure()
    eq_fit.add_trace(go.Scatter(x=e.x, y=e.y, mode="markers", name="noisy data", marker={"color": "black", "size": 6}))
    eq_fit.add_trace(go.Scatter(x=e.grid, y=e.unweighted_fit, mode="lines", name=f"{steps} steps, α = 0",
                                line={"color": CLASS_PALETTE[0], "width": 3}))
    eq_fit.add_trace(go.Scatter(x=e.grid, y=e.equivalent_fit, mode="lines", name=f"ridge λ' = {e.equivalent.ridge:.3g}",
                                line={"color": CLASS_PALETTE[1], "dash": "dash"}))
    eq_fit.add_trace(go.Scatter(x=e.grid, y=e.ridge_fit, mode="lines", name=f"ridge λ = {ridge:g} (1 step)",
                                line={"color": CLASS_PALETTE[2], "dash": "dot"}))
    eq_fit.update_layout(title="Fits", xaxis_title="x", yaxis_title="y", height=380, margin={"t": 40})

    eq_shr = go.Figure()
    eq_shr.add_trace(go.Scatter(x=idx, y=e.unweighted_shrinkage, mode="lines+markers", marker={"size": 4},
                                name=f"s^{steps} ({steps} steps, α = 0)", line={"color": CLASS_PALETTE[0]}))
    eq_shr.add_trace(go.Scatter(x=idx, y=e.equivalent.ridge_shrinkage, mode="lines", name="d/(d + λ')",
                                line={"color": CLASS_PALETTE[1], "dash": "dash"}))
    eq_shr.add_trace(go.Scatter(x=idx, y=e.shrinkage[0], mode="lines", name="s = d/(d + λ)",
                                line={"color": CLASS_PALETTE[2], "dash": "dot"}))
    eq_shr.update_layout(title="Shrinkage factors", xaxis_title="eigenvalue index i (largest first)", yaxis_title="factor",
                         yaxis_range=[-0.02, 1.02], height=380, margin={"t": 40})
    return ToyFigures(fits, shrink, eq_fit, eq_shr)


def equivalence_text(e: ToyExperiment, *, ridge: float, alpha: float = 0.0) -> str:
    """Markdown: the plain ridge λ' that K unweighted steps amount to, and, with α > 0, what the
    weighted steps of the chart above do instead (their error against the first step's, and
    their limit, ridge with λ/α)."""
    steps = len(e.fits)
    text = (f"**Many unweighted steps = stronger ridge.** {steps} step(s) without ground truth (α = 0) shrink "
            f"direction i by s_i^{steps}; the single plain ridge that matches them best has "
            f"λ' = {e.equivalent.ridge:.3g} ({e.equivalent.ridge / ridge:.1f} × λ; largest shrinkage gap "
            f"{e.equivalent.max_abs_error:.3f}).")
    if alpha > 0:
        text += (f" With α = {alpha:g} (the charts above) the steps keep {alpha:g} of the ground truth each time, so "
                 f"they do not shrink to 0: step {steps}'s error is {e.mse[-1]:.4f} against step 1's {e.mse[0]:.4f}, "
                 f"and their limit is plain ridge with λ/α = {e.limit_ridge:.3g} (error {e.mse_limit:.4f}).")
    return text


def toy_errors(e: ToyExperiment, *, alpha: float) -> pd.DataFrame:
    """The error of every fit drawn to the noiseless function: each step, the unweighted steps,
    ridge λ' and λ, and with α > 0 the infinite-step limit."""
    steps = len(e.fits)
    names = [f"step {k + 1}" for k in range(steps)] + [f"{steps} steps, α = 0", "ridge λ'", "ridge λ"]
    errors = [*map(float, e.mse), e.mse_unweighted, e.mse_equivalent, e.mse_ridge]
    if alpha > 0:
        names.append("ridge λ/α (∞ steps)")
        errors.append(e.mse_limit)
    return pd.DataFrame({"fit": names, "error to the true function": errors})
