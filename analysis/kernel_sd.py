"""Self-distillation with weighted ground truth in kernel ridge regression: an exact toy.

Borup & Andersen 2021, "Even your Teacher Needs Guidance: Ground-Truth Targets Dampen
Regularization Imposed by Self-Distillation" (NeurIPS 2021); the alpha = 0 case is
Mobahi, Farajtabar & Bartlett 2020, "Self-Distillation Amplifies Regularization in
Hilbert Space". Spec: METHODS.md, section "Distillation".

Setting. n training points with kernel matrix K (n x n, symmetric PSD), noisy targets
y (n,), ridge lambda > 0. Kernel ridge regression fitted to targets u gives the fitted
values (at the training points)

    f = A u,     A = K (K + lambda I)^-1 = V diag(s) V^T,     s_i = d_i / (d_i + lambda)

with K = V diag(d) V^T. ``ridge`` is added to the diagonal as is (no factor n): it is
scikit-learn's ``KernelRidge(alpha=ridge)``.

Self-distillation. Step 1 fits y itself: f_1 = A y. Step k >= 2 fits a mix of the ground
truth and the previous step's fitted values:

    y_k = alpha_k y + (1 - alpha_k) f_{k-1},        f_k = A y_k.

``alphas`` lists alpha_2, ..., alpha_K (so ``len(alphas) = K - 1`` and K fitted vectors
come back; ``alphas=[]`` is plain ridge). In eigencoordinates (tilde-u = V^T u) every step
is a diagonal map, so f_k = V diag(B_k) V^T y with shrinkage factors

    B_1 = s,     B_k = s * (alpha_k + (1 - alpha_k) B_{k-1})      (elementwise).

Consequences shown by this module (and its tests):

- alpha_k = 1 for all k: every step is plain ridge (B_k = s);
- alpha_k = 0 for all k (no ground truth): B_K = s^K, each eigencoordinate is shrunk K
  times; infinite steps shrink everything to 0. For finite K this is ridge with a
  per-eigenvalue regulariser lambda'_i = d_i ((1 + lambda / d_i)^K - 1) >= lambda (about
  K lambda for d_i >> lambda, far more for small d_i); :func:`equivalent_ridge` also
  finds the single lambda' whose plain-ridge shrinkage best matches s^K;
- a constant alpha in (0, 1]: B_k -> alpha d / (alpha d + lambda) = d / (d + lambda /
  alpha), i.e. infinitely many steps equal plain ridge with the AMPLIFIED regulariser
  lambda / alpha, exactly (:func:`stationary_shrinkage`; Borup & Andersen's result).

Pure numpy; no training loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

__all__ = [
    "Toy",
    "EquivalentRidge",
    "make_toy",
    "toy_function",
    "rbf_kernel",
    "krr_fit_predict",
    "shrinkage_factors",
    "self_distillation_explicit",
    "self_distillation_closed_form",
    "optimal_alpha",
    "optimal_alpha_path",
    "stationary_shrinkage",
    "equivalent_ridge",
    "ToyExperiment",
    "toy_experiment",
]


# --------------------------------------------------------------------------- checks


def _as_kernel(K: np.ndarray) -> np.ndarray:
    K = np.asarray(K, dtype=float)
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"K must be a square (n, n) kernel matrix, got shape {K.shape}")
    if not np.allclose(K, K.T, rtol=1e-10, atol=1e-12):
        raise ValueError("K must be symmetric (a kernel matrix of the training points)")
    return K


def _as_targets(y: np.ndarray, n: int, name: str = "y") -> np.ndarray:
    y = np.asarray(y, dtype=float)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{name} must be a vector of length n = {n}, got shape {y.shape}")
    return y


def _check_ridge(ridge: float) -> None:
    if not ridge > 0:
        raise ValueError(f"ridge must be > 0, got {ridge}")


def _as_alphas(alphas: Sequence[float]) -> np.ndarray:
    a = np.asarray(alphas, dtype=float).reshape(-1)
    if not np.all(np.isfinite(a)):
        raise ValueError("alphas must be finite numbers")
    return a


def _eigh(K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """K = V diag(d) V^T with round-off negative eigenvalues clipped to 0."""
    d, V = np.linalg.eigh(K)
    return np.clip(d, 0.0, None), V


def _as_eval_kernel(K_eval: np.ndarray, n: int) -> np.ndarray:
    K_eval = np.asarray(K_eval, dtype=float)
    if K_eval.ndim != 2 or K_eval.shape[1] != n:
        raise ValueError(
            f"K_eval must be the (m, n) kernel between m evaluation points and the n = {n} "
            f"training points, got shape {K_eval.shape}"
        )
    return K_eval


# --------------------------------------------------------------------------- toy data


class Toy(NamedTuple):
    """A regression toy: inputs x (n, dim), noisy targets y (n,), noiseless y_true (n,)."""

    x: np.ndarray
    y: np.ndarray
    y_true: np.ndarray


def toy_function(x: np.ndarray) -> np.ndarray:
    """The noiseless target of :func:`make_toy`: sin(2 pi x) in 1-D,
    sin(pi x_1) cos(pi x_2) in 2-D; x is (n, dim)."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] not in (1, 2):
        raise ValueError(f"x must have shape (n, 1) or (n, 2), got {x.shape}")
    if x.shape[1] == 1:
        return np.sin(2.0 * np.pi * x[:, 0])
    return np.sin(np.pi * x[:, 0]) * np.cos(np.pi * x[:, 1])


def make_toy(n: int = 40, noise: float = 0.3, seed: int = 0, dim: int = 1) -> Toy:
    """Regression toy: x ~ Uniform[-1, 1]^dim (sorted in 1-D, for plotting), noiseless
    y_true = :func:`toy_function` (sin(2 pi x) in 1-D, sin(pi x_1) cos(pi x_2) in 2-D) and
    y = y_true + noise * N(0, 1), reproducible from ``seed``. An RBF kernel with gamma
    about 5-20 suits this scale.
    """
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    if dim not in (1, 2):
        raise ValueError(f"dim must be 1 or 2, got {dim}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n, dim))
    if dim == 1:
        x = np.sort(x, axis=0)
    y_true = toy_function(x)
    y = y_true + noise * rng.standard_normal(n)
    return Toy(x=x, y=y, y_true=y_true)


def rbf_kernel(x: np.ndarray, y: np.ndarray | None = None, *, gamma: float = 10.0) -> np.ndarray:
    """Gaussian (RBF) kernel k(a, b) = exp(-gamma ||a - b||^2).

    Args:
        x: (n, D) points (a 1-D array is read as n points of dimension 1).
        y: (m, D) points, or None for y = x.
        gamma: > 0; default 10 suits :func:`make_toy` (inputs in [-1, 1]).

    Returns:
        (n, m) kernel matrix (symmetric when y is None).
    """
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    x = np.asarray(x, dtype=float)
    x = x[:, None] if x.ndim == 1 else x
    yy = x if y is None else np.asarray(y, dtype=float)
    yy = yy[:, None] if yy.ndim == 1 else yy
    if x.ndim != 2 or yy.ndim != 2 or x.shape[1] != yy.shape[1]:
        raise ValueError(
            f"x and y must be (n, D) and (m, D) with the same D, got {x.shape} and {yy.shape}"
        )
    sq = (x * x).sum(1)[:, None] + (yy * yy).sum(1)[None, :] - 2.0 * x @ yy.T
    K = np.exp(-gamma * np.clip(sq, 0.0, None))
    if y is None:
        K = 0.5 * (K + K.T)  # exact symmetry despite round-off
    return K


# --------------------------------------------------------------------------- KRR


def krr_fit_predict(K: np.ndarray, y: np.ndarray, *, ridge: float) -> np.ndarray:
    """Kernel ridge regression fitted values at the training points:

        f = K (K + ridge I)^-1 y

    (coefficients c = (K + ridge I)^-1 y, f = K c). Same as scikit-learn's
    ``KernelRidge(alpha=ridge, kernel="precomputed").fit(K, y).predict(K)``.

    Args:
        K: (n, n) symmetric PSD kernel matrix.
        y: (n,) targets.
        ridge: lambda > 0, added to the diagonal (no factor n).

    Returns:
        (n,) fitted values.
    """
    K = _as_kernel(K)
    y = _as_targets(y, K.shape[0])
    _check_ridge(ridge)
    coef = np.linalg.solve(K + ridge * np.eye(K.shape[0]), y)
    return K @ coef


# --------------------------------------------------------------------------- self-distillation


def shrinkage_factors(d: np.ndarray, *, ridge: float, alphas: Sequence[float]) -> np.ndarray:
    """Per-step, per-eigenvalue shrinkage of self-distillation with weighted ground truth.

    With s = d / (d + ridge):  B_1 = s,  B_k = s * (alpha_k + (1 - alpha_k) B_{k-1}),
    so that f_k = V diag(B_k) V^T y (eigencoordinate i of y is multiplied by B_k[i]).

    Args:
        d: (n,) eigenvalues of K (>= 0).
        ridge: lambda > 0.
        alphas: alpha_2, ..., alpha_K: the ground-truth weights of the distillation steps
            (length K - 1; empty = plain ridge).

    Returns:
        (K, n) array; row k-1 holds B_k.
    """
    d = np.asarray(d, dtype=float)
    if d.ndim != 1:
        raise ValueError(f"d must be a vector of eigenvalues, got shape {d.shape}")
    if np.any(d < 0):
        raise ValueError("d must be eigenvalues of a PSD kernel (all >= 0)")
    _check_ridge(ridge)
    a = _as_alphas(alphas)
    s = d / (d + ridge)
    out = np.empty((a.size + 1, d.size))
    out[0] = s
    for k, alpha in enumerate(a, start=1):
        out[k] = s * (alpha + (1.0 - alpha) * out[k - 1])
    return out


def self_distillation_explicit(
    K: np.ndarray,
    y: np.ndarray,
    *,
    ridge: float,
    alphas: Sequence[float],
    K_eval: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Self-distillation by refitting: K ridge fits, each on the previous step's output.

        y_1 = y;   y_k = alpha_k y + (1 - alpha_k) f_{k-1}   (k = 2..K);
        f_k = K (K + ridge I)^-1 y_k   (fitted values at the training points)

    Args:
        K: (n, n) kernel matrix of the training points.
        y: (n,) noisy targets (the ground truth the steps are weighted towards).
        ridge: lambda > 0, the same at every step.
        alphas: alpha_2, ..., alpha_K (length K - 1).
        K_eval: optional (m, n) kernel between m evaluation points and the training
            points: then the step-k FUNCTION is returned at those points,
            K_eval (K + ridge I)^-1 y_k, instead of the fitted values.

    Returns:
        List of K arrays, (n,) each (or (m,) with ``K_eval``); element k-1 is step k.
    """
    K = _as_kernel(K)
    n = K.shape[0]
    y = _as_targets(y, n)
    _check_ridge(ridge)
    a = _as_alphas(alphas)
    Ke = None if K_eval is None else _as_eval_kernel(K_eval, n)
    M = K + ridge * np.eye(n)
    out: list[np.ndarray] = []
    target = y
    f_prev = np.zeros(n)
    for k in range(a.size + 1):
        if k > 0:
            target = a[k - 1] * y + (1.0 - a[k - 1]) * f_prev
        coef = np.linalg.solve(M, target)
        f_prev = K @ coef
        out.append(f_prev if Ke is None else Ke @ coef)
    return out


def self_distillation_closed_form(
    K: np.ndarray,
    y: np.ndarray,
    *,
    ridge: float,
    alphas: Sequence[float],
    K_eval: np.ndarray | None = None,
) -> list[np.ndarray]:
    """The same K steps as :func:`self_distillation_explicit`, from ONE eigendecomposition
    K = V diag(d) V^T and no refit:

        f_k = V diag(B_k) V^T y,     B_k = :func:`shrinkage_factors`.

    With ``K_eval`` the step-k function at new points is K_eval V diag(T_k / (d + ridge))
    V^T y, where T_1 = 1 and T_k = alpha_k + (1 - alpha_k) s T_{k-1} are the step-k
    targets in eigencoordinates (relative to V^T y); note B_k = s T_k.

    Returns:
        List of K arrays, (n,) each (or (m,) with ``K_eval``).
    """
    K = _as_kernel(K)
    n = K.shape[0]
    y = _as_targets(y, n)
    _check_ridge(ridge)
    d, V = _eigh(K)
    y_eig = V.T @ y
    B = shrinkage_factors(d, ridge=ridge, alphas=alphas)  # (K, n)
    if K_eval is None:
        return [V @ (b * y_eig) for b in B]
    Ke = _as_eval_kernel(K_eval, n)
    a = _as_alphas(alphas)
    s = d / (d + ridge)
    T = np.ones(n)
    out = [Ke @ (V @ (T / (d + ridge) * y_eig))]
    for alpha in a:
        T = alpha + (1.0 - alpha) * s * T
        out.append(Ke @ (V @ (T / (d + ridge) * y_eig)))
    return out


def optimal_alpha(
    K: np.ndarray,
    y: np.ndarray,
    y_true: np.ndarray,
    f_prev: np.ndarray,
    *,
    ridge: float,
    bounds: tuple[float, float] | None = None,
) -> float:
    """The ground-truth weight of the next step that brings its fit closest to the known
    noiseless target.

    "Optimal" here: given the previous fit f_{k-1} (fixed), choose alpha_k to minimise
    the squared error of the new fitted values to the NOISELESS target at the training
    points, ||f_k(alpha) - y_true||^2 (greedy, one step at a time; only computable on a
    toy where y_true is known). Derivation: with A = K (K + ridge I)^-1,

        f_k(alpha) = A (f_{k-1} + alpha (y - f_{k-1})) = a + alpha b,
        a = A f_{k-1},  b = A (y - f_{k-1}),

    a quadratic in alpha, minimised at

        alpha* = <b, y_true - a> / <b, b>.

    alpha* is not constrained to [0, 1] (values > 1 extrapolate away from the teacher,
    < 0 away from the data); pass ``bounds=(0, 1)`` to clip (the clipped value is the
    constrained optimum, the objective being a convex parabola). When b = 0 (the previous
    fit already reproduces y through A) every alpha gives the same fit and 1.0 is returned.

    Args:
        K: (n, n) kernel; y: (n,) noisy targets; y_true: (n,) noiseless targets;
        f_prev: (n,) fitted values of the previous step.
        ridge: lambda > 0.
        bounds: optional (low, high) clip.
    """
    K = _as_kernel(K)
    n = K.shape[0]
    y = _as_targets(y, n)
    y_true = _as_targets(y_true, n, "y_true")
    f_prev = _as_targets(f_prev, n, "f_prev")
    _check_ridge(ridge)
    M = K + ridge * np.eye(n)
    a_vec = K @ np.linalg.solve(M, f_prev)
    b_vec = K @ np.linalg.solve(M, y - f_prev)
    bb = float(b_vec @ b_vec)
    if bb <= 1e-300:
        alpha = 1.0
    else:
        alpha = float(b_vec @ (y_true - a_vec)) / bb
    if bounds is not None:
        lo, hi = bounds
        if lo > hi:
            raise ValueError(f"bounds must be (low, high) with low <= high, got {bounds}")
        alpha = float(np.clip(alpha, lo, hi))
    return alpha


def optimal_alpha_path(
    K: np.ndarray,
    y: np.ndarray,
    y_true: np.ndarray,
    *,
    ridge: float,
    steps: int,
    bounds: tuple[float, float] | None = None,
) -> tuple[list[float], list[np.ndarray]]:
    """Run ``steps`` steps choosing each alpha_k greedily with :func:`optimal_alpha`.

    Returns:
        (alphas, fits): alpha_2..alpha_steps (length steps - 1) and the ``steps`` fitted
        vectors f_1..f_steps.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    K = _as_kernel(K)
    f = krr_fit_predict(K, y, ridge=ridge)
    fits = [f]
    alphas: list[float] = []
    for _ in range(steps - 1):
        alpha = optimal_alpha(K, y, y_true, f, ridge=ridge, bounds=bounds)
        f = krr_fit_predict(K, alpha * np.asarray(y, float) + (1.0 - alpha) * f, ridge=ridge)
        alphas.append(alpha)
        fits.append(f)
    return alphas, fits


# --------------------------------------------------------------------------- limits


def stationary_shrinkage(d: np.ndarray, *, ridge: float, alpha: float) -> np.ndarray:
    """Limit of :func:`shrinkage_factors` for infinitely many steps with a constant
    alpha in (0, 1]: the fixed point of B = s (alpha + (1 - alpha) B), s = d / (d + ridge):

        B_inf = alpha s / (1 - (1 - alpha) s) = d / (d + ridge / alpha),

    i.e. plain ridge with the amplified regulariser ridge / alpha (Borup & Andersen 2021).
    The convergence is geometric with rate (1 - alpha) s_i <= 1 - alpha.
    """
    if not 0.0 < alpha <= 1.0:
        raise ValueError(
            f"alpha must be in (0, 1] (alpha = 0 shrinks everything to 0), got {alpha}"
        )
    _check_ridge(ridge)
    d = np.asarray(d, dtype=float)
    return d / (d + ridge / alpha)


class EquivalentRidge(NamedTuple):
    """Result of :func:`equivalent_ridge`.

    shrinkage: (n,) s^steps, the shrinkage of ``steps`` steps without ground truth.
    ridge: the single lambda' minimising sum_i (s_i^steps - d_i / (d_i + lambda'))^2.
    ridge_shrinkage: (n,) d / (d + lambda'), plain ridge with that lambda'.
    per_eigenvalue_ridge: (n,) the exact lambda'_i = d_i ((1 + lambda / d_i)^steps - 1)
        that reproduces eigencoordinate i exactly (inf where d_i = 0).
    max_abs_error: max_i |shrinkage_i - ridge_shrinkage_i|.
    """

    shrinkage: np.ndarray
    ridge: float
    ridge_shrinkage: np.ndarray
    per_eigenvalue_ridge: np.ndarray
    max_abs_error: float


def _golden_min(fn: Callable[[float], float], lo: float, hi: float, iters: int = 100) -> float:
    """Golden-section search of a unimodal scalar function on [lo, hi]."""
    g = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    c, e = b - g * (b - a), a + g * (b - a)
    fc, fe = fn(c), fn(e)
    for _ in range(iters):
        if fc < fe:
            b, e, fe = e, c, fc
            c = b - g * (b - a)
            fc = fn(c)
        else:
            a, c, fc = c, e, fe
            e = a + g * (b - a)
            fe = fn(e)
    return 0.5 * (a + b)


def equivalent_ridge(d: np.ndarray, *, ridge: float, steps: int) -> EquivalentRidge:
    """``steps`` steps of self-distillation WITHOUT ground truth (alpha = 0 after the
    first fit) as plain ridge regression with a larger regulariser.

    The steps shrink eigencoordinate i by s_i^steps, s_i = d_i / (d_i + ridge). Plain
    ridge with lambda' shrinks it by d_i / (d_i + lambda'). Exactly equal for a single
    eigenvalue when lambda'_i = d_i ((1 + ridge / d_i)^steps - 1): about steps * ridge
    when d_i >> ridge, far larger when d_i is small, so no single lambda' is exact
    (self-distillation is a spectrum-dependent, stronger regulariser: Mobahi et al.
    2020). The single best lambda' is found by least squares over the eigenvalues,

        lambda' = argmin_{l > 0} sum_i (s_i^steps - d_i / (d_i + l))^2,

    by a log-spaced grid between min_i and max_i lambda'_i (the minimiser lies there)
    refined by golden-section search in log lambda'.

    Args:
        d: (n,) eigenvalues of K (>= 0).
        ridge: lambda > 0.
        steps: number of fits (>= 1; 1 returns lambda' = ridge).

    Returns:
        :class:`EquivalentRidge`.
    """
    d = np.asarray(d, dtype=float)
    if d.ndim != 1 or d.size == 0:
        raise ValueError(f"d must be a non-empty vector of eigenvalues, got shape {d.shape}")
    if np.any(d < 0):
        raise ValueError("d must be eigenvalues of a PSD kernel (all >= 0)")
    _check_ridge(ridge)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    s = d / (d + ridge)
    target = s**steps
    pos = d > 0
    per_eig = np.full(d.shape, np.inf)
    with np.errstate(over="ignore"):
        per_eig[pos] = d[pos] * np.expm1(steps * np.log1p(ridge / d[pos]))
    if steps == 1 or not np.any(pos):
        lam = float(ridge)
    else:
        finite = per_eig[pos & np.isfinite(per_eig)]
        lo = float(max(finite.min(), ridge)) if finite.size else float(ridge)
        hi = float(min(finite.max(), 1e12 * d.max())) if finite.size else 1e12 * float(d.max())
        hi = max(hi, lo * (1.0 + 1e-9))

        def sse(log_l: float) -> float:
            lam_ = np.exp(log_l)
            return float(np.sum((target - d / (d + lam_)) ** 2))

        grid = np.linspace(np.log(lo), np.log(hi), 401)
        values = np.array([sse(g) for g in grid])
        j = int(np.argmin(values))
        a = grid[max(j - 1, 0)]
        b = grid[min(j + 1, grid.size - 1)]
        lam = float(np.exp(_golden_min(sse, float(a), float(b)))) if b > a else float(np.exp(a))
    fitted = d / (d + lam)
    return EquivalentRidge(
        shrinkage=target,
        ridge=lam,
        ridge_shrinkage=fitted,
        per_eigenvalue_ridge=per_eig,
        max_abs_error=float(np.max(np.abs(target - fitted))),
    )


# --------------------------------------------------------------------------- the page's toy


class ToyExperiment(NamedTuple):
    """Everything the Distillation page draws for one setting of :func:`toy_experiment`.

    x, y, y_true: (n,) training inputs (1-D, sorted), noisy and noiseless targets.
    grid, grid_true: (m,) evaluation inputs on [-1, 1] and the noiseless function there.
    fits: (K, m) step k's function on the grid (row k-1), steps with ground-truth weight alpha.
    d: (n,) kernel eigenvalues, DESCENDING; shrinkage: (K, n) B_k in that order.
    mse: (K,) mean squared error of each step's function to the noiseless one on the grid.
    unweighted_fit: (m,) K steps WITHOUT ground truth (alpha = 0); unweighted_shrinkage: (n,) s^K.
    equivalent: :class:`EquivalentRidge` of those K unweighted steps; equivalent_fit: (m,)
        plain ridge with its lambda'; ridge_fit: (m,) plain ridge with the step's own lambda.
    limit_ridge: lambda / alpha (inf for alpha = 0); limit_fit: (m,) plain ridge with it
        (the infinite-step limit of the weighted steps; zeros for alpha = 0);
        limit_shrinkage: (n,) d / (d + lambda / alpha).
    mse_unweighted, mse_equivalent, mse_ridge, mse_limit: errors of those fits as ``mse``.
    """

    x: np.ndarray
    y: np.ndarray
    y_true: np.ndarray
    grid: np.ndarray
    grid_true: np.ndarray
    fits: np.ndarray
    d: np.ndarray
    shrinkage: np.ndarray
    mse: np.ndarray
    unweighted_fit: np.ndarray
    unweighted_shrinkage: np.ndarray
    equivalent: EquivalentRidge
    equivalent_fit: np.ndarray
    ridge_fit: np.ndarray
    limit_ridge: float
    limit_fit: np.ndarray
    limit_shrinkage: np.ndarray
    mse_unweighted: float
    mse_equivalent: float
    mse_ridge: float
    mse_limit: float


def toy_experiment(
    *,
    n: int = 40,
    noise: float = 0.3,
    seed: int = 0,
    gamma: float = 10.0,
    ridge: float = 0.01,
    steps: int = 5,
    alpha: float = 0.0,
    grid_size: int = 200,
) -> ToyExperiment:
    """The 1-D kernel toy in one call: ``steps`` self-distillation steps with a constant
    ground-truth weight ``alpha`` (closed form, :func:`self_distillation_closed_form`) on
    :func:`make_toy` data with an RBF kernel, next to (a) the same number of steps without
    ground truth and the single plain ridge that best matches them
    (:func:`equivalent_ridge`), and (b) the infinite-step limit of the weighted steps,
    plain ridge with lambda / alpha (:func:`stationary_shrinkage`). Exact; no training.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    toy = make_toy(n=n, noise=noise, seed=seed, dim=1)
    K = rbf_kernel(toy.x, gamma=gamma)
    grid = np.linspace(-1.0, 1.0, grid_size)[:, None]
    Ke = rbf_kernel(grid, toy.x, gamma=gamma)  # (m, n)
    grid_true = toy_function(grid)
    fits = np.array(self_distillation_closed_form(K, toy.y, ridge=ridge, alphas=[alpha] * (steps - 1), K_eval=Ke))
    unweighted = self_distillation_closed_form(K, toy.y, ridge=ridge, alphas=[0.0] * (steps - 1), K_eval=Ke)[-1]
    d, _ = _eigh(K)
    order = np.argsort(d)[::-1]
    d_desc = d[order]
    shrink = shrinkage_factors(d_desc, ridge=ridge, alphas=[alpha] * (steps - 1))
    eq = equivalent_ridge(d_desc, ridge=ridge, steps=steps)

    def ridge_fit(lam: float) -> np.ndarray:
        return Ke @ np.linalg.solve(K + lam * np.eye(len(toy.y)), toy.y)

    def mse(f: np.ndarray) -> float:
        return float(np.mean((f - grid_true) ** 2))

    if alpha > 0:
        limit_ridge = ridge / alpha
        limit_fit = ridge_fit(limit_ridge)
        limit_shrink = stationary_shrinkage(d_desc, ridge=ridge, alpha=alpha)
    else:
        limit_ridge, limit_fit, limit_shrink = float("inf"), np.zeros(grid_size), np.zeros_like(d_desc)
    eq_fit, r_fit = ridge_fit(eq.ridge), ridge_fit(ridge)
    return ToyExperiment(
        x=toy.x[:, 0], y=toy.y, y_true=toy.y_true, grid=grid[:, 0], grid_true=grid_true, fits=fits,
        d=d_desc, shrinkage=shrink, mse=np.array([mse(f) for f in fits]),
        unweighted_fit=unweighted, unweighted_shrinkage=eq.shrinkage, equivalent=eq, equivalent_fit=eq_fit,
        ridge_fit=r_fit, limit_ridge=limit_ridge, limit_fit=limit_fit, limit_shrinkage=limit_shrink,
        mse_unweighted=mse(unweighted), mse_equivalent=mse(eq_fit), mse_ridge=mse(r_fit), mse_limit=mse(limit_fit),
    )
