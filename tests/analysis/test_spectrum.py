"""Spectra, RankMe, effective rank and alpha-ReQ on matrices with known spectra."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy.linalg import hadamard

from analysis.spectrum import (
    SPECTRUM_FLOOR,
    alpha_req,
    covariance_spectrum,
    effective_rank_covariance,
    rankme,
)


def _known_spectrum(weights: np.ndarray, n: int = 256, seed: int = 0) -> np.ndarray:
    """Rows with exactly known normalised-covariance eigenvalues.

    Columns 1..D of a Hadamard matrix are orthogonal, +-1 and have zero mean, so
    Z = H[:, 1:D+1] diag(sqrt(w)) Q^T (Q orthogonal) has zero column mean, constant
    row norm sum(w), and covariance eigenvalues (after row normalisation)
    n / (n - 1) * w / sum(w).
    """
    d = weights.shape[0]
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return hadamard(n)[:, 1 : d + 1] * np.sqrt(weights) @ q.T


def _naive_spectrum(z: np.ndarray) -> np.ndarray:
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    cov = np.cov(zn, rowvar=False)  # centred, divided by N - 1
    return np.maximum(np.sort(np.linalg.eigvalsh(cov))[::-1], 1e-12)


def _naive_rankme(z: np.ndarray) -> float:
    s = np.linalg.svd(z, compute_uv=False)
    p = s / s.sum() + 1e-7
    return float(np.exp(-np.sum(p * np.log(p))))


def test_spectrum_matches_numpy_covariance() -> None:
    z = np.random.default_rng(1).standard_normal((200, 12)) + 0.5
    spectrum = covariance_spectrum(z)
    assert spectrum.shape == (12,)
    assert np.all(np.diff(spectrum) <= 0)
    assert_allclose(spectrum, _naive_spectrum(z), rtol=1e-10)


def test_spectrum_with_fewer_samples_than_features() -> None:
    z = np.random.default_rng(2).standard_normal((6, 20))
    spectrum = covariance_spectrum(z)
    assert spectrum.shape == (20,)
    assert_allclose(spectrum[:5], _naive_spectrum(z)[:5], rtol=1e-10)
    assert np.all(spectrum[5:] == SPECTRUM_FLOOR)  # at most N - 1 nonzero


def test_rank_k_embedding_has_k_eigenvalues_above_the_floor() -> None:
    k, d = 5, 32
    weights = np.r_[np.linspace(1.0, 0.2, k), np.zeros(d - k)]
    spectrum = covariance_spectrum(_known_spectrum(weights))
    assert np.sum(spectrum > 1e-8) == k
    assert np.all(spectrum[k:] == SPECTRUM_FLOOR)
    assert_allclose(spectrum[:k], 256 / 255 * weights[:k] / weights.sum(), rtol=1e-10)


def test_rank_k_random_embedding() -> None:
    rng = np.random.default_rng(3)
    z = rng.standard_normal((500, 4)) @ rng.standard_normal((4, 64))
    spectrum = covariance_spectrum(torch.from_numpy(z))
    # row normalisation keeps the rank (rows stay in the same 4-D subspace); centring may
    # remove one direction only if the mean is in it, which random data avoids
    assert np.sum(spectrum > 1e-8) == 4


def test_rankme_of_identity_like_matrix_is_d() -> None:
    d = 64
    expected_p = 1 / d + 1e-7
    expected = math.exp(-d * expected_p * math.log(expected_p))
    assert rankme(np.eye(d)) == pytest.approx(expected, rel=1e-9)
    assert rankme(np.eye(d)) == pytest.approx(d, rel=1e-4)
    assert rankme(hadamard(128)[:, :d]) == pytest.approx(d, rel=1e-4)


def test_rankme_of_rank_one_is_one() -> None:
    rng = np.random.default_rng(4)
    z = rng.standard_normal((300, 1)) @ rng.standard_normal((1, 64))
    assert rankme(z) == pytest.approx(1.0, abs=1e-3)


def test_rankme_matches_svd_of_the_raw_matrix() -> None:
    rng = np.random.default_rng(5)
    z = rng.standard_normal((200, 16)) * np.linspace(3, 0.1, 16) + 2.0  # offset: not centred
    assert_allclose(rankme(z), _naive_rankme(z), rtol=1e-9)
    wide = rng.standard_normal((10, 40))
    assert_allclose(rankme(wide), _naive_rankme(wide), rtol=1e-9)
    # RankMe is not the covariance effective rank (raw vs centred, sigma vs sigma^2)
    assert abs(rankme(z) - effective_rank_covariance(z)) > 0.5


def test_effective_rank_covariance_known_answers() -> None:
    d = 32
    assert effective_rank_covariance(_known_spectrum(np.ones(d))) == pytest.approx(d, rel=1e-10)
    weights = np.r_[np.ones(6), np.zeros(d - 6)]
    assert effective_rank_covariance(_known_spectrum(weights)) == pytest.approx(6, rel=1e-8)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_alpha_req_recovers_a_power_law(alpha: float) -> None:
    weights = np.arange(1, 129, dtype=np.float64) ** -alpha
    assert alpha_req(_known_spectrum(weights)) == pytest.approx(alpha, rel=1e-8)
    assert alpha_req(_known_spectrum(weights), k_min=1, k_max=20) == pytest.approx(alpha, rel=1e-8)


def test_alpha_req_drops_near_zero_eigenvalues_and_returns_nan_when_too_few() -> None:
    d = 64
    weights = np.arange(1, d + 1, dtype=np.float64) ** -1.5
    weights[20:] = 0.0  # rank 20: ranks 21..64 are numerical zeros
    assert alpha_req(_known_spectrum(weights)) == pytest.approx(1.5, rel=1e-8)
    assert math.isnan(alpha_req(np.random.default_rng(6).standard_normal((50, 7))))
    weights[7:] = 0.0  # only ranks 6 and 7 left
    assert math.isnan(alpha_req(_known_spectrum(weights)))


def test_spectrum_functions_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 2 samples"):
        covariance_spectrum(np.ones((1, 4)))
    with pytest.raises(ValueError, match="2-D"):
        rankme(np.ones(4))
    with pytest.raises(ValueError, match="k_min"):
        alpha_req(np.eye(8), k_min=10, k_max=5)
