"""Stratified random samples of many points, for plots (numpy only).

Kept apart from ``analysis.projections`` (which computes with torch) so that the app's
pages can sample the points they draw without loading torch; ``analysis.projections``
re-exports :func:`stratified_sample`.
"""

from __future__ import annotations

import numpy as np

from analysis._checks import _as_targets
from analysis.arrays import ArrayLike

__all__ = ["stratified_sample"]


def stratified_sample(
    labels: ArrayLike,
    n: int,
    *,
    seed: int = 0,
    n_bins: int = 10,
    continuous: bool | None = None,
) -> np.ndarray:
    """Indices of a stratified random sample of ``n`` points, for plots of many points.

    Strata are the distinct labels, or, for continuous targets, ``n_bins`` quantile
    bins. Each stratum gets a share proportional to its size (largest-remainder
    rounding); when ``n`` is at least the number of strata every stratum gets at least
    one point, so rare classes stay visible. Within a stratum points are drawn
    without replacement with ``numpy.random.default_rng(seed)``. If ``n >= len(labels)``
    all indices are returned. Plots that show a sample should say so.

    Parameters
    ----------
    labels : array of shape (n_samples,)
        Class labels (any dtype) or a continuous target.
    n : int
        Sample size, at least 1.
    seed : int, default 0
    n_bins : int, default 10
        Number of quantile bins for continuous targets.
    continuous : bool or None, default None
        Whether ``labels`` is a continuous target. ``None`` decides from the data:
        continuous if it is floating point with non-integer values or more than 50
        distinct values.

    Returns
    -------
    ndarray of shape (min(n, n_samples),), int64, sorted ascending
    """
    if n < 1:
        raise ValueError(f"n must be at least 1; got {n}.")
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1; got {n_bins}.")
    arr = _as_targets(labels, name="labels", n=len(labels))
    total = arr.shape[0]
    if total == 0:
        raise ValueError("labels is empty.")
    if n >= total:
        return np.arange(total, dtype=np.int64)
    if continuous is None:
        continuous = _looks_continuous(arr)
    if continuous:
        values = arr.astype(np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError("a continuous target must be finite to be binned.")
        edges = np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1))
        strata = np.searchsorted(edges[1:-1], values, side="right")
    else:
        _, strata = np.unique(arr, return_inverse=True)
        strata = strata.reshape(-1)
    groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    sizes = np.array([g.shape[0] for g in groups])
    quota = _allocate(sizes, n)
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(g, size=q, replace=False) for g, q in zip(groups, quota, strict=True) if q > 0
    ]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def _looks_continuous(arr: np.ndarray) -> bool:
    """Floating point with non-integer values, or more than 50 distinct values."""
    if arr.dtype.kind != "f":
        return False
    finite = arr[np.isfinite(arr)]
    return bool(np.any(finite != np.round(finite))) or np.unique(finite).shape[0] > 50


def _allocate(sizes: np.ndarray, n: int) -> np.ndarray:
    """Split ``n`` (< sizes.sum()) over strata: proportional with largest-remainder
    rounding; then, when ``n >= len(sizes)``, every empty stratum takes one point from
    the stratum with the largest quota, so rare strata are not dropped."""
    sizes = sizes.astype(np.int64)
    exact = n * sizes / sizes.sum()
    quota = np.floor(exact).astype(np.int64)
    leftover = n - int(quota.sum())
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[:leftover]] += 1  # a positive remainder means quota < exact <= size
    if n >= sizes.shape[0]:
        for s in np.flatnonzero(quota == 0):
            quota[np.argmax(quota)] -= 1
            quota[s] = 1
    return quota
