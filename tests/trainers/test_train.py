"""The training loop in-process: snapshots, metrics, resume, divergence."""


import numpy as np
import pytest

from jobs import store as st
from tests.conftest import FAST
from trainers import data, objectives
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
    # the held-out rows are the dataset's fixed test split, the others its training split
    split = data.load(cfg)
    np.testing.assert_array_equal(snap["index"][snap["is_test"]], split.index_test)
    np.testing.assert_array_equal(snap["index"][~snap["is_test"]], split.index_train)
    np.testing.assert_array_equal(snap["y"][snap["is_test"]], split.y_test)
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


class Poisoned(objectives.Objective):
    """The registry's loss, multiplied by ``factor`` at call ``at``; records the losses it returned."""

    def __init__(self, inner, at: int, factor: float):
        super().__init__(inner.name, inner.temperature, inner.options)
        self.inner, self.at, self.factor, self.seen = inner, at, factor, []

    def forward(self, z, h, y, idx, x=None):
        loss = self.inner(z, h, y, idx)
        if len(self.seen) + 1 == self.at:
            loss = loss * self.factor
        self.seen.append(loss.item())
        return loss


def _poison(monkeypatch, at: int, factor: float) -> list[Poisoned]:
    made: list[Poisoned] = []
    real = objectives.build_objective

    def build(*a, **k):
        made.append(Poisoned(real(*a, **k), at, factor))
        return made[-1]

    monkeypatch.setattr("trainers.train.build_objective", build)
    return made


def test_nan_loss_stops_run_as_diverged_and_keeps_data(store, monkeypatch):
    made = _poison(monkeypatch, at=7, factor=float("nan"))
    cfg = RunConfig(**{**FAST, "epochs": 6})
    rid = _start(store, cfg)
    out = train_run(store, rid, log=lambda m: None)
    rec = store.get_run(rid)
    assert out["status"] == rec.status == st.DIVERGED
    assert "nan at step 7" in rec.reason
    # 11 steps per epoch at batch 128 -> step 7 is in epoch 1; the epoch-0 snapshot is kept
    assert [s.epoch for s in store.snapshots(rid)] == [0]
    assert store.load_snapshot(rid, 0)["emb"].shape[0] == 1797
    # the six finite losses before it are in the history (their mean, at step 6)
    h = store.history(rid)
    assert h["step"].tolist() == [6] and h["epoch"][0] == pytest.approx(6 / 11)
    assert h["loss"][0] == pytest.approx(np.mean(made[0].seen[:6]), rel=1e-5)


@pytest.mark.parametrize("factor, what", [(float("nan"), "became nan"), (1e9, "exploded to ")])
def test_divergence_at_step_2_keeps_the_first_steps_loss(store, monkeypatch, factor, what):
    made = _poison(monkeypatch, at=2, factor=factor)
    rid = _start(store, RunConfig(**{**FAST, "epochs": 2}))
    train_run(store, rid, log=lambda m: None)
    rec = store.get_run(rid)
    assert rec.status == st.DIVERGED and f"loss {what}" in rec.reason and "at step 2 (epoch 1)" in rec.reason
    h = store.history(rid)
    first = made[0].seen[0]
    assert np.isfinite(first) and h["step"].tolist() == [1] and h["loss"][0] == pytest.approx(first, rel=1e-6)


def test_loss_that_explodes_without_nan_is_diverged(store, monkeypatch):
    made = _poison(monkeypatch, at=1, factor=1e9)  # finite, and far beyond any healthy loss
    rid = _start(store, RunConfig(**{**FAST, "epochs": 3}))
    out = train_run(store, rid, log=lambda m: None)
    rec = store.get_run(rid)
    assert out["status"] == rec.status == st.DIVERGED
    value = made[0].seen[0]
    assert 1e6 < abs(value) < float("inf")
    assert rec.reason == (f"loss exploded to {value:.3g} (beyond the limit of 1e+06 in magnitude) at step 1 (epoch 1); "
                          "data kept, resume continues from the last checkpoint")
    assert len(store.history(rid)["step"]) == 0  # the first step already diverged: no loss to plot
    assert [s.epoch for s in store.snapshots(rid)] == [0]


def test_cancel_during_the_first_epoch_says_resume_starts_from_scratch(store, monkeypatch):
    monkeypatch.setattr("trainers.train.POLL_SECONDS", 0.0)  # poll after every step: stop inside epoch 1
    rid = _start(store, RunConfig(**{**FAST, "epochs": 2}))
    store.update_run(rid, cancel_requested=1)
    train_run(store, rid, log=lambda m: None)
    rec = store.get_run(rid)
    assert rec.status == st.CANCELLED and rec.epoch == 0
    assert rec.reason == "cancelled at epoch 0; resume starts from scratch"


def test_resume_from_a_checkpoint_repeats_the_uninterrupted_run(store, monkeypatch):
    """The checkpoint holds the batch order and augmentation generators: a run stopped after
    epoch 1 and resumed trains exactly the batches the uninterrupted run trains."""
    monkeypatch.setattr("trainers.train.POLL_SECONDS", 1e9)  # polls only at the ends of epochs
    cfg = RunConfig(**{**FAST, "epochs": 3})
    whole = _start(store, cfg)
    train_run(store, whole, log=lambda m: None)
    rid = _start(store, cfg)
    store.update_run(rid, cancel_requested=1)  # stops at the end of epoch 1
    train_run(store, rid, log=lambda m: None)
    rec = store.get_run(rid)
    assert rec.epoch == 1 and rec.reason == "cancelled at epoch 1; resume continues from epoch 1"
    store.update_run(rid, status=st.RUNNING, resume=1, cancel_requested=0)
    train_run(store, rid, log=lambda m: None)
    a, b = store.history(whole), store.history(rid)
    assert b["epoch"].tolist() == a["epoch"].tolist() == [1, 2, 3] and b["step"].tolist() == a["step"].tolist()
    np.testing.assert_allclose(b["loss"], a["loss"], rtol=1e-6)


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
