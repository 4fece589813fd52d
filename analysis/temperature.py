"""Learned per-sample temperatures (iSogCLR) against class frequency.

iSogCLR (METHODS.md, "iSogCLR") learns one temperature tau_i per training sample. The
claim to check: on class-imbalanced data, samples of frequent classes end with LARGER
tau_i than samples of rare classes. These functions group a snapshot's tau_i by class,
order classes by their training frequency, summarise tau_i per frequency group over
epochs, and pick out the samples with extreme temperatures.

Conventions: ``tau`` holds one value per snapshot row; rows without a learned
temperature (the held-out split) are NaN and are left out (they are not training
samples, so they do not count towards class frequencies either). Classes are ordered
most frequent first; ties go to the smaller label.

References
----------
- Z.-H. Qiu, Q. Hu, Z. Yuan, D. Zhou, L. Zhang, T. Yang, "Not All Semantics are
  Created Equal: Contrastive Self-supervised Learning with Automatic Temperature
  Individualization", ICML 2023 (iSogCLR).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from analysis._checks import _as_targets
from analysis.arrays import ArrayLike

__all__ = [
    "TauByClass",
    "class_frequencies",
    "tau_by_class",
    "tau_summary",
    "frequency_groups",
    "group_names",
    "tau_trajectory",
    "extreme_samples",
    "tau_frequency_correlation",
    "knn_accuracy_by_class",
    "accuracy_by_class_from_hits",
]


@dataclass(frozen=True)
class TauByClass:
    """Temperatures grouped by class, classes ordered by training frequency (descending)."""

    classes: np.ndarray  # (C,) class labels, most frequent first
    counts: np.ndarray  # (C,) number of training samples (rows with a finite tau) per class
    values: list[np.ndarray]  # C arrays: the tau_i of each class's training samples


def _tau_and_labels(tau: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(tau, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"tau must be a 1-D array of shape (n_samples,); got shape {t.shape}.")
    lab = _as_targets(y, name="y", n=t.shape[0])
    keep = np.isfinite(t)
    if not keep.any():
        raise ValueError("tau has no finite value: no row has a learned temperature.")
    return t[keep], lab[keep]


def class_frequencies(y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Distinct labels of ``y`` and their counts, most frequent first (ties: smaller label first).

    Parameters
    ----------
    y : array of shape (n_samples,)
        Labels of the training split.

    Returns
    -------
    classes : array of shape (n_classes,)
    counts : int array of shape (n_classes,)
    """
    lab = np.asarray(y)
    if lab.ndim != 1 or lab.shape[0] == 0:
        raise ValueError(f"y must be a non-empty 1-D array of labels; got shape {lab.shape}.")
    classes, counts = np.unique(lab, return_counts=True)  # classes ascending
    order = np.argsort(-counts, kind="stable")  # stable: equal counts keep the smaller label first
    return classes[order], counts[order].astype(np.int64)


def tau_by_class(tau: ArrayLike, y: ArrayLike) -> TauByClass:
    """Group the finite ``tau`` values by label, classes ordered by frequency (descending).

    The frequency of a class is its number of rows with a finite tau, i.e. its number
    of training samples in a snapshot (held-out rows are NaN).

    Parameters
    ----------
    tau : array of shape (n_samples,)
        Learned temperature per row; NaN where there is none.
    y : array of shape (n_samples,)
        Class labels.
    """
    t, lab = _tau_and_labels(tau, y)
    classes, counts = class_frequencies(lab)
    return TauByClass(classes=classes, counts=counts, values=[t[lab == c] for c in classes])


def tau_summary(tau: ArrayLike) -> dict[str, float]:
    """``n``, ``mean``, ``std`` (population), ``min`` and ``max`` of the finite values of ``tau``."""
    t = np.asarray(tau, dtype=np.float64)
    t = t[np.isfinite(t)]
    if t.size == 0:
        raise ValueError("tau has no finite value: no row has a learned temperature.")
    return {"n": float(t.size), "mean": float(t.mean()), "std": float(t.std()), "min": float(t.min()), "max": float(t.max())}


def group_names(n_groups: int) -> list[str]:
    """Display names of frequency groups, most frequent first."""
    if n_groups == 1:
        return ["all classes"]
    if n_groups == 2:
        return ["frequent", "rare"]
    if n_groups == 3:
        return ["frequent", "middle", "rare"]
    return [f"group {k + 1}" for k in range(n_groups)]


def frequency_groups(counts: ArrayLike, *, n_groups: int = 3) -> np.ndarray:
    """Split classes, already ordered most frequent first, into ``n_groups`` contiguous groups.

    Group 0 holds the most frequent classes. The C classes are cut into groups of
    sizes as equal as possible (``numpy.array_split``: the first groups take the extra
    class). With fewer classes than groups, the number of groups is the number of
    classes.

    Parameters
    ----------
    counts : array of shape (n_classes,)
        Class counts in descending order (as returned by :func:`class_frequencies`).
    n_groups : int, default 3

    Returns
    -------
    int array of shape (n_classes,): the group of each class.
    """
    c = np.asarray(counts)
    if c.ndim != 1 or c.shape[0] == 0:
        raise ValueError(f"counts must be a non-empty 1-D array; got shape {c.shape}.")
    if np.any(np.diff(c) > 0):
        raise ValueError("counts must be in descending order (most frequent class first).")
    if n_groups < 1:
        raise ValueError(f"n_groups must be at least 1; got {n_groups}.")
    g = min(n_groups, c.shape[0])
    out = np.empty(c.shape[0], dtype=np.int64)
    for k, part in enumerate(np.array_split(np.arange(c.shape[0]), g)):
        out[part] = k
    return out


def tau_trajectory(
    epochs: Sequence[int],
    taus: Sequence[ArrayLike],
    y: ArrayLike,
    *,
    n_groups: int = 3,
    quantiles: tuple[float, float, float] = (0.1, 0.5, 0.9),
) -> dict[str, np.ndarray]:
    """Mean and quantiles of tau_i per class-frequency group at each snapshot epoch.

    Classes are ordered by training frequency (rows with a finite tau at the LAST epoch)
    and cut into ``n_groups`` groups (:func:`frequency_groups`); at every epoch the tau
    of the samples of each group are summarised.

    Parameters
    ----------
    epochs : sequence of int, length E
    taus : sequence of E arrays of shape (n_samples,)
        The snapshot's tau at each epoch (same rows in the same order every epoch).
    y : array of shape (n_samples,)
        Class labels of the rows.
    n_groups : int, default 3
    quantiles : (low, middle, high), default (0.1, 0.5, 0.9)

    Returns
    -------
    dict of equal-length columns (one row per epoch and group, epochs ascending, then
    groups most frequent first): ``epoch``, ``group`` (index), ``group_name``, ``classes``
    (the group's labels as text), ``n`` (samples), ``mean``, ``q_low``, ``q_mid``,
    ``q_high``.
    """
    if len(epochs) != len(taus):
        raise ValueError(f"got {len(epochs)} epochs but {len(taus)} tau arrays.")
    if len(epochs) == 0:
        raise ValueError("need at least one epoch.")
    lo, mid, hi = quantiles
    if not 0.0 <= lo <= mid <= hi <= 1.0:
        raise ValueError(f"quantiles must be increasing within [0, 1]; got {quantiles}.")
    lab_all = np.asarray(y)
    last = tau_by_class(taus[-1], lab_all)
    groups = frequency_groups(last.counts, n_groups=n_groups)
    names = group_names(int(groups.max()) + 1)
    cols: dict[str, list] = {k: [] for k in ("epoch", "group", "group_name", "classes", "n", "mean", "q_low", "q_mid", "q_high")}
    for e, tau in sorted(zip(epochs, taus, strict=True), key=lambda p: p[0]):
        t, lab = _tau_and_labels(tau, lab_all)
        for g in range(len(names)):
            members = last.classes[groups == g]
            v = t[np.isin(lab, members)]
            cols["epoch"].append(int(e))
            cols["group"].append(g)
            cols["group_name"].append(names[g])
            cols["classes"].append(", ".join(str(c) for c in members))
            cols["n"].append(int(v.size))
            if v.size:
                q = np.quantile(v, [lo, mid, hi])
                cols["mean"].append(float(v.mean()))
                cols["q_low"].append(float(q[0]))
                cols["q_mid"].append(float(q[1]))
                cols["q_high"].append(float(q[2]))
            else:
                for k in ("mean", "q_low", "q_mid", "q_high"):
                    cols[k].append(math.nan)
    return {k: np.asarray(v) for k, v in cols.items()}


def extreme_samples(tau: ArrayLike, *, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the ``k`` lowest and the ``k`` highest finite temperatures.

    Returns ``(lowest, highest)``: ``lowest`` in ascending order of tau, ``highest`` in
    descending order; ties are broken by row position (stable sort). With fewer than
    ``k`` finite values, each holds all of them. NaN rows are never returned.
    """
    t = np.asarray(tau, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"tau must be a 1-D array; got shape {t.shape}.")
    if k < 1:
        raise ValueError(f"k must be at least 1; got {k}.")
    rows = np.flatnonzero(np.isfinite(t))
    asc = rows[np.argsort(t[rows], kind="stable")]
    desc = rows[np.argsort(-t[rows], kind="stable")]
    return asc[:k], desc[:k]


def tau_frequency_correlation(tau: ArrayLike, y: ArrayLike) -> float:
    """Spearman correlation between each training sample's tau_i and its class frequency.

    Over the rows with a finite tau, correlates tau_i with n_{y_i} (the number of such
    rows of the same class; ties get average ranks). Positive means frequent classes
    have larger temperatures (iSogCLR's claim). ``nan`` when tau or the frequencies are
    constant (e.g. a global temperature, or balanced classes).
    """
    t, lab = _tau_and_labels(tau, y)
    classes, counts = np.unique(lab, return_counts=True)
    freq = counts[np.searchsorted(classes, lab)]
    if np.ptp(t) == 0.0 or np.ptp(freq) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(t, freq).statistic)


def knn_accuracy_by_class(
    train_x: ArrayLike,
    train_y: ArrayLike,
    test_x: ArrayLike,
    test_y: ArrayLike,
    *,
    classes: ArrayLike,
    k: int = 20,
) -> np.ndarray:
    """kNN accuracy (``analysis.probes.knn_accuracy``, cosine, k neighbours) per test class.

    Entry c is the accuracy on the held-out samples whose label is ``classes[c]`` (the
    fraction of them predicted correctly); ``nan`` for a class without held-out samples.
    The neighbours come from the whole training split, so a rare class's accuracy shows
    how well its few training samples hold their region.

    Returns
    -------
    float array of shape (len(classes),)
    """
    # torch and scikit-learn are loaded by this function only: the app's server imports this
    # module for the numpy functions above and loads them when a page needs this fallback
    from analysis.probes import knn_accuracy

    te_y = np.asarray(test_y)
    te_x = np.asarray(test_x)
    k = min(k, len(np.asarray(train_y)))  # a tiny training split: every training sample votes
    out = np.full(len(np.asarray(classes)), math.nan)
    for i, c in enumerate(np.asarray(classes)):
        sel = te_y == c
        if sel.any():
            out[i] = knn_accuracy(train_x, train_y, te_x[sel], te_y[sel], k=k)
    return out


def accuracy_by_class_from_hits(hits: ArrayLike, labels: ArrayLike, *, classes: ArrayLike) -> np.ndarray:
    """Per-class accuracy from per-sample outcomes: entry c is the mean of ``hits`` (1 right,
    0 wrong, NaN not evaluated) over the samples whose label is ``classes[c]`` and whose hit
    is not NaN; ``nan`` for a class with none. With a snapshot's ``knn_hit`` this equals
    :func:`knn_accuracy_by_class` on the held-out samples the kNN probe classified.

    Returns
    -------
    float array of shape (len(classes),)
    """
    h = np.asarray(hits, dtype=np.float64)
    y = np.asarray(labels)
    if h.shape != y.shape:
        raise ValueError(f"hits and labels must have the same shape; got {h.shape} and {y.shape}.")
    ok = np.isfinite(h)
    out = np.full(len(np.asarray(classes)), math.nan)
    for i, c in enumerate(np.asarray(classes)):
        sel = ok & (y == c)
        if sel.any():
            out[i] = float(h[sel].mean())
    return out
