"""Is the embedding ordered like a continuous target? (contrastive regression)

Two complementary views: a global one (do embedding distances rank pairs like label
distances do?) and a local one (are a point's neighbours close in label?). Both are
used in METHODS.md, "Ordinality", to compare SupReMix / Rank-N-Contrast with SupCon on
binned labels and with L1 regression.

References
----------
- K. Zha, P. Cao, J. Son, Y. Yang, D. Katabi, "Rank-N-Contrast: Learning Continuous
  Representations for Regression", NeurIPS 2023 (ordinality of feature distances).
- Y. Wu, Z. Li, S. Zhang, "SupReMix: Supervised Contrastive Regression with Mixup",
  2023 (arXiv:2309.16633).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

from analysis._checks import _as_targets, _as_tensor, _normalize_rows, _subset_indices
from analysis._knn import _nearest_neighbours
from analysis.arrays import ArrayLike

__all__ = [
    "distance_rank_correlation",
    "neighbour_target_gap",
    "local_target_gap",
    "TargetAlongPC",
    "target_along_first_pc",
]


def distance_rank_correlation(
    z: ArrayLike,
    y: ArrayLike,
    *,
    max_points: int | None = 2000,
    seed: int = 0,
    normalize: bool = True,
) -> float:
    """Spearman correlation between embedding distances and label distances over pairs.

    Over the ``N (N-1) / 2`` distinct pairs ``i < j``, correlates (Spearman's rho, ties
    given average ranks) ``d_z(i, j) = ||z_i - z_j||_2`` with ``d_y(i, j) = |y_i - y_j|``.
    By default the rows are L2-normalised first, so ``d_z`` is the chord distance on
    the unit sphere. Returns 1 when embedding distances are an increasing function of
    label distances (points on a great-circle arc at an angle proportional to the
    label, or any line when ``normalize=False``), about 0 for an embedding unrelated
    to the label. Returns ``nan`` when either set of distances is constant.

    The cost is quadratic: if ``N > max_points``, a fixed random subset of
    ``max_points`` rows (``numpy.random.default_rng(seed)``) is used and the value is
    an estimate (2,000 points = 2 million pairs, under a second on 2 cores).

    Parameters
    ----------
    z : array of shape (n_samples, n_features)
    y : array of shape (n_samples,)
        Continuous (or ordinal) target.
    max_points : int or None, default 2000
        Subsample size; ``None`` uses every row.
    seed : int, default 0
    normalize : bool, default True
        L2-normalise the rows before measuring distances. Set False for methods that
        work on unnormalised features (Rank-N-Contrast).

    Returns
    -------
    float in [-1, 1], or nan
    """
    zt = _as_tensor(z, name="z")
    yn = _as_targets(y, name="y", n=zt.shape[0]).astype(np.float64)
    if not np.all(np.isfinite(yn)):
        raise ValueError("y contains NaN or infinite values.")
    n = zt.shape[0]
    if n < 3:
        raise ValueError(f"a rank correlation over pairs needs at least 3 samples; got {n}.")
    if max_points is not None:
        if max_points < 3:
            raise ValueError(f"max_points must be at least 3; got {max_points}.")
        if n > max_points:
            idx = _subset_indices(n, max_points, seed)
            zt, yn = zt[torch.from_numpy(idx).to(zt.device)], yn[idx]
    zt = zt.to(torch.float64)
    if normalize:
        zt = _normalize_rows(zt)
    d_z = pdist(zt.cpu().numpy(), metric="euclidean")
    d_y = pdist(yn[:, None], metric="cityblock")
    if np.ptp(d_z) == 0.0 or np.ptp(d_y) == 0.0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = spearmanr(d_z, d_y).statistic
    return float(rho)


def neighbour_target_gap(z: ArrayLike, y: ArrayLike, *, k: int = 10) -> float:
    """Target gap between neighbours, relative to random pairs (local ordinality).

    ``gap = mean_i mean_{j in kNN(i)} |y_i - y_j|  /  mean_{i<j} |y_i - y_j|``, where
    ``kNN(i)`` are the k nearest other points of ``i`` by cosine similarity (exact
    search, the point itself excluded) and the denominator is the exact mean over all
    distinct pairs, i.e. the expected gap of a random pair (computed in
    ``O(N log N)`` from the sorted targets). 0 means every neighbourhood shares its
    target (perfectly ordinal, or fully collapsed by label); about 1 means
    neighbourhoods ignore the target; a fragmented embedding (ordered in pieces) lands
    in between. Returns ``nan`` if the target is constant.

    Parameters
    ----------
    z : array of shape (n_samples, n_features)
    y : array of shape (n_samples,)
    k : int, default 10
        Neighbours per point; ``1 <= k < n_samples``.

    Returns
    -------
    float >= 0, or nan
    """
    gaps = local_target_gap(z, y, k=k)  # the denominator is the same for every sample
    return float(np.mean(gaps)) if np.all(np.isfinite(gaps)) else math.nan


def local_target_gap(z: ArrayLike, y: ArrayLike, *, k: int = 10) -> np.ndarray:
    """Per-sample target gap to the neighbours, relative to random pairs (where order breaks).

    ``gap_i = mean_{j in kNN(i)} |y_i - y_j|  /  mean_{a<b} |y_a - y_b|`` with the same
    neighbours (cosine, exact, self excluded) and denominator as
    :func:`neighbour_target_gap`, whose value is the mean of these. Small values: the
    point sits among samples of similar target. Large values mark the seams of a
    fragmented embedding (pieces of the target range glued side by side) and
    collapsed regions that mix targets. All ``nan`` if the target is constant.

    Parameters
    ----------
    z : array of shape (n_samples, n_features)
    y : array of shape (n_samples,)
    k : int, default 10
        Neighbours per point; ``1 <= k < n_samples``.

    Returns
    -------
    float array of shape (n_samples,), >= 0
    """
    zt = _as_tensor(z, name="z")
    n = zt.shape[0]
    yn = _as_targets(y, name="y", n=n).astype(np.float64)
    if not np.all(np.isfinite(yn)):
        raise ValueError("y contains NaN or infinite values.")
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and n_samples - 1 = {n - 1}; got {k}.")
    idx, _ = _nearest_neighbours(zt, zt, k + 1, metric="cosine", self_first=True)
    neighbours = idx[:, 1:].cpu().numpy()
    local = np.mean(np.abs(yn[:, None] - yn[neighbours]), axis=1)
    ys = np.sort(yn)
    ranks = np.arange(1, n + 1, dtype=np.float64)
    pair_mean = float(np.sum(ys * (2.0 * ranks - n - 1.0))) / (n * (n - 1) / 2.0)
    if pair_mean <= 0.0:
        return np.full(n, math.nan)
    return local / pair_mean


@dataclass(frozen=True)
class TargetAlongPC:
    """The samples ordered along the first principal component (see :func:`target_along_first_pc`)."""

    position: np.ndarray  # (n,) coordinate on the first principal direction, oriented with the target
    order: np.ndarray  # (n,) row positions sorted by position (ascending)
    spearman: float  # Spearman correlation of position and target, >= 0 (nan if either is constant)
    explained: float  # fraction of the total variance on the first component, in [0, 1]


def target_along_first_pc(z: ArrayLike, y: ArrayLike, *, normalize: bool = False) -> TargetAlongPC:
    """Order the samples along the first principal component of ``z`` and compare with ``y``.

    ``position_i = (z_i - mean(z)) . v_1``, with ``v_1`` the top right-singular vector of
    the centred matrix (float64), oriented so that position increases with the target
    (the sign of ``v_1`` is arbitrary). Plotting ``y[order]`` against the rank shows
    whether the target varies monotonically along the main direction of the embedding
    (one smooth rise), in pieces (a saw-tooth: fragmentation), or not at all. A
    label-ordered embedding that is curved (an arc on the sphere of more than a half
    turn) also shows as a fold; the rank correlation over pairs
    (:func:`distance_rank_correlation`) does not depend on the shape.

    Parameters
    ----------
    z : array of shape (n_samples, n_features)
    y : array of shape (n_samples,)
    normalize : bool, default False
        L2-normalise the rows first (the space of the contrastive losses).

    Returns
    -------
    TargetAlongPC
    """
    zt = _as_tensor(z, name="z")
    n = zt.shape[0]
    yn = _as_targets(y, name="y", n=n).astype(np.float64)
    if not np.all(np.isfinite(yn)):
        raise ValueError("y contains NaN or infinite values.")
    if n < 2:
        raise ValueError(f"need at least 2 samples; got {n}.")
    zt = zt.to(torch.float64)
    if normalize:
        zt = _normalize_rows(zt)
    zc = zt.cpu().numpy()
    zc = zc - zc.mean(axis=0, keepdims=True)
    _, s, vt = np.linalg.svd(zc, full_matrices=False)
    total = float(np.sum(s**2))
    pos = zc @ vt[0]
    explained = float(s[0] ** 2 / total) if total > 0 else math.nan
    rho = math.nan
    if np.ptp(pos) > 0 and np.ptp(yn) > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rho = float(spearmanr(pos, yn).statistic)
        if rho < 0:
            pos, rho = -pos, -rho
    return TargetAlongPC(position=pos, order=np.argsort(pos, kind="stable"), spearman=rho, explained=explained)
