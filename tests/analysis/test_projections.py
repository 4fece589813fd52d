"""PCA basis, exact kNN (umap-learn's layout), Procrustes, stratified samples, UMAP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from analysis.projections import (
    PCA2D,
    exact_knn,
    pca_2d,
    procrustes_align,
    stratified_sample,
    umap_2d,
)


def _blobs(n_per: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), n_per)
    centres = 5.0 * rng.standard_normal((3, d))
    return centres[labels] + 0.3 * rng.standard_normal((labels.shape[0], d)), labels


def test_pca2d_matches_scikit_learn_up_to_sign() -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((300, 6)) * np.array([5.0, 3.0, 1.0, 0.5, 0.2, 0.1]) + 1.0
    ours = PCA2D().fit(z)
    ref = PCA(n_components=2).fit(z)
    assert_allclose(np.abs(ours.components_), np.abs(ref.components_), atol=1e-10)
    assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-10)
    assert_allclose(ours.mean_, ref.mean_, rtol=1e-12)
    assert_allclose(np.abs(ours.transform(z)), np.abs(ref.transform(z)), atol=1e-10)


def test_pca2d_signs_are_deterministic() -> None:
    z = np.random.default_rng(1).standard_normal((100, 5)) * np.arange(5, 0, -1)
    first, flipped = PCA2D().fit(z), PCA2D().fit(-z)
    assert_allclose(first.components_, flipped.components_, atol=1e-12)
    pivots = np.argmax(np.abs(first.components_), axis=1)
    assert np.all(first.components_[[0, 1], pivots] > 0)


def test_one_basis_for_all_epochs() -> None:
    rng = np.random.default_rng(2)
    epoch_a = rng.standard_normal((80, 4)) * np.array([4.0, 2.0, 1.0, 0.5])
    epoch_b = epoch_a + 0.1 * rng.standard_normal((80, 4))
    pca = PCA2D().fit(epoch_a)
    assert_allclose(pca.transform(epoch_b), (epoch_b - pca.mean_) @ pca.components_.T)
    by_basis = pca_2d(epoch_b, components=pca.components_)
    assert_allclose(by_basis, (epoch_b - epoch_b.mean(axis=0)) @ pca.components_.T)
    assert_allclose(pca_2d(epoch_a), pca.transform(epoch_a))
    with pytest.raises(ValueError, match="components"):
        pca_2d(epoch_b, components=np.ones((3, 4)))
    with pytest.raises(ValueError, match="features"):
        pca.transform(np.ones((3, 5)))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_exact_knn_matches_scikit_learn(metric: str) -> None:
    z = np.random.default_rng(3).standard_normal((500, 12))
    idx, dist = exact_knn(z, k=10, metric=metric)
    ref_dist, ref_idx = NearestNeighbors(n_neighbors=10, metric=metric).fit(z).kneighbors(z)
    assert idx.shape == dist.shape == (500, 10)
    assert idx.dtype == np.int64 and dist.dtype == np.float32
    assert_array_equal(idx, ref_idx)
    assert_allclose(dist, ref_dist, atol=1e-5)


def test_exact_knn_follows_umaps_self_first_convention() -> None:
    z = np.random.default_rng(4).standard_normal((50, 3)).astype(np.float32)
    z[10] = z[11]  # a duplicate: each copy must still list itself first
    idx, dist = exact_knn(torch.from_numpy(z), k=5, metric="euclidean")
    assert_array_equal(idx[:, 0], np.arange(50))
    assert np.all(dist[:, 0] == 0.0)
    assert idx[10, 1] == 11 and idx[11, 1] == 10
    assert dist[10, 1] == pytest.approx(0.0, abs=1e-6)
    assert np.all(np.diff(dist, axis=1) >= 0)
    with pytest.raises(ValueError, match="k must be"):
        exact_knn(z, k=51)
    with pytest.raises(ValueError, match="metric"):
        exact_knn(z, k=3, metric="manhattan")  # type: ignore[arg-type]


def test_procrustes_recovers_a_rotated_scaled_shifted_copy() -> None:
    rng = np.random.default_rng(5)
    reference = rng.standard_normal((100, 2))
    angle = 1.1
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    reflection = np.diag([1.0, -1.0])
    moved = 2.5 * reference @ rotation @ reflection + np.array([3.0, -7.0])
    assert_allclose(procrustes_align(moved, reference), reference, atol=1e-10)
    noisy = moved + 0.01 * rng.standard_normal(moved.shape)
    assert np.max(np.abs(procrustes_align(noisy, reference) - reference)) < 0.05
    with pytest.raises(ValueError, match="same shape"):
        procrustes_align(moved[:5], reference)


def test_stratified_sample_keeps_class_proportions() -> None:
    labels = np.r_[np.zeros(900), np.ones(90), np.full(10, 2)].astype(int)
    idx = stratified_sample(labels, 100, seed=0)
    assert idx.shape == (100,) and np.all(np.diff(idx) > 0)
    assert_array_equal(np.bincount(labels[idx]), [90, 9, 1])
    assert_array_equal(stratified_sample(labels, 100, seed=0), idx)
    assert not np.array_equal(stratified_sample(labels, 100, seed=1), idx)
    rare = np.r_[np.zeros(997), [1, 2, 3]].astype(int)  # every class shows up
    assert set(rare[stratified_sample(rare, 10)]) == {0, 1, 2, 3}
    assert_array_equal(stratified_sample(labels, 5000), np.arange(1000))


def test_stratified_sample_bins_continuous_targets() -> None:
    target = np.random.default_rng(6).exponential(size=2000)
    idx = stratified_sample(target, 200, n_bins=10)
    edges = np.quantile(target, np.linspace(0, 1, 11))
    counts = np.histogram(target[idx], bins=edges)[0]
    assert np.all(np.abs(counts - 20) <= 1)


@pytest.mark.slow
def test_umap_2d_separates_blobs_and_reuses_a_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    import umap.umap_

    def no_search(*args: object, **kwargs: object) -> None:
        raise AssertionError("umap-learn ran its own kNN search instead of using exact_knn")

    monkeypatch.setattr(umap.umap_, "nearest_neighbors", no_search)
    z, labels = _blobs(100, 16, seed=7)
    layout = umap_2d(z, n_neighbors=15, n_epochs=100, seed=0)
    assert layout.shape == (300, 2) and np.all(np.isfinite(layout))
    idx, _ = exact_knn(layout, k=6, metric="euclidean")
    votes = labels[idx[:, 1:]]
    predicted = np.array([np.bincount(row, minlength=3).argmax() for row in votes])
    assert np.mean(predicted == labels) > 0.95
    again = umap_2d(z + 0.01, init=layout, n_epochs=50, seed=0)
    assert again.shape == (300, 2)
    with pytest.raises(ValueError, match="init"):
        umap_2d(z, init=layout[:10])


def test_importing_the_analysis_package_does_not_import_umap() -> None:
    code = (
        "import sys, analysis.geometry, analysis.spectrum, analysis.probes, "
        "analysis.ordinality, analysis.similarity, analysis.projections; "
        "assert 'umap' not in sys.modules and 'numba' not in sys.modules, 'umap imported'"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True, timeout=60)
