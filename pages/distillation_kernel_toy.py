"""Kernel Ridge Toy: self-distillation steps of kernel ridge regression, in closed form."""

from __future__ import annotations

import streamlit as st

from ui import kernel_toy as kt
from ui.data import get_store
from ui.widgets import explain

get_store()  # no run is read here; this keeps the router and the Train form as on every page
st.title("Kernel Ridge Toy")
explain(
    "self-distillation in kernel ridge regression (Borup & Andersen 2021; Mobahi et al. 2020)",
    [r"f_1 = K(K + \lambda I)^{-1} y,\qquad y_k = \alpha\, y + (1 - \alpha)\, f_{k-1},\qquad f_k = K(K + \lambda I)^{-1} y_k",
     r"K = V \operatorname{diag}(d) V^\top:\quad f_k = V \operatorname{diag}(B_k) V^\top y,\quad "
     r"B_1 = s,\ B_k = s\,(\alpha + (1-\alpha) B_{k-1}),\ s = \frac{d}{d + \lambda}",
     r"\alpha = 0:\ B_K = s^K;\qquad \alpha > 0:\ B_\infty = \frac{d}{d + \lambda/\alpha}"],
    "Each step refits the data to a mix of the ground truth (weight α) and the previous step's predictions; all "
    "steps are exact closed forms from one eigendecomposition (no training). The **shrinkage factor** B_k says "
    "how much of each eigen-direction of the data the step keeps: directions with small eigenvalues (wiggly "
    "functions) are shrunk most. **What to look for:** with α = 0, each step shrinks again: the fit gets smoother, "
    "like ridge with a larger λ (below: the single λ' that matches best), until it shrinks to 0; with α > 0 the steps "
    "converge to ridge with λ/α. With a small λ (an over-fitting first step) a few steps lower the error.",
)
c1, c2, c3 = st.columns(3)
steps = c1.slider("Steps K", 1, 20, 5, key="distill_toy_steps")
alpha = c2.slider("Ground-truth weight α", 0.0, 1.0, 0.0, step=0.05, key="distill_toy_alpha")
ridge = c3.select_slider("Ridge λ", options=kt.RIDGES, value=0.01, key="distill_toy_ridge")
c1, c2, c3 = st.columns(3)
n = c1.slider("Training points", 10, 200, 40, step=10, key="distill_toy_n")
noise = c2.slider("Noise", 0.0, 1.0, 0.3, step=0.05, key="distill_toy_noise")
seed = c3.number_input("Seed", 0, 10_000, 0, key="distill_toy_seed")

experiment = kt.toy(n, noise, seed, ridge, steps, alpha)
figs = kt.toy_figures(experiment, alpha=alpha, ridge=ridge)
left, right = st.columns(2)
left.plotly_chart(figs.fits, width="stretch", key="distill_toy_fits")
right.plotly_chart(figs.shrinkage, width="stretch", key="distill_toy_shrinkage")

st.markdown(kt.equivalence_text(experiment, ridge=ridge, alpha=alpha))
left, right = st.columns(2)
left.plotly_chart(figs.equivalent_fits, width="stretch", key="distill_toy_eq_fit")
right.plotly_chart(figs.equivalent_shrinkage, width="stretch", key="distill_toy_eq_shrinkage")
st.dataframe(kt.toy_errors(experiment, alpha=alpha), hide_index=True, key="distill_toy_errors")
st.caption(f"Error: mean squared difference to the noiseless function on 200 points of [-1, 1]. RBF kernel, "
           f"γ = {kt.GAMMA:g}.")
