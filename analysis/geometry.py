"""Alignment and uniformity of embeddings on the unit sphere (Wang & Isola, 2020).

Every function takes numpy arrays or torch tensors (any device), normalises the rows
itself, and returns Python floats.

Reference: T. Wang and P. Isola, "Understanding Contrastive Representation Learning
through Alignment and Uniformity on the Hypersphere", ICML 2020, eqs. (4)-(5).
"""

from __future__ import annotations

import math

import torch

from analysis._checks import _as_tensor, _normalize_rows, _subset_indices
from analysis.arrays import ArrayLike
from analysis.bounds import uniformity_optimum

#: A Gram tile whose shifted sum falls below this is recomputed with its own maximum.
_UNDERFLOW_GUARD = 1e-20

__all__ = [
    "alignment",
    "uniformity",
    "uniformity_optimum",
    "alignment_uniformity",
]


def alignment(x: ArrayLike, y: ArrayLike, *, alpha: float = 2.0) -> float:
    """Mean distance between positive pairs on the unit sphere.

    ``alignment = (1/N) sum_i ||x_i - y_i||_2 ** alpha`` with the rows of ``x`` and
    ``y`` L2-normalised first (Wang & Isola 2020, eq. 4; ``alpha = 2`` by default).
    Row ``i`` of ``x`` and row ``i`` of ``y`` are the two views of sample ``i``.
    With ``alpha = 2`` the value lies in ``[0, 4]``: 0 for identical views, 4 for
    antipodal ones. Computed in float64.

    Parameters
    ----------
    x, y : array of shape (n_samples, n_features)
        The two views, numpy arrays or torch tensors.
    alpha : float, default 2.0
        Exponent applied to each pair distance; must be positive.

    Returns
    -------
    float
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be positive; got {alpha}.")
    xt = _as_tensor(x, name="x")
    yt = _as_tensor(y, name="y")
    if xt.shape != yt.shape:
        raise ValueError(
            "x and y must have the same shape (row i of each is one positive pair); "
            f"got {tuple(xt.shape)} and {tuple(yt.shape)}."
        )
    xt = _normalize_rows(xt.to(torch.float64))
    yt = _normalize_rows(yt.to(device=xt.device, dtype=torch.float64))
    dist = torch.linalg.vector_norm(xt - yt, dim=1)
    return float(dist.pow(alpha).mean())


def uniformity(
    x: ArrayLike,
    *,
    t: float = 2.0,
    max_points: int | None = None,
    seed: int = 0,
    chunk_size: int = 4096,
) -> float:
    """Log of the mean Gaussian potential over the distinct pairs of ONE set.

    ``uniformity = log( (2 / (N (N-1))) sum_{i<j} exp(-t ||z_i - z_j||^2) )``
    with rows L2-normalised first (Wang & Isola 2020, eq. 5; ``t = 2``). Lower is more
    uniform; the value is bounded below by :func:`uniformity_optimum` (about ``-2t``).
    For two views, call it on each view and average (:func:`alignment_uniformity`);
    never stack the views, or the positive pairs enter the mean.

    How it is computed: on the unit sphere ``||a - b||^2 = 2 - 2 a.b``, so the
    exponent of each pair is ``2t (a.b - 1) <= 0``. The Gram matrix is processed in
    ``chunk_size x chunk_size`` tiles of the upper triangle (each off-diagonal tile
    counted twice, the diagonal masked). Each tile is summed as ``exp`` of exponents
    shifted by their bound 0 (no overflow possible); a tile whose sum falls below
    1e-20 (large ``t``: terms may underflow) is redone with its own maximum as the
    shift, i.e. a true log-sum-exp. The tiles' logs are combined in float64. The N x N matrix is
    never materialised: extra memory is one tile (``4 * chunk_size**2`` bytes in
    float32) plus a normalised copy of the input. The Gram tiles use the input's
    dtype when it is float64 and float32 otherwise (relative error about 1e-7).

    Parameters
    ----------
    x : array of shape (n_samples, n_features)
        One set of embeddings (one view), numpy array or torch tensor. A tensor is
        processed on its own device.
    t : float, default 2.0
        Temperature of the Gaussian potential; must be positive.
    max_points : int or None, default None
        If given and ``n_samples > max_points``, the value is estimated on a fixed
        random subset of ``max_points`` rows drawn without replacement with
        ``numpy.random.default_rng(seed)``; callers should say that it is an estimate.
    seed : int, default 0
        Seed of the subset (only used with ``max_points``).
    chunk_size : int, default 4096
        Side of the Gram tiles.

    Returns
    -------
    float
    """
    if t <= 0:
        raise ValueError(f"t must be positive; got {t}.")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer; got {chunk_size}.")
    z = _as_tensor(x, name="x")
    n = z.shape[0]
    if n < 2:
        raise ValueError(f"uniformity needs at least 2 samples to form a pair; got {n}.")
    if max_points is not None:
        if max_points < 2:
            raise ValueError(f"max_points must be at least 2; got {max_points}.")
        if n > max_points:
            idx = _subset_indices(n, max_points, seed)
            z = z[torch.from_numpy(idx).to(z.device)]
            n = max_points
    z = _normalize_rows(z)
    scale = 2.0 * t  # exponent of a pair = 2t (a.b - 1) <= 0 on the unit sphere
    z_scaled = z * scale
    c = min(chunk_size, n)
    buffer = torch.empty(c * c, dtype=z.dtype, device=z.device)
    tile_logs: list[float] = []  # log of each tile's sum, its multiplicity folded in
    for a in range(0, n, c):
        for b in range(a, n, c):
            rows, cols = min(c, n - a), min(c, n - b)
            if a == b and rows == 1:  # a 1 x 1 diagonal tile holds no pair
                continue
            tile = buffer[: rows * cols].view(rows, cols)
            # fast path: shift by the bound 2t, so exp never overflows
            torch.mm(z_scaled[a : a + rows], z[b : b + cols].T, out=tile)
            if a == b:
                tile.fill_diagonal_(-math.inf)
            tile_sum = float(tile.sub_(scale).exp_().sum())
            shift = 0.0
            if tile_sum < _UNDERFLOW_GUARD:
                # large t: terms may underflow; redo the tile shifted by its own maximum
                torch.mm(z_scaled[a : a + rows], z[b : b + cols].T, out=tile)
                if a == b:
                    tile.fill_diagonal_(-math.inf)
                tile.sub_(scale)
                shift = float(tile.max())
                tile_sum = float(tile.sub_(shift).exp_().sum())
            multiplicity = 1.0 if a == b else 2.0
            tile_logs.append(shift + math.log(tile_sum) + math.log(multiplicity))
    # the tiles hold every ordered pair i != j once: N (N-1) terms
    log_total = _logsumexp(tile_logs)
    return log_total - math.log(n) - math.log(n - 1)


def alignment_uniformity(
    z1: ArrayLike,
    z2: ArrayLike,
    *,
    t: float = 2.0,
    alpha: float = 2.0,
    max_points: int | None = None,
    seed: int = 0,
) -> tuple[float, float]:
    """Alignment of the two views and uniformity averaged over the two views.

    Returns ``(alignment(z1, z2, alpha=alpha), (uniformity(z1) + uniformity(z2)) / 2)``:
    uniformity is computed within each view separately, so positive pairs never enter
    it (Wang & Isola 2020). ``max_points`` and ``seed`` are passed to
    :func:`uniformity`; the same rows are drawn from both views.

    Parameters
    ----------
    z1, z2 : array of shape (n_samples, n_features)
        The two views; row ``i`` of each is the positive pair ``i``.
    t, alpha, max_points, seed
        See :func:`uniformity` and :func:`alignment`.

    Returns
    -------
    tuple of float
        ``(alignment, uniformity)``.
    """
    align = alignment(z1, z2, alpha=alpha)
    u1 = uniformity(z1, t=t, max_points=max_points, seed=seed)
    u2 = uniformity(z2, t=t, max_points=max_points, seed=seed)
    return align, 0.5 * (u1 + u2)


def _logsumexp(values: list[float]) -> float:
    """``log(sum(exp(values)))`` in float64; ``-inf`` for an empty list."""
    if not values:
        return -math.inf
    top = max(values)
    if top == -math.inf:
        return -math.inf
    return top + math.log(math.fsum(math.exp(v - top) for v in values))
