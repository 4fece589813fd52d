"""Per-sample temperatures grouped by class frequency: known answers on hand-made data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from analysis.probes import knn_accuracy, knn_predict
from analysis.temperature import (
    accuracy_by_class_from_hits,
    class_frequencies,
    extreme_samples,
    frequency_groups,
    group_names,
    knn_accuracy_by_class,
    tau_by_class,
    tau_frequency_correlation,
    tau_summary,
    tau_trajectory,
)


def _long_tail() -> tuple[np.ndarray, np.ndarray]:
    """Class 2: 6 samples, class 0: 3, class 1: 1; tau = 0.1 * (class count); 2 held-out rows (NaN)."""
    y = np.array([2, 0, 2, 2, 1, 0, 2, 2, 0, 2, 1, 0])
    tau = np.array([0.6, 0.3, 0.6, 0.6, 0.1, 0.3, 0.6, 0.6, 0.3, 0.6, np.nan, np.nan])
    return tau, y


def test_class_frequencies_most_frequent_first_ties_by_label() -> None:
    classes, counts = class_frequencies(np.array([3, 1, 1, 3, 0, 2, 2]))
    assert_array_equal(classes, [1, 2, 3, 0])  # 1, 2, 3 tie at 2: smaller label first
    assert_array_equal(counts, [2, 2, 2, 1])
    with pytest.raises(ValueError, match="non-empty"):
        class_frequencies(np.array([]))


def test_tau_by_class_drops_held_out_rows_and_orders_by_frequency() -> None:
    tau, y = _long_tail()
    g = tau_by_class(tau, y)
    assert_array_equal(g.classes, [2, 0, 1])
    assert_array_equal(g.counts, [6, 3, 1])  # the held-out rows (NaN) do not count
    assert_allclose(g.values[0], 0.6)
    assert_allclose(g.values[1], [0.3, 0.3, 0.3])
    assert_allclose(g.values[2], [0.1])
    with pytest.raises(ValueError, match="no finite"):
        tau_by_class(np.full(3, np.nan), np.arange(3))
    with pytest.raises(ValueError, match="same samples"):
        tau_by_class(np.ones(3), np.arange(4))


def test_frequency_groups_cut_contiguously() -> None:
    assert_array_equal(frequency_groups([9, 7, 5, 4, 2, 1, 1], n_groups=3), [0, 0, 0, 1, 1, 2, 2])
    assert_array_equal(frequency_groups([5, 1], n_groups=3), [0, 1])  # fewer classes than groups
    with pytest.raises(ValueError, match="descending"):
        frequency_groups([1, 5])
    assert group_names(3) == ["frequent", "middle", "rare"]
    assert group_names(5)[-1] == "group 5"


def test_tau_trajectory_groups_and_quantiles() -> None:
    tau, y = _long_tail()
    start = np.where(np.isfinite(tau), 0.5, np.nan)  # epoch 0: every tau at tau_init
    out = tau_trajectory([4, 0], [tau, start], y, n_groups=3, quantiles=(0.0, 0.5, 1.0))
    assert_array_equal(out["epoch"], [0, 0, 0, 4, 4, 4])  # sorted by epoch
    assert list(out["group_name"][:3]) == ["frequent", "middle", "rare"]
    assert list(out["classes"][:3]) == ["2", "0", "1"]
    assert_array_equal(out["n"], [6, 3, 1, 6, 3, 1])
    assert_allclose(out["mean"][:3], 0.5)
    assert_allclose(out["mean"][3:], [0.6, 0.3, 0.1])
    assert_allclose(out["q_low"][3:], [0.6, 0.3, 0.1])
    # a spread within a group: quantiles straddle the mean
    tau2 = tau.copy()
    tau2[[0, 2]] = [0.2, 1.0]
    row = tau_trajectory([1], [tau2], y, n_groups=1, quantiles=(0.0, 0.5, 1.0))
    assert row["q_low"][0] == pytest.approx(0.1) and row["q_high"][0] == pytest.approx(1.0)
    assert row["mean"][0] == pytest.approx(np.nanmean(tau2))
    with pytest.raises(ValueError, match="epochs"):
        tau_trajectory([0, 1], [tau], y)


def test_extreme_samples_skip_nan_and_order() -> None:
    tau = np.array([0.5, np.nan, 0.1, 0.9, 0.1, 0.7])
    low, high = extreme_samples(tau, k=2)
    assert_array_equal(low, [2, 4])  # tie: row order
    assert_array_equal(high, [3, 5])
    low, high = extreme_samples(tau, k=10)
    assert len(low) == len(high) == 5 and 1 not in low


def test_tau_frequency_correlation_signs() -> None:
    tau, y = _long_tail()
    assert tau_frequency_correlation(tau, y) == pytest.approx(1.0)
    assert tau_frequency_correlation(-tau, y) == pytest.approx(-1.0)
    assert math.isnan(tau_frequency_correlation(np.where(np.isfinite(tau), 0.5, np.nan), y))  # global tau


def test_knn_accuracy_by_class_matches_the_probe_on_each_class() -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 8)) * 3
    ytr = rng.integers(0, 3, 90)
    yte = np.r_[rng.integers(0, 2, 30)]  # class 2 has no held-out rows
    xtr = centres[ytr] + rng.standard_normal((90, 8))
    xte = centres[yte] + 2.5 * rng.standard_normal((30, 8))
    acc = knn_accuracy_by_class(xtr, ytr, xte, yte, classes=[1, 0, 2], k=5)
    for i, c in enumerate([1, 0]):
        assert acc[i] == pytest.approx(knn_accuracy(xtr, ytr, xte[yte == c], yte[yte == c], k=5))
    assert math.isnan(acc[2])
    # the test-size-weighted mean of the per-class accuracies is the overall accuracy
    n = np.array([(yte == 1).sum(), (yte == 0).sum()])
    assert np.sum(acc[:2] * n) / n.sum() == pytest.approx(knn_accuracy(xtr, ytr, xte, yte, k=5))


def test_tau_summary_ignores_held_out_rows() -> None:
    tau, _ = _long_tail()
    s = tau_summary(tau)
    assert s["n"] == 10 and s["min"] == pytest.approx(0.1) and s["max"] == pytest.approx(0.6)
    assert s["mean"] == pytest.approx(np.nanmean(tau)) and s["std"] == pytest.approx(np.nanstd(tau))


def test_accuracy_by_class_from_hits_equals_the_probe_per_class() -> None:
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((3, 8)) * 3
    ytr, yte = rng.integers(0, 3, 90), rng.integers(0, 3, 40)
    xtr = centres[ytr] + rng.standard_normal((90, 8))
    xte = centres[yte] + 2.5 * rng.standard_normal((40, 8))
    # a snapshot's layout: NaN for training rows and for held-out rows the probe skipped
    hits = np.r_[np.full(90, np.nan), (knn_predict(xtr, ytr, xte, k=5) == yte).astype(float)]
    hits[90 + np.arange(0, 40, 4)] = np.nan
    labels = np.r_[ytr, yte]
    got = accuracy_by_class_from_hits(hits, labels, classes=[2, 0, 1, 7])
    kept = np.isfinite(hits[90:])
    want = knn_accuracy_by_class(xtr, ytr, xte[kept], yte[kept], classes=[2, 0, 1, 7], k=5)
    assert_allclose(got[:3], want[:3])
    for i, c in enumerate([2, 0, 1]):  # a loop written from the definition
        sel = [j for j in range(len(labels)) if labels[j] == c and not math.isnan(hits[j])]
        assert got[i] == pytest.approx(sum(hits[j] for j in sel) / len(sel))
    assert math.isnan(got[3])  # no such class
    with pytest.raises(ValueError, match="same shape"):
        accuracy_by_class_from_hits(hits[:-1], labels, classes=[0])
