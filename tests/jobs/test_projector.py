"""The projection worker's speed settings (starts, epochs) and the runner's thread split.
No UMAP is run here: ``umap_2d`` is replaced by a recorder (the real one is tested in
tests/analysis/test_projections.py and timed by bench/bench_maps.py)."""

from __future__ import annotations

import numpy as np
import pytest

from jobs import projector, runner, worker
from jobs import store as st
from tests.conftest import FAST
from trainers.config import RunConfig


def test_umap_epochs_budget():
    cold = [projector.umap_epochs(n, warm_start=False) for n in (300, 1797, 5000, 10000, 50000)]
    warm = [projector.umap_epochs(n, warm_start=True) for n in (300, 1797, 5000, 10000, 50000)]
    assert cold == [200, 200, 100, 100, 100]
    assert warm == [100, 100, 50, 50, 50]
    assert all(w <= c for w, c in zip(warm, cold, strict=True))


def test_first_map_starts_from_pca_later_maps_from_the_previous_map(store, monkeypatch):
    calls = []

    def fake_umap(z, *, init=None, n_epochs=200, seed=0, **kw):
        calls.append({"init": None if init is None else np.array(init), "n_epochs": n_epochs})
        return np.array(init, dtype=np.float64) if init is not None else np.zeros((len(z), 2))

    monkeypatch.setattr(projector.projections, "umap_2d", fake_umap)
    rng = np.random.default_rng(0)
    rid = store.create_run(RunConfig(**FAST), status=st.FINISHED)
    n = 300
    for epoch in (0, 1):
        emb = rng.standard_normal((n, 8)).astype(np.float32)
        pca = rng.standard_normal((n, 2)).astype(np.float32)
        store.add_snapshot(rid, epoch, epoch, {"emb": emb, "rep": emb, "pca_emb": pca, "pca_rep": pca}, {})
    pw = projector.ProjectionWorker(store)
    assert pw.step()  # epoch 0, emb: no earlier map -> the snapshot's PCA, cold epochs
    first = calls[-1]
    pca0 = store.load_snapshot(rid, 0)["pca_emb"]
    np.testing.assert_allclose(np.corrcoef(first["init"][:, 0], pca0[:, 0])[0, 1], 1.0, atol=1e-6)
    assert first["n_epochs"] == projector.umap_epochs(n, warm_start=False)
    assert pw.step()  # epoch 1, emb: starts from epoch 0's map, warm epochs, aligned to it
    second = calls[-1]
    prev = store.projection(rid, 0, "emb", "umap")
    np.testing.assert_allclose(np.corrcoef(second["init"][:, 1], prev[:, 1])[0, 1], 1.0, atol=1e-6)
    assert second["n_epochs"] == projector.umap_epochs(n, warm_start=True)
    np.testing.assert_allclose(store.projection(rid, 1, "emb", "umap"), prev, atol=1e-4)  # Procrustes-aligned


def test_collapsed_pca_falls_back_to_umaps_own_start(store, monkeypatch):
    seen = []
    monkeypatch.setattr(projector.projections, "umap_2d",
                        lambda z, *, init=None, **kw: seen.append(init) or np.zeros((len(z), 2)))
    rid = store.create_run(RunConfig(**FAST), status=st.FINISHED)
    z = np.ones((50, 4), np.float32)
    store.add_snapshot(rid, 0, 0, {"emb": z, "rep": z, "pca_emb": np.zeros((50, 2), np.float32)}, {})
    projector.ProjectionWorker(store).compute(rid, 0, "emb")
    assert seen == [None]


@pytest.mark.parametrize(("cores", "one", "two", "four"), [(1, 1, 1, 1), (2, 1, 1, 1), (4, 3, 1, 1), (16, 15, 7, 3)])
def test_threads_per_worker_leaves_a_core(monkeypatch, cores, one, two, four):
    monkeypatch.setattr(runner.os, "cpu_count", lambda: cores)
    assert [runner.threads_per_worker(n) for n in (1, 2, 4)] == [one, two, four]


def test_worker_refits_threads_to_the_running_runs(store, monkeypatch):
    monkeypatch.setattr(runner.os, "cpu_count", lambda: 8)
    monkeypatch.delenv("LAB_CONCURRENCY", raising=False)
    a = store.create_run(RunConfig(**FAST), status=st.RUNNING)
    assert worker.thread_share(store) == 7  # alone: all cores but one
    store.create_run(RunConfig(**FAST), status=st.RUNNING)
    assert worker.thread_share(store) == 3  # a second run started: (8 - 1) // 2
    store.update_run(a, status=st.FINISHED)


def test_large_snapshot_maps_the_same_stratified_sample_every_epoch(store, monkeypatch):
    calls = []

    def fake_umap(z, *, init=None, n_epochs=200, seed=0, **kw):
        calls.append({"n": len(z), "init": None if init is None else np.array(init)})
        return np.array(init, dtype=np.float64) if init is not None else np.zeros((len(z), 2))

    monkeypatch.setattr(projector.projections, "umap_2d", fake_umap)
    monkeypatch.setattr(projector, "MAX_UMAP_POINTS", 100)
    rng = np.random.default_rng(0)
    rid = store.create_run(RunConfig(**FAST), status=st.FINISHED)
    n = 400
    y = np.repeat(np.arange(4), [250, 100, 40, 10])  # imbalanced classes
    for epoch in (0, 1):
        emb = rng.standard_normal((n, 8)).astype(np.float32)
        pca = rng.standard_normal((n, 2)).astype(np.float32)
        store.add_snapshot(rid, epoch, epoch, {"emb": emb, "rep": emb, "pca_emb": pca, "pca_rep": pca, "y": y}, {})
    pw = projector.ProjectionWorker(store)
    assert pw.step() and pw.step()  # epoch 0 and epoch 1 of "emb"
    assert [c["n"] for c in calls] == [100, 100]
    m0, m1 = store.projection(rid, 0, "emb", "umap"), store.projection(rid, 1, "emb", "umap")
    assert m0.shape == m1.shape == (n, 2)
    rows0, rows1 = np.flatnonzero(np.isfinite(m0).all(1)), np.flatnonzero(np.isfinite(m1).all(1))
    assert len(rows0) == 100
    np.testing.assert_array_equal(rows0, rows1)  # the same rows at every epoch
    np.testing.assert_array_equal(rows0, projector.map_rows(y, n))
    counts = np.bincount(y[rows0], minlength=4)
    np.testing.assert_allclose(counts, [62.5, 25, 10, 2.5], atol=0.5)  # the classes keep their shares
    # epoch 1 starts from epoch 0's map of the sampled rows (not from PCA) and is aligned to it
    np.testing.assert_allclose(np.corrcoef(calls[1]["init"][:, 0], m0[rows0, 0])[0, 1], 1.0, atol=1e-6)
    np.testing.assert_allclose(m1[rows1], m0[rows0], atol=1e-4)


def test_map_rows_keeps_small_snapshots_whole():
    np.testing.assert_array_equal(projector.map_rows(np.zeros(50, int), 50, limit=50), np.arange(50))
    rows = projector.map_rows(None, 500, limit=100)  # no labels: a plain seeded sample
    assert len(rows) == 100 and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(rows, projector.map_rows(None, 500, limit=100))
