"""The training loop in-process: snapshots, metrics, resume, divergence."""

import numpy as np
import pytest
import torch

from tests.conftest import FAST
from trainers import objectives
from trainers import store as st
from trainers.config import RunConfig
from trainers.train import train_run


def _start(store, cfg):
    rid = store.create_run(cfg, status=st.RUNNING)
    return rid


def test_train_run_writes_snapshots_metrics_and_history(store):
    cfg = RunConfig(**FAST)
    rid = _start(store, cfg)
    out = train_run(store, rid, log=lambda m: None)
    assert out["status"] == st.FINISHED
    assert [s.epoch for s in store.snapshots(rid)] == [0, 1, 2, 4]
    snap = store.load_snapshot(rid, 4)
    n = 1797
    assert snap["emb"].shape == (n, 16) and snap["rep"].shape == (n, 32)
    assert snap["is_test"].sum() == len(snap["y"]) - (~snap["is_test"]).sum()
    assert snap["spectrum_emb"].shape == (16,) and np.all(np.diff(snap["spectrum_emb"]) <= 0)
    m0, m4 = store.snapshots(rid)[0].metrics, store.snapshots(rid)[-1].metrics
    for k in ("knn_accuracy", "linear_accuracy", "alignment", "uniformity", "rankme"):
        assert k in m4
    assert m4["knn_accuracy"] > 0.5
    # training moved the embeddings: uniformity improves from the random init
    assert m4["uniformity"] < m0["uniformity"]
    h = store.history(rid)
    assert h["epoch"].max() == 4 and np.all(np.isfinite(h["loss"]))
    rec = store.get_run(rid)
    assert rec.status == st.FINISHED and rec.epoch == 4 and rec.metrics["epoch"] == 4


def test_same_seed_same_result(store):
    cfg = RunConfig(**{**FAST, "epochs": 2})
    a = train_run(store, _start(store, cfg), log=lambda m: None)
    b = train_run(store, _start(store, cfg), log=lambda m: None)
    assert a["alignment"] == pytest.approx(b["alignment"], rel=1e-5)


def test_resume_continues_from_checkpoint(store):
    cfg = RunConfig(**{**FAST, "epochs": 4})
    rid = _start(store, cfg)
    store.update_run(rid, cancel_requested=1)  # cancelled at the first poll after epoch 1
    out = train_run(store, rid, log=lambda m: None)
    assert out["status"] == st.CANCELLED
    done = store.get_run(rid).epoch
    assert done < 4
    assert store.checkpoint_path(rid).exists()
    store.update_run(rid, status=st.RUNNING, resume=1, cancel_requested=0)
    out = train_run(store, rid, log=lambda m: None)
    assert out["status"] == st.FINISHED
    assert [s.epoch for s in store.snapshots(rid)] == [0, 1, 2, 4]
    h = store.history(rid)
    assert len(np.unique(h["step"])) == len(h["step"])  # no duplicate steps after resume


def test_nan_loss_stops_run_as_diverged_and_keeps_data(store, monkeypatch):
    real = objectives.build_objective

    class Poisoned(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.calls = inner, 0

        def per_sample(self):
            return {}

        def forward(self, z, h, y, idx):
            self.calls += 1
            loss = self.inner(z, h, y, idx)
            return loss * float("nan") if self.calls == 7 else loss

    monkeypatch.setattr("trainers.train.build_objective", lambda *a, **k: Poisoned(real(*a, **k)))
    cfg = RunConfig(**{**FAST, "epochs": 6})
    rid = _start(store, cfg)
    out = train_run(store, rid, log=lambda m: None)
    rec = store.get_run(rid)
    assert out["status"] == rec.status == st.DIVERGED
    assert "nan at step 7" in rec.reason
    # 11 steps per epoch at batch 128 -> step 7 is in epoch 1; the epoch-0 snapshot is kept
    assert [s.epoch for s in store.snapshots(rid)] == [0]
    assert store.load_snapshot(rid, 0)["emb"].shape[0] == 1797


def test_jing_toy_collapses_with_a_linear_network(store):
    """Jing et al. (2022): noise on the last 8 of 16 dims -> about 8 embedding directions collapse."""
    cfg = RunConfig(dataset="jing_toy", encoder="linear", loss="nt_xent", epochs=40, rep_dim=16, proj_dim=16,
                    snapshot_every="40", threads=1)
    rid = _start(store, cfg)
    train_run(store, rid, log=lambda m: None)
    lam0 = store.load_snapshot(rid, 0)["spectrum_emb"]
    lam = store.load_snapshot(rid, 40)["spectrum_emb"]
    kept = int((lam > 1e-3 * lam[0]).sum())
    assert 7 <= kept <= 9, lam  # a cliff after about 8 directions
    assert lam[8] < 1e-3 * lam[7]
    assert (lam0 > 1e-3 * lam0[0]).sum() > kept  # it was not there at initialisation


def test_knn_probe_uses_a_fixed_stratified_sample_of_a_large_held_out_split(store, monkeypatch):
    from analysis import probes
    from trainers import evaluate

    monkeypatch.setattr(evaluate, "KNN_MAX_QUERIES", 100)  # digits holds out 359 samples
    rid = store.create_run(RunConfig(**{**FAST, "epochs": 2}), status=st.RUNNING)
    train_run(store, rid, log=lambda m: None)
    snaps = store.snapshots(rid)
    a = store.load_snapshot(rid, snaps[-1].epoch)
    te = a["is_test"]
    q = evaluate.knn_query_rows(a["y"][te])
    assert len(q) == 100 and np.array_equal(q, evaluate.knn_query_rows(a["y"][te]))
    np.testing.assert_allclose(np.bincount(a["y"][te][q], minlength=10) / 100,
                               np.bincount(a["y"][te], minlength=10) / te.sum(), atol=0.011)
    m = snaps[-1].metrics
    assert m["n_knn_eval"] == 100 and m["n_eval"] == int(te.sum()) > 300
    want = probes.knn_accuracy(a["rep"][~te], a["y"][~te], a["rep"][te][q], a["y"][te][q])
    assert m["knn_accuracy"] == pytest.approx(want, abs=1e-12)
    everyone = probes.knn_accuracy(a["rep"][~te], a["y"][~te], a["rep"][te], a["y"][te])
    assert abs(m["knn_accuracy"] - everyone) < 0.1  # an estimate of the same figure
    # the probe's outcome per held-out sample: NaN on training rows and on unsampled held-out rows
    hit = a["knn_hit"]
    np.testing.assert_array_equal(np.flatnonzero(np.isfinite(hit)), np.flatnonzero(te)[q])
    assert np.nanmean(hit) == pytest.approx(m["knn_accuracy"], abs=1e-12)
