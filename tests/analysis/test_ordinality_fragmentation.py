"""Fragmentation views: per-sample neighbour gap and the target along the first PC."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from analysis.ordinality import local_target_gap, neighbour_target_gap, target_along_first_pc


def test_local_gap_averages_to_the_global_gap() -> None:
    rng = np.random.default_rng(0)
    z, y = rng.standard_normal((120, 6)), rng.uniform(size=120)
    gaps = local_target_gap(z, y, k=7)
    assert gaps.shape == (120,) and np.all(gaps >= 0)
    assert gaps.mean() == pytest.approx(neighbour_target_gap(z, y, k=7), rel=1e-9)
    assert np.all(np.isnan(local_target_gap(z, np.ones(120), k=3)))


def test_local_gap_is_large_at_the_seam_of_a_fragmented_line() -> None:
    # target 0..1 laid on an arc, but the second half is moved next to the start: a seam
    y = np.linspace(0, 1, 200)
    angle = np.where(y < 0.5, y, y - 0.5 + 0.02)  # the two halves overlap in angle
    z = np.c_[np.cos(angle), np.sin(angle), np.where(y < 0.5, 0.0, 0.01)]
    gaps = local_target_gap(z, y, k=5)
    ordered = np.c_[np.cos(y), np.sin(y), np.zeros(200)]
    assert gaps.mean() > 5 * local_target_gap(ordered, y, k=5).mean()


def test_target_along_first_pc_on_an_ordered_line() -> None:
    rng = np.random.default_rng(1)
    y = rng.uniform(-2, 2, 150)
    direction = rng.standard_normal(5)
    z = 3.0 - y[:, None] * direction + 1e-3 * rng.standard_normal((150, 5))  # decreasing along +direction
    out = target_along_first_pc(z, y)
    assert out.spearman == pytest.approx(1.0, abs=1e-6)  # oriented: always >= 0
    assert out.explained > 0.999
    assert np.all(np.diff(y[out.order]) > 0)  # the target rises along the order
    assert_allclose(np.sort(out.position), out.position[out.order])


def test_target_along_first_pc_of_an_unrelated_embedding() -> None:
    rng = np.random.default_rng(2)
    out = target_along_first_pc(rng.standard_normal((400, 4)), rng.uniform(size=400))
    assert 0 <= out.spearman < 0.15
    assert math.isnan(target_along_first_pc(rng.standard_normal((10, 3)), np.zeros(10)).spearman)
