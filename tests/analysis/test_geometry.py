"""Alignment and uniformity: known answers, naive formula loops, chunking invariance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy.special import gammaln, ive

from analysis.geometry import alignment, alignment_uniformity, uniformity, uniformity_optimum


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _naive_uniformity(z: np.ndarray, t: float) -> float:
    """log of the mean over i < j of exp(-t ||z_i - z_j||^2), a plain double loop."""
    z = _unit_rows(z.astype(np.float64))
    terms = []
    for i in range(len(z)):
        for j in range(i + 1, len(z)):
            terms.append(math.exp(-t * float(np.sum((z[i] - z[j]) ** 2))))
    return math.log(math.fsum(terms) / len(terms))


def test_identical_views_have_alignment_zero() -> None:
    z = np.random.default_rng(0).standard_normal((64, 16))
    assert alignment(z, z) == pytest.approx(0.0, abs=1e-12)
    assert alignment(z, 3.0 * z) == pytest.approx(0.0, abs=1e-12)  # rows are normalised


def test_antipodal_views_have_alignment_four() -> None:
    z = np.random.default_rng(1).standard_normal((64, 16))
    assert alignment(z, -z) == pytest.approx(4.0, rel=1e-12)
    assert alignment(z, -z, alpha=1.0) == pytest.approx(2.0, rel=1e-12)


def test_alignment_matches_naive_loop() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((30, 8)), rng.standard_normal((30, 8))
    xn, yn = _unit_rows(x), _unit_rows(y)
    for alpha in (1.0, 2.0, 3.0):
        expected = np.mean([np.linalg.norm(xn[i] - yn[i]) ** alpha for i in range(30)])
        assert_allclose(alignment(x, y, alpha=alpha), expected, rtol=1e-12)


def test_alignment_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        alignment(np.ones((4, 3)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="2-D"):
        alignment(np.ones(4), np.ones(4))


def test_uniformity_matches_naive_double_loop() -> None:
    z = np.random.default_rng(3).standard_normal((40, 6))
    for t in (0.5, 2.0, 5.0):
        assert_allclose(uniformity(z, t=t), _naive_uniformity(z, t), rtol=1e-10)


def test_uniformity_chunked_equals_unchunked() -> None:
    z = torch.randn(103, 12, generator=torch.Generator().manual_seed(4))
    whole = uniformity(z, chunk_size=4096)
    for chunk in (1, 7, 50, 102):
        torch.testing.assert_close(uniformity(z, chunk_size=chunk), whole, rtol=1e-6, atol=0.0)
    assert_allclose(whole, _naive_uniformity(z.numpy(), 2.0), rtol=1e-6)


def test_two_points_closed_form() -> None:
    a = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0]])
    sq_dist = float(np.sum((a[0] - a[1]) ** 2))
    for t in (1.0, 2.0, 7.5):
        assert uniformity(a, t=t) == pytest.approx(-t * sq_dist, rel=1e-12)


def test_no_underflow_for_small_batches_with_large_t() -> None:
    # exp(-400) underflows float32 (and exp then log would give -inf); logsumexp does not
    z = np.array([[1.0, 0.0], [-1.0, 0.0]], dtype=np.float32)
    assert uniformity(z, t=100.0) == pytest.approx(-400.0, rel=1e-6)


def test_antipodal_pair_and_regular_simplex_attain_the_bound() -> None:
    assert uniformity(np.array([[0.0, 2.0], [0.0, -2.0]])) == pytest.approx(uniformity_optimum(2))
    for n in (3, 5, 10):
        simplex = np.eye(n) - 1.0 / n  # centred vertices of a regular simplex
        assert_allclose(uniformity(simplex, t=2.0), uniformity_optimum(n, t=2.0), rtol=1e-10)
        assert_allclose(uniformity(simplex, t=0.5), uniformity_optimum(n, t=0.5), rtol=1e-10)


def test_uniform_points_on_a_sphere_approach_the_optimum() -> None:
    n, d, t = 3000, 64, 2.0
    z = np.random.default_rng(5).standard_normal((n, d))
    value = uniformity(z, t=t)
    # exact expectation for uniform points: E exp(k u), u = cosine of two random points,
    # = Gamma(d/2) (2/k)^(d/2-1) I_{d/2-1}(k) with k = 2t; uniformity = -2t + log of it
    nu, kappa = d / 2 - 1, 2 * t
    log_mgf = gammaln(d / 2) + nu * math.log(2 / kappa) + math.log(ive(nu, kappa)) + kappa
    assert value == pytest.approx(-2 * t + log_mgf, abs=5e-3)
    assert uniformity_optimum(n, t=t) < value < uniformity_optimum(n, t=t) + 2 * t * t / d + 0.02


def test_uniformity_optimum_formula() -> None:
    assert uniformity_optimum(2) == pytest.approx(-8.0)
    assert uniformity_optimum(10_000, t=2.0) == pytest.approx(-4.0, abs=1e-3)
    with pytest.raises(ValueError):
        uniformity_optimum(1)


def test_max_points_estimates_on_a_fixed_subset() -> None:
    z = np.random.default_rng(6).standard_normal((500, 8))
    first = uniformity(z, max_points=200, seed=1)
    assert first == uniformity(z, max_points=200, seed=1)
    assert first != uniformity(z, max_points=200, seed=2)
    assert first == pytest.approx(uniformity(z), abs=0.05)
    assert uniformity(z, max_points=1000) == uniformity(z)  # no subset when N <= max_points


def test_uniformity_accepts_torch_and_numpy_alike() -> None:
    z = np.random.default_rng(7).standard_normal((50, 5)).astype(np.float32)
    value = uniformity(torch.from_numpy(z))
    assert isinstance(value, float)
    assert value == pytest.approx(uniformity(z), rel=1e-12)


def test_uniformity_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        uniformity(np.ones((1, 3)))
    with pytest.raises(ValueError, match="NaN"):
        uniformity(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="t must be positive"):
        uniformity(np.eye(3), t=0.0)


def test_alignment_uniformity_averages_the_two_views() -> None:
    rng = np.random.default_rng(8)
    z1, z2 = rng.standard_normal((60, 4)), rng.standard_normal((60, 4))
    align, unif = alignment_uniformity(z1, z2)
    assert align == pytest.approx(alignment(z1, z2))
    assert unif == pytest.approx(0.5 * (uniformity(z1) + uniformity(z2)))
    # the positive pairs never enter: identical views give the single view's value
    assert alignment_uniformity(z1, z1)[1] == pytest.approx(uniformity(z1))
