"""Ordinality metrics: ordered lines and arcs give 1 / 0, random embeddings do not."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy.stats import spearmanr
from sklearn.neighbors import NearestNeighbors

from analysis.ordinality import distance_rank_correlation, neighbour_target_gap


def _arc(y: np.ndarray, d: int = 8, seed: int = 0) -> np.ndarray:
    """Unit vectors on a great circle of R^d at angle 0.5 * y (an ordered line on the sphere)."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, 2)))
    return np.c_[np.cos(0.5 * y), np.sin(0.5 * y)] @ q.T


def test_ordered_arc_has_rank_correlation_one() -> None:
    y = np.random.default_rng(1).uniform(0, 5, 300)  # angles up to 2.5 rad < pi
    assert distance_rank_correlation(_arc(y), y) == pytest.approx(1.0, abs=1e-12)
    assert distance_rank_correlation(torch.from_numpy(7.0 * _arc(y)), y) == pytest.approx(
        1.0, abs=1e-12
    )


def test_straight_line_without_normalisation_has_rank_correlation_one() -> None:
    rng = np.random.default_rng(2)
    y = rng.standard_normal(200)
    line = rng.standard_normal(6) + y[:, None] * rng.standard_normal(6)
    assert distance_rank_correlation(line, y, normalize=False) == pytest.approx(1.0, abs=1e-12)


def test_rank_correlation_matches_a_naive_pair_loop() -> None:
    rng = np.random.default_rng(3)
    z, y = rng.standard_normal((30, 4)), rng.standard_normal(30)
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    dz, dy = [], []
    for i in range(30):
        for j in range(i + 1, 30):
            dz.append(np.linalg.norm(zn[i] - zn[j]))
            dy.append(abs(y[i] - y[j]))
    assert_allclose(distance_rank_correlation(z, y), spearmanr(dz, dy).statistic, rtol=1e-12)


def test_random_embedding_has_rank_correlation_near_zero() -> None:
    rng = np.random.default_rng(4)
    assert (
        abs(distance_rank_correlation(rng.standard_normal((400, 16)), rng.uniform(size=400))) < 0.05
    )


def test_rank_correlation_subsamples_deterministically() -> None:
    rng = np.random.default_rng(5)
    z, y = rng.standard_normal((900, 8)), rng.standard_normal(900)
    z[:, 0] += 2 * y
    first = distance_rank_correlation(z, y, max_points=300, seed=0)
    assert first == distance_rank_correlation(z, y, max_points=300, seed=0)
    assert first != distance_rank_correlation(z, y, max_points=300, seed=1)
    assert first == pytest.approx(distance_rank_correlation(z, y, max_points=None), abs=0.05)


def test_rank_correlation_of_a_constant_target_is_nan() -> None:
    z = np.random.default_rng(6).standard_normal((20, 3))
    assert math.isnan(distance_rank_correlation(z, np.ones(20)))
    with pytest.raises(ValueError, match="entries"):
        distance_rank_correlation(z, np.ones(19))


def test_neighbour_target_gap_is_zero_for_ordered_and_one_for_random() -> None:
    rng = np.random.default_rng(7)
    y = rng.uniform(0, 5, 1000)
    assert neighbour_target_gap(_arc(y), y, k=10) < 0.02
    assert neighbour_target_gap(rng.standard_normal((1000, 16)), y, k=10) == pytest.approx(
        1.0, abs=0.1
    )
    # a fragmented embedding (two interleaved orders) lands in between
    fragmented = _arc(np.where(y < 2.5, y, y - 2.5))
    assert 0.1 < neighbour_target_gap(fragmented, y, k=10) < 0.9


def test_neighbour_target_gap_matches_a_naive_computation() -> None:
    rng = np.random.default_rng(8)
    z, y = rng.standard_normal((60, 5)), rng.standard_normal(60)
    _, idx = NearestNeighbors(n_neighbors=6, metric="cosine").fit(z).kneighbors(z)
    local = np.mean([abs(y[i] - y[j]) for i in range(60) for j in idx[i, 1:]])
    pairs = np.mean([abs(y[i] - y[j]) for i in range(60) for j in range(i + 1, 60)])
    assert_allclose(neighbour_target_gap(z, y, k=5), local / pairs, rtol=1e-9)
    assert math.isnan(neighbour_target_gap(z, np.zeros(60), k=5))
