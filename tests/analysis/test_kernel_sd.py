"""Self-distillation in kernel ridge regression: closed form vs refits, limits."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics.pairwise import rbf_kernel as sk_rbf_kernel

from analysis.kernel_sd import (
    equivalent_ridge,
    krr_fit_predict,
    make_toy,
    optimal_alpha,
    optimal_alpha_path,
    rbf_kernel,
    self_distillation_closed_form,
    self_distillation_explicit,
    shrinkage_factors,
    stationary_shrinkage,
    toy_function,
)

GAMMA = 10.0


@pytest.fixture(scope="module")
def toy() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    t = make_toy(n=40, noise=0.3, seed=0)
    K = rbf_kernel(t.x, gamma=GAMMA)
    return t.x, t.y, t.y_true, K


def _eig(K: np.ndarray) -> np.ndarray:
    return np.clip(np.linalg.eigvalsh(K), 0.0, None)


def test_make_toy_shapes_and_reproducible() -> None:
    a, b = make_toy(n=30, seed=3), make_toy(n=30, seed=3)
    assert a.x.shape == (30, 1) and a.y.shape == (30,) and a.y_true.shape == (30,)
    assert_allclose(a.y, b.y)
    assert np.all(np.diff(a.x[:, 0]) >= 0)
    assert_allclose(a.y_true, toy_function(a.x))
    c = make_toy(n=25, dim=2, noise=0.0, seed=1)
    assert c.x.shape == (25, 2)
    assert_allclose(c.y, c.y_true)
    with pytest.raises(ValueError, match="dim"):
        make_toy(dim=3)


def test_rbf_kernel_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(4, 3))
    assert_allclose(rbf_kernel(x, y, gamma=0.7), sk_rbf_kernel(x, y, gamma=0.7), rtol=1e-12)
    K = rbf_kernel(x, gamma=0.7)
    assert_allclose(K, K.T, rtol=0, atol=0)
    with pytest.raises(ValueError, match="same D"):
        rbf_kernel(x, rng.normal(size=(4, 2)))


def test_krr_matches_sklearn_kernel_ridge(toy: tuple[np.ndarray, ...]) -> None:
    _, y, _, K = toy
    ref = KernelRidge(alpha=0.1, kernel="precomputed").fit(K, y).predict(K)
    assert_allclose(krr_fit_predict(K, y, ridge=0.1), ref, rtol=1e-8, atol=1e-10)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="square"):
        krr_fit_predict(np.zeros((3, 4)), np.zeros(3), ridge=1.0)
    with pytest.raises(ValueError, match="length n"):
        krr_fit_predict(np.eye(3), np.zeros(4), ridge=1.0)
    with pytest.raises(ValueError, match="ridge"):
        krr_fit_predict(np.eye(3), np.zeros(3), ridge=0.0)
    with pytest.raises(ValueError, match="symmetric"):
        krr_fit_predict(np.triu(np.ones((3, 3))), np.zeros(3), ridge=1.0)


@pytest.mark.parametrize("ridge", [0.01, 0.3])
def test_closed_form_equals_explicit_refits(toy: tuple[np.ndarray, ...], ridge: float) -> None:
    x, y, _, K = toy
    alphas = [0.5, 0.0, 0.3, 1.0, 0.0, 0.8, -0.2, 1.3]
    explicit = self_distillation_explicit(K, y, ridge=ridge, alphas=alphas)
    closed = self_distillation_closed_form(K, y, ridge=ridge, alphas=alphas)
    assert len(explicit) == len(closed) == len(alphas) + 1
    for e, c in zip(explicit, closed, strict=True):
        assert_allclose(c, e, rtol=1e-8, atol=1e-10)
    # the same at new points
    x_new = np.linspace(-1, 1, 11)[:, None]
    K_eval = rbf_kernel(x_new, x, gamma=GAMMA)
    explicit = self_distillation_explicit(K, y, ridge=ridge, alphas=alphas, K_eval=K_eval)
    closed = self_distillation_closed_form(K, y, ridge=ridge, alphas=alphas, K_eval=K_eval)
    for e, c in zip(explicit, closed, strict=True):
        assert e.shape == (11,)
        assert_allclose(c, e, rtol=1e-8, atol=1e-10)
    # evaluated at the training points, the functions are the fitted values
    at_train = self_distillation_closed_form(K, y, ridge=ridge, alphas=alphas, K_eval=K)
    for a, c in zip(
        at_train, self_distillation_closed_form(K, y, ridge=ridge, alphas=alphas), strict=True
    ):
        assert_allclose(a, c, rtol=1e-8, atol=1e-10)


def test_step_one_is_plain_ridge_and_alpha_one_stays_there(toy: tuple[np.ndarray, ...]) -> None:
    _, y, _, K = toy
    plain = krr_fit_predict(K, y, ridge=0.1)
    for f in self_distillation_closed_form(K, y, ridge=0.1, alphas=[1.0] * 5):
        assert_allclose(f, plain, rtol=1e-8, atol=1e-10)
    assert_allclose(self_distillation_explicit(K, y, ridge=0.1, alphas=[])[0], plain)


def test_unweighted_steps_shrink_more(toy: tuple[np.ndarray, ...]) -> None:
    _, y, _, K = toy
    d = _eig(K)
    B = shrinkage_factors(d, ridge=0.1, alphas=[0.0] * 9)
    s = d / (d + 0.1)
    assert_allclose(B, s[None, :] ** np.arange(1, 11)[:, None], rtol=1e-12, atol=1e-300)
    assert np.all(np.diff(B, axis=0) <= 1e-15)  # every eigencoordinate shrinks step by step
    fits = self_distillation_closed_form(K, y, ridge=0.1, alphas=[0.0] * 9)
    norms = [np.linalg.norm(f) for f in fits]
    assert all(b < a for a, b in zip(norms, norms[1:], strict=False))
    # with ground truth the shrinkage is dampened: between plain ridge and no ground truth
    B_half = shrinkage_factors(d, ridge=0.1, alphas=[0.5] * 9)
    assert np.all(B_half[-1] >= B[-1] - 1e-15) and np.all(B_half[-1] <= s + 1e-15)


def test_constant_alpha_limit_is_ridge_over_alpha(toy: tuple[np.ndarray, ...]) -> None:
    """Borup & Andersen: infinitely many steps with weight alpha = ridge with ridge/alpha."""
    _, y, _, K = toy
    d = _eig(K)
    for alpha in (0.2, 0.5, 0.9):
        B = shrinkage_factors(d, ridge=0.1, alphas=[alpha] * 300)
        assert_allclose(B[-1], stationary_shrinkage(d, ridge=0.1, alpha=alpha), rtol=0, atol=1e-12)
        f_inf = self_distillation_closed_form(K, y, ridge=0.1, alphas=[alpha] * 300)[-1]
        assert_allclose(f_inf, krr_fit_predict(K, y, ridge=0.1 / alpha), rtol=0, atol=1e-9)


@pytest.mark.parametrize("steps", [2, 3, 5, 10])
def test_no_ground_truth_equals_amplified_ridge(toy: tuple[np.ndarray, ...], steps: int) -> None:
    """``steps`` unweighted steps ~ plain ridge with lambda' >= steps * lambda.

    Exact per eigenvalue with lambda'_i; with one lambda' the shrinkage curves agree to
    within 0.12 (absolute, on a [0, 1] scale) and the fitted values to within 6 % (relative
    L2) on this toy (measured: 0.055-0.115 and 1.5-5.1 %).
    """
    _, y, _, K = toy
    d = _eig(K)
    ridge = 0.1
    eq = equivalent_ridge(d, ridge=ridge, steps=steps)
    assert_allclose(eq.shrinkage, (d / (d + ridge)) ** steps)
    pos = d > 1e-8
    exact = d[pos] / (d[pos] + eq.per_eigenvalue_ridge[pos])
    assert_allclose(exact, eq.shrinkage[pos], rtol=1e-8, atol=1e-14)
    assert eq.ridge >= steps * ridge  # amplified at least steps-fold (Bernoulli)
    assert eq.max_abs_error < 0.12
    distilled = self_distillation_closed_form(K, y, ridge=ridge, alphas=[0.0] * (steps - 1))[-1]
    ridge_fit = krr_fit_predict(K, y, ridge=eq.ridge)
    assert np.linalg.norm(distilled - ridge_fit) / np.linalg.norm(distilled) < 0.06
    # the least-squares lambda' beats its neighbours
    for factor in (0.8, 1.25):
        worse = np.sum((eq.shrinkage - d / (d + factor * eq.ridge)) ** 2)
        assert np.sum((eq.shrinkage - eq.ridge_shrinkage) ** 2) <= worse


def test_equivalent_ridge_one_step_is_identity() -> None:
    d = np.array([3.0, 1.0, 0.1, 0.0])
    eq = equivalent_ridge(d, ridge=0.5, steps=1)
    assert eq.ridge == 0.5 and eq.max_abs_error == 0.0


def test_optimal_alpha_minimises_error_to_truth(toy: tuple[np.ndarray, ...]) -> None:
    _, y, y_true, K = toy
    for ridge in (0.01, 0.3):
        f1 = krr_fit_predict(K, y, ridge=ridge)
        a_star = optimal_alpha(K, y, y_true, f1, ridge=ridge)

        def err(a: float, f1: np.ndarray = f1, ridge: float = ridge) -> float:
            f2 = krr_fit_predict(K, a * y + (1 - a) * f1, ridge=ridge)
            return float(np.sum((f2 - y_true) ** 2))

        grid = np.linspace(a_star - 2, a_star + 2, 81)
        assert err(a_star) <= min(err(float(a)) for a in grid) + 1e-12
        clipped = optimal_alpha(K, y, y_true, f1, ridge=ridge, bounds=(0.0, 1.0))
        assert clipped == pytest.approx(min(max(a_star, 0.0), 1.0))
    alphas, fits = optimal_alpha_path(K, y, y_true, ridge=0.01, steps=4)
    assert len(alphas) == 3 and len(fits) == 4
    assert_allclose(fits[-1], self_distillation_explicit(K, y, ridge=0.01, alphas=alphas)[-1])
    # on this under-regularised toy the greedy steps reduce the error to the truth
    assert np.sum((fits[-1] - y_true) ** 2) < np.sum((fits[0] - y_true) ** 2)
