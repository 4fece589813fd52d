"""Numbers the Learn section's lessons read off a run: NT-Xent's negative-positive coupling in
a batch, learned temperatures against class frequency, and the entropy of a distillation
teacher's outputs as a number of outputs in use.

Pure numpy (no torch, no scikit-learn): the app's server calls these directly.

References
----------
- C.-H. Yeh, C.-Y. Hong, Y.-C. Hsu, T.-L. Liu, Y. Chen, Y. LeCun, "Decoupled Contrastive
  Learning", ECCV 2022 (arXiv:2110.06848), eq. 3: the negative-positive coupling multiplier.
- Z.-H. Qiu et al., "Not All Semantics are Created Equal: Contrastive Self-supervised Learning
  with Automatic Temperature Individualization", ICML 2023 (iSogCLR).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.arrays import ArrayLike

__all__ = ["positive_share", "TauClasses", "tau_classes", "outputs_in_use"]


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    return (m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))).squeeze(axis)


def positive_share(views: ArrayLike, *, temperature: float, batch_size: int = 0, seed: int = 0) -> np.ndarray:
    """The positive's share of NT-Xent's denominator, per anchor, in batches of ``batch_size``.

    For anchor a of a batch of B points (2B rows: the two views of each point), with positive
    p and cosine similarities s:

        share_a = exp(s_ap / tau) / sum_{k != a} exp(s_ak / tau)

    (the denominator has 2B - 1 terms: the positive and the 2B - 2 negatives). Yeh et al.
    (eq. 3) show that NT-Xent's gradient for anchor a is DCL's gradient multiplied by
    ``q_a = 1 - share_a``, the negative-positive coupling multiplier: when the positive takes
    a large share (few negatives, or views already close), the anchor learns little. DCL
    removes the positive from the denominator, so its multiplier is 1.

    Parameters
    ----------
    views : array of shape (2, n_points, dim)
        The two views of every point (normalised here).
    temperature : float > 0
    batch_size : int
        Points per batch; 0 (or at least ``n_points``): one batch of every point. The points
        are split into batches by a random permutation (``seed``); a last batch with fewer than
        ``batch_size`` points is left out.

    Returns
    -------
    share : array of shape (2 * points in full batches,)
        Row order: view 1 of each point of the first batch, view 2 of the same points, then
        the next batch.
    """
    v = np.asarray(views, dtype=np.float64)
    if v.ndim != 3 or v.shape[0] != 2:
        raise ValueError(f"views must have shape (2, n_points, dim); got {v.shape}.")
    n = v.shape[1]
    if n < 2:
        raise ValueError(f"positive_share needs at least 2 points; got {n}.")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature}.")
    b = n if batch_size <= 0 or batch_size >= n else int(batch_size)
    if b < 2:
        raise ValueError(f"batch_size must be 0 or at least 2; got {batch_size}.")
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
    order = np.random.default_rng(seed).permutation(n) if b < n else np.arange(n)
    out = []
    for start in range(0, n - b + 1, b):
        idx = order[start:start + b]
        rows = np.concatenate([v[0, idx], v[1, idx]])  # (2B, dim)
        logits = rows @ rows.T / temperature  # (2B, 2B)
        np.fill_diagonal(logits, -np.inf)
        pos = np.r_[np.arange(b, 2 * b), np.arange(b)]  # row i's positive: i + B (or i - B)
        out.append(np.exp(logits[np.arange(2 * b), pos] - _logsumexp(logits, axis=1)))
    return np.concatenate(out)


@dataclass(frozen=True)
class TauClasses:
    """Learned temperatures by class, classes most frequent first."""

    classes: np.ndarray  # (C,) labels, most frequent first
    counts: np.ndarray  # (C,) training samples per class
    means: np.ndarray  # (C,) mean tau_i of each class
    stds: np.ndarray  # (C,) standard deviation (population) of tau_i in each class
    correlation: float  # Spearman correlation between a sample's class size and its tau_i (nan if either is constant)
    low: float  # the smallest tau_i
    high: float  # the largest tau_i


def tau_classes(tau: ArrayLike, y: ArrayLike) -> TauClasses:
    """Mean and spread of the finite ``tau`` per class (NaN rows, the held-out split, left out),
    classes ordered by their number of such rows, and the Spearman correlation between class
    size and tau_i (:func:`analysis.temperature.tau_frequency_correlation`)."""
    from analysis.temperature import tau_by_class, tau_frequency_correlation

    g = tau_by_class(tau, y)
    return TauClasses(classes=g.classes, counts=g.counts, means=np.array([v.mean() for v in g.values]),
                      stds=np.array([v.std() for v in g.values]),
                      correlation=tau_frequency_correlation(tau, y), low=float(min(v.min() for v in g.values)),
                      high=float(max(v.max() for v in g.values)))


def outputs_in_use(entropy: float) -> float:
    """The number of equally likely outputs with this entropy (nats): ``exp(H)``. A
    distribution over K outputs gives 1 (all mass on one) to K (uniform)."""
    if not math.isfinite(entropy) or entropy < 0:
        raise ValueError(f"entropy must be a finite number >= 0; got {entropy}.")
    return math.exp(entropy)
