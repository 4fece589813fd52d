"""Closed-form bounds of the geometry metrics (plain arithmetic: no numpy, no torch).

Kept apart from ``analysis.geometry`` (which computes with torch) so that the app's pages
can draw the bounds without loading torch; ``analysis.geometry`` re-exports them.
"""

from __future__ import annotations

__all__ = ["uniformity_optimum"]


def uniformity_optimum(n: int, *, t: float = 2.0) -> float:
    """Lower bound of :func:`analysis.geometry.uniformity` for ``n`` points on a unit sphere.

    ``uniformity >= -2 t n / (n - 1)``. Proof: ``sum_{i,j} ||z_i - z_j||^2 =
    2 n^2 - 2 ||sum_i z_i||^2 <= 2 n^2``, so the mean squared distance over the
    ``n (n-1)`` ordered distinct pairs is at most ``2n / (n-1)``; by Jensen,
    ``log mean exp(-t d^2) >= -t mean d^2 >= -2 t n / (n-1)``. Equality holds for the
    vertices of a regular simplex centred at the origin (possible when
    ``n <= n_features + 1``). As ``n`` grows the bound tends to ``-2t`` (-4 for t = 2).
    Uniform points on a sphere of dimension ``D`` sit above it by about ``2 t^2 / D``.

    Parameters
    ----------
    n : int
        Number of points, at least 2.
    t : float, default 2.0
        Temperature used in :func:`analysis.geometry.uniformity`.

    Returns
    -------
    float
    """
    if n < 2:
        raise ValueError(f"n must be at least 2; got {n}.")
    if t <= 0:
        raise ValueError(f"t must be positive; got {t}.")
    return -2.0 * t * n / (n - 1)
