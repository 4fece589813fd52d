"""Linear CKA and kNN overlap: invariances, known answers and the naive HSIC formula."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from analysis.similarity import knn_overlap, linear_cka


def _orthogonal(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q


def _naive_cka(a: np.ndarray, b: np.ndarray) -> float:
    """HSIC form with the centring matrix H: tr(K H L H) / sqrt(tr(K H K H) tr(L H L H))."""
    n = a.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, m = a @ a.T, b @ b.T

    def hsic(p: np.ndarray, q: np.ndarray) -> float:
        return float(np.trace(p @ h @ q @ h))

    return hsic(k, m) / np.sqrt(hsic(k, k) * hsic(m, m))


def test_cka_is_one_under_rotation_and_scaling() -> None:
    a = np.random.default_rng(0).standard_normal((200, 16))
    assert linear_cka(a, a @ _orthogonal(16, 1)) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(a, 3.5 * a) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(a, a + 10.0) == pytest.approx(1.0, abs=1e-12)  # centred


def test_cka_of_independent_matrices_is_near_zero() -> None:
    rng = np.random.default_rng(2)
    value = linear_cka(rng.standard_normal((5000, 10)), rng.standard_normal((5000, 12)))
    assert 0.0 <= value < 0.01


def test_cka_matches_the_naive_hsic_formula() -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((50, 8))
    b = a[:, :4] @ rng.standard_normal((4, 6)) + 0.5 * rng.standard_normal((50, 6))
    assert_allclose(linear_cka(a, b), _naive_cka(a, b), rtol=1e-10)
    assert_allclose(linear_cka(a, b), linear_cka(b, a), rtol=1e-12)
    wide_a, wide_b = rng.standard_normal((10, 40)), rng.standard_normal((10, 30))  # N < D path
    assert_allclose(linear_cka(wide_a, wide_b), _naive_cka(wide_a, wide_b), rtol=1e-10)


def test_cka_rejects_different_samples() -> None:
    with pytest.raises(ValueError, match="same samples"):
        linear_cka(np.ones((5, 2)), np.ones((6, 2)))


def test_knn_overlap_known_answers() -> None:
    rng = np.random.default_rng(4)
    a = rng.standard_normal((300, 8))
    assert knn_overlap(a, a) == 1.0
    # cosine similarity is invariant to rotations
    assert knn_overlap(a, a @ _orthogonal(8, 5)) == pytest.approx(1.0)
    unrelated = knn_overlap(a, rng.standard_normal((300, 8)), k=10)
    assert unrelated < 0.1  # expected about k / (N - 1) = 0.033


def test_knn_overlap_matches_naive_sets() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((40, 5)), rng.standard_normal((40, 7))
    a[:, 0] += b[:, 0] * 3

    def neighbours(x: np.ndarray, i: int, k: int) -> set[int]:
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        sims = xn @ xn[i]
        sims[i] = -np.inf
        return set(np.argsort(-sims)[:k].tolist())

    expected = np.mean([len(neighbours(a, i, 6) & neighbours(b, i, 6)) / 6 for i in range(40)])
    assert knn_overlap(a, b, k=6) == pytest.approx(expected)
    with pytest.raises(ValueError, match="k must be"):
        knn_overlap(a, b, k=40)
