"""Distillation in the training loop: the wrapper's formula, frozen teachers, MSD's EMA
teacher and centre, scarce labels, teacher validation, groups, and real short runs."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from jobs import runner, teachers
from jobs import store as st
from jobs.worker import run_worker
from tests.conftest import FAST
from trainers import data as data_mod
from trainers import distill
from trainers.config import ConfigError, RunConfig
from trainers.encoders import build_encoder
from trainers.losses import momentum_schedule
from trainers.objectives import build_objective
from trainers.train import train_run

ROOT = Path(__file__).resolve().parents[2]
SMALL = {**FAST, "epochs": 2, "hidden_dim": 32, "rep_dim": 16, "proj_dim": 16}
TEACHER = {**FAST, "epochs": 2, "name": "teacher"}  # MLP 64-64-32


def _cfg(**changes) -> RunConfig:
    return RunConfig(**{**SMALL, **changes})


def _train(store: st.Store, cfg: RunConfig) -> str:
    rid = store.create_run(cfg, status=st.RUNNING)
    out = train_run(store, rid, log=lambda m: None)
    assert out["status"] == st.FINISHED, out
    return rid


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One store with one finished teacher for the tests that only read it."""
    s = st.Store(tmp_path_factory.mktemp("distill_shared"))
    return s, _train(s, RunConfig(**TEACHER))


def _views(ds, b: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(ds.x_train), generator=g)[:b]
    x = torch.as_tensor(ds.x_train)[idx]
    xv = torch.stack([x + 0.05 * torch.randn(x.shape, generator=g) for _ in range(2)])  # (2, B, F)
    return xv, torch.as_tensor(ds.y_train)[idx], idx


def _wrapper(store, cfg: RunConfig, model: torch.nn.Module):
    ds = data_mod.load(cfg)
    task = build_objective(cfg.loss, temperature=cfg.effective_temperature, options=cfg.loss_options,
                           num_samples=len(ds.x_train), rep_dim=cfg.rep_dim, train_targets=ds.y_train)
    t = store.get_run(cfg.teacher) if cfg.teacher else None
    teacher = distill.load_teacher(t.id, t.config, store.checkpoint_path(t.id), ds.n_features, torch.device("cpu")) if t else None
    obj = distill.setup_objective(task, cfg, data=ds, teacher=teacher, device=torch.device("cpu"))
    return obj, ds


# --------------------------------------------------------------------------- the KD wrapper


def test_kd_through_the_wrapper_equals_the_formula(shared):
    store, teacher_run = shared
    cfg = _cfg(loss="cross_entropy", teacher=teacher_run, distill="kd", task_weight=0.0, label_fraction=0.1)
    torch.manual_seed(0)
    model = build_encoder("mlp", 64, hidden_dim=32, rep_dim=16, proj_dim=16)
    obj, ds = _wrapper(store, cfg, model)
    xv, y, idx = _views(ds)
    h, z = model(xv.reshape(-1, 64))
    h, z = h.view(2, 64, -1), z.view(2, 64, -1)
    got = obj(z, h, y, idx, x=xv)
    # by hand: teacher logits = the fitted linear classifier on the frozen teacher's representations
    s_logits = obj.task.head(h.reshape(-1, 16))
    with torch.no_grad():
        t_logits = obj._teacher_head(obj._teacher.rep(xv.reshape(-1, 64)))
    T = 4.0
    p = torch.softmax(t_logits / T, 1)
    want = T * T * (p * (torch.log(p) - torch.log_softmax(s_logits / T, 1))).sum(1).mean()
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    ref = T * T * F.kl_div(F.log_softmax(s_logits / T, 1), F.softmax(t_logits / T, 1), reduction="batchmean")
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    # the teacher's classifier was fitted on the labelled 10% only and predicts well above chance
    assert obj._teacher_head.weight.requires_grad is False
    acc = (t_logits.argmax(1) == y.repeat(2)).float().mean()
    assert acc > 0.5

    # with a task weight: + task_weight * cross-entropy over the LABELLED rows of the batch only
    cfg2 = cfg.replace(task_weight=0.5)
    obj2, _ = _wrapper(store, cfg2, model)
    obj2.task.head.load_state_dict(obj.task.head.state_dict())
    keep = obj2.labelled[idx]
    assert 0 < int(keep.sum()) < len(idx)
    ce = F.cross_entropy(obj2.task.head(h[:, keep].reshape(-1, 16)), y[keep].repeat(2))
    torch.testing.assert_close(obj2(z, h, y, idx, x=xv), 0.5 * ce + want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["feature", "feature_cosine", "similarity", "crd", "rkd"])
def test_other_kinds_equal_their_loss_view_by_view(shared, kind):
    store, teacher_run = shared
    from trainers.losses import rkd, similarity_distillation

    cfg = _cfg(loss="cross_entropy", teacher=teacher_run, distill=kind, task_weight=0.0)
    model = build_encoder("mlp", 64, hidden_dim=32, rep_dim=16, proj_dim=16)
    obj, ds = _wrapper(store, cfg, model)
    xv, y, idx = _views(ds, b=16)
    h, z = model(xv.reshape(-1, 64))
    h, z = h.view(2, 16, -1), z.view(2, 16, -1)
    ht = obj._teacher.rep(xv.reshape(-1, 64)).view(2, 16, -1)
    fn = {"feature": lambda a, b: obj.feature(a, b), "feature_cosine": lambda a, b: obj.feature(a, b),
          "similarity": lambda a, b: similarity_distillation(a, b, temperature=0.1), "crd": lambda a, b: obj.crd(a, b),
          "rkd": lambda a, b: rkd(a, b)}[kind]
    want = 0.5 * (fn(h[0], ht[0]) + fn(h[1], ht[1]))
    torch.testing.assert_close(obj(z, h, y, idx, x=xv), want, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- frozen teacher, real runs


def test_real_kd_run_with_scarce_labels_leaves_the_teacher_unchanged(shared):
    store, teacher_run = shared
    ck = store.checkpoint_path(teacher_run)
    before = _sha(ck)
    teacher_state = {k: v.clone() for k, v in torch.load(ck, weights_only=True)["model"].items()}
    cfg = _cfg(epochs=3, loss="cross_entropy", teacher=teacher_run, distill="kd", label_fraction=0.1)
    rid = _train(store, cfg)
    m = store.get_run(rid).metrics
    for k in ("cka_teacher", "knn_overlap_teacher", "head_accuracy", "knn_accuracy_labelled", "linear_accuracy_labelled"):
        assert k in m and 0 <= m[k] <= 1, k
    assert m["cka_teacher"] > 0.2  # far above unrelated matrices (about sqrt(32 * 16) / 359 = 0.06)
    ds = data_mod.load(cfg)
    assert m["n_labelled"] == distill.label_mask(ds.y_train, 0.1, seed=cfg.seed).sum()
    assert all("cka_teacher" in s.metrics for s in store.snapshots(rid))  # every epoch, for the page
    # the teacher's files and weights are untouched
    assert _sha(ck) == before
    for k, v in torch.load(ck, weights_only=True)["model"].items():
        torch.testing.assert_close(v, teacher_state[k])


def test_teacher_gets_no_gradient(shared):
    store, teacher_run = shared
    cfg = _cfg(loss="cross_entropy", teacher=teacher_run, distill="similarity")
    model = build_encoder("mlp", 64, hidden_dim=32, rep_dim=16, proj_dim=16)
    obj, ds = _wrapper(store, cfg, model)
    enc = obj._teacher.encoder
    bn = {k: v.clone() for k, v in enc.state_dict().items()}
    xv, y, idx = _views(ds)
    h, z = model(xv.reshape(-1, 64))
    obj(z.view(2, 64, -1), h.view(2, 64, -1), y, idx, x=xv).backward()
    assert all(p.grad is None and not p.requires_grad for p in enc.parameters())
    assert all(p.grad is not None for p in model.backbone.parameters())  # the student learns
    for k, v in enc.state_dict().items():  # eval mode: BatchNorm running statistics unchanged too
        torch.testing.assert_close(v, bn[k])
    assert not any(p is q for p in obj.parameters() for q in enc.parameters())  # not in the optimiser


def test_student_trained_alone_with_scarce_labels(store):
    from analysis import probes

    cfg = _cfg(loss="cross_entropy", label_fraction=0.1)
    rid = _train(store, cfg)
    m = store.get_run(rid).metrics
    assert "cka_teacher" not in m
    # the probe of the labelled 10%: fitted on those training rows only, scored on the held-out split
    ds = data_mod.load(cfg)
    lab = distill.label_mask(ds.y_train, 0.1, seed=cfg.seed)
    assert m["n_labelled"] == lab.sum() < len(ds.y_train) / 5
    a = store.load_snapshot(rid, cfg.epochs)
    te = a["is_test"]
    want = probes.linear_probe_accuracy(a["rep"][~te][lab], a["y"][~te][lab], a["rep"][te], a["y"][te])
    assert m["linear_accuracy_labelled"] == pytest.approx(want, abs=1e-12)


def test_label_mask_is_stratified_and_seeded():
    y = np.repeat(np.arange(10), [50, 40, 30, 30, 30, 30, 30, 30, 30, 7])
    m = distill.label_mask(y, 0.1, seed=3)
    assert [int(m[y == c].sum()) for c in range(10)] == [5, 4, 3, 3, 3, 3, 3, 3, 3, 1]
    np.testing.assert_array_equal(m, distill.label_mask(y, 0.1, seed=3))
    assert not np.array_equal(m, distill.label_mask(y, 0.1, seed=4))
    assert distill.label_mask(y, 1.0, seed=0).all()
    assert distill.label_mask(np.linspace(0, 1, 100), 0.05, seed=0, classification=False).sum() == 5


# --------------------------------------------------------------------------- momentum self-distillation


def _msd(options: dict | None = None, total_steps: int = 100):
    cfg = _cfg(loss="msd", loss_options={"out_dim": 32, **(options or {})})
    torch.manual_seed(0)
    model = build_encoder("mlp", 64, hidden_dim=32, rep_dim=16, proj_dim=16)
    ds = data_mod.load(cfg)
    obj = build_objective("msd", temperature=cfg.effective_temperature, options=cfg.loss_options,
                          num_samples=len(ds.x_train), rep_dim=cfg.rep_dim, proj_dim=cfg.proj_dim, model=model,
                          x_test=ds.x_test, total_steps=total_steps)
    return obj, model, ds


def test_msd_ema_teacher_update_and_no_gradient():
    obj, model, ds = _msd()
    opt = torch.optim.SGD([p for p in list(model.parameters()) + list(obj.parameters()) if p.requires_grad], lr=0.5)
    xv, y, idx = _views(ds)
    h, z = model(xv.reshape(-1, 64))
    loss = obj(z.view(2, 64, -1), h.view(2, 64, -1), y, idx, x=xv)
    loss.backward()
    assert all(p.grad is None for p in obj.teacher_encoder.parameters())
    assert all(p.grad is None for p in obj.teacher_head.parameters())
    assert obj.head.prototypes.grad is not None
    t_before = {k: v.clone() for k, v in obj.teacher_encoder.named_parameters()}
    opt.step()
    s_after = dict(model.named_parameters())
    assert any(not torch.equal(s_after[k], t_before[k]) for k in t_before)  # the student moved
    obj.after_step()
    m = momentum_schedule(0, 100)
    assert m == pytest.approx(0.996)
    for k, v in obj.teacher_encoder.named_parameters():
        torch.testing.assert_close(v, m * t_before[k] + (1 - m) * s_after[k].detach())
    assert int(obj.updates) == 1
    # the next update uses the next step of the cosine schedule
    t1 = {k: v.clone() for k, v in obj.teacher_head.named_parameters()}
    obj.after_step()
    m1 = momentum_schedule(1, 100)
    torch.testing.assert_close(obj.teacher_head.prototypes, m1 * t1["prototypes"] + (1 - m1) * obj.head.prototypes.detach())


def test_msd_centre_update_uses_the_teacher_outputs_of_the_batch():
    obj, model, ds = _msd()
    xv, y, idx = _views(ds)
    with torch.no_grad():
        t = obj.teacher_head(obj.teacher_encoder(xv.reshape(-1, 64))[1])  # (2B, K), same (train) mode as in forward
    assert torch.count_nonzero(obj.loss.center) == 0
    h, z = model(xv.reshape(-1, 64))
    obj(z.view(2, 64, -1), h.view(2, 64, -1), y, idx, x=xv)
    torch.testing.assert_close(obj.loss.center, 0.1 * t.mean(0), rtol=1e-5, atol=1e-6)
    c1 = obj.loss.center.clone()
    h, z = model(xv.reshape(-1, 64))
    obj(z.view(2, 64, -1), h.view(2, 64, -1), y, idx, x=xv)
    with torch.no_grad():
        t2 = obj.teacher_head(obj.teacher_encoder(xv.reshape(-1, 64))[1])
    torch.testing.assert_close(obj.loss.center, 0.9 * c1 + 0.1 * t2.mean(0), rtol=1e-4, atol=1e-5)


def test_msd_switches_reach_the_loss():
    obj, _, _ = _msd({"centering": False, "sharpening": False})
    assert obj.loss.centering is False and obj.loss.sharpening is False
    obj, _, _ = _msd({"teacher_temp": 0.07})
    assert obj.loss.teacher_temp == 0.07 and obj.loss.student_temp == 0.1


def test_real_msd_run_with_accumulation(store):
    cfg = _cfg(loss="msd", accum_steps=2, loss_options={"out_dim": 32})
    rid = _train(store, cfg)
    m = store.get_run(rid).metrics
    assert 0 <= m["teacher_entropy"] <= m["entropy_max"] + 1e-6 and m["entropy_max"] == pytest.approx(np.log(32))
    assert 0 <= m["teacher_mean_entropy"] <= m["entropy_max"] + 1e-6
    ck = torch.load(store.checkpoint_path(rid), weights_only=True)
    assert int(ck["objective"]["updates"]) == 2 * 6  # 11 micro-batches per epoch -> 6 optimiser steps, 2 epochs
    assert any(k.startswith("teacher_encoder.") for k in ck["objective"])


@pytest.mark.parametrize("kind", ["msd", "kd"])
def test_cancel_and_resume(store, kind):
    if kind == "msd":
        cfg = _cfg(epochs=3, loss="msd", loss_options={"out_dim": 32})
    else:
        t = _train(store, RunConfig(**TEACHER))
        cfg = _cfg(epochs=3, loss="cross_entropy", teacher=t, distill="kd", label_fraction=0.5)
    rid = store.create_run(cfg, status=st.RUNNING)
    store.update_run(rid, cancel_requested=1)
    assert train_run(store, rid, log=lambda m: None)["status"] == st.CANCELLED
    store.update_run(rid, status=st.RUNNING, resume=1, cancel_requested=0)
    assert train_run(store, rid, log=lambda m: None)["status"] == st.FINISHED
    assert [s.epoch for s in store.snapshots(rid)] == [0, 1, 2, 3]


# --------------------------------------------------------------------------- validation


def test_bad_teacher_is_refused_with_a_message(shared):
    store, teacher_run = shared
    with pytest.raises(ConfigError, match="'nope' is not a run in the store"):
        teachers.check_teacher(store, "nope")
    queued = store.create_run(RunConfig(**TEACHER))
    with pytest.raises(ConfigError, match="is queued, not finished"):
        teachers.check_teacher(store, queued)
    student = RunConfig(dataset="wine", loss="cross_entropy", teacher=teacher_run, distill="kd")
    with pytest.raises(ConfigError, match="trained with dataset = 'digits', this run has 'wine'"):
        teachers.check_teacher(store, teacher_run, student)
    # a worker started on a bad teacher fails at once, with the message as the reason
    rid = store.create_run(_cfg(loss="cross_entropy", teacher="nope", distill="kd"), status=st.RUNNING)
    assert run_worker(store, rid) == 1
    rec = store.get_run(rid)
    assert rec.status == st.FAILED and "ConfigError" in rec.reason and "'nope' is not a run in the store" in rec.reason


def test_cli_refuses_a_bad_teacher_before_creating_the_run(tmp_path):
    env = {**os.environ, "LAB_STORE": str(tmp_path)}
    p = subprocess.run([sys.executable, "-m", "trainers", "train", "--loss", "cross_entropy", "--teacher", "nope",
                        "--distill", "kd", "--label-fraction", "0.1"], capture_output=True, text=True, env=env, cwd=ROOT,
                       timeout=120)
    assert p.returncode == 2 and "'nope' is not a run in the store" in p.stderr and "Traceback" not in p.stderr
    assert st.Store(tmp_path).list_runs() == []


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"distill": "kd"}, "needs a teacher"),
        ({"teacher": "abc"}, "no distillation loss"),
        ({"teacher": "abc", "distill": "fitnet"}, "unknown distillation loss 'fitnet'"),
        ({"dataset": "diabetes", "loss": "l1", "teacher": "abc", "distill": "kd"}, "needs a classification dataset"),
        ({"dataset": "diabetes", "loss": "cross_entropy"}, "cross_entropy needs a classification dataset"),
        ({"label_fraction": 0.0}, "label fraction must be in (0, 1]"),
        ({"accum_steps": 0}, "accumulation steps must be an integer in [1, 256]"),
        ({"teacher": "abc", "distill": "kd", "distill_weight": -1.0}, "distill weight must be in [0, 1000]"),
        ({"teacher": "abc", "distill": "kd", "distill_weight": 0.0, "task_weight": 0.0}, "nothing to train"),
        ({"loss": "msd", "teacher": "abc", "distill": "kd"}, "EMA copy of the student"),
        ({"loss": "msd", "loss_options": {"centring": True}}, "unknown msd option(s) centring"),
        ({"loss": "msd", "loss_options": {"centering": "yes"}}, "must be true or false"),
        ({"loss": "msd", "loss_options": {"out_dim": 1}}, "out_dim must be an integer"),
        ({"teacher": "@x", "distill": "kd"}, "a group reference is '@' and a run number"),
    ],
)
def test_bad_distillation_configs_are_refused(changes, fragment):
    with pytest.raises(ConfigError) as e:
        RunConfig(**changes)
    assert fragment in str(e.value)


# --------------------------------------------------------------------------- preset groups and the scheduler


def test_group_reference_resolves_and_student_waits_for_its_teacher(store):
    from trainers.presets import get_preset

    p = get_preset("Distillation: KD vs alone with 10% labels")
    configs = [RunConfig.from_dict({**c, "epochs": 2}) for c in p.configs]
    assert configs[0].teacher == "" and any(c.teacher == "@0" for c in configs)
    ids = runner.submit_group(store, configs, start=False)
    recs = [store.get_run(i) for i in ids]
    assert all(r.config["teacher"] in ("", ids[0]) for r in recs)
    students = [r for r in recs if r.config["teacher"] == ids[0]]
    assert students and all(teachers.teacher_gate(store, r) is False for r in students)  # teacher queued: wait
    assert teachers.teacher_gate(store, recs[0]) is True
    store.update_run(ids[0], status=st.FINISHED)
    assert all(teachers.teacher_gate(store, store.get_run(r.id)) for r in students)
    store.update_run(ids[0], status=st.CANCELLED)
    teachers.teacher_gate(store, store.get_run(students[0].id))
    rec = store.get_run(students[0].id)
    assert rec.status == st.FAILED and "is cancelled" in rec.reason


def test_scheduler_tick_holds_a_student_until_its_teacher_finished(store, monkeypatch):
    launched = []
    monkeypatch.setattr(runner, "launch_worker", lambda s, rid, threads=None: launched.append(rid))
    t = store.create_run(RunConfig(**TEACHER))
    s_cfg = _cfg(loss="cross_entropy", teacher=t, distill="kd")
    sid = store.create_run(s_cfg)
    store.update_run(t, status=st.RUNNING)  # the teacher is training
    sched = runner.Scheduler(store, umap=False)
    assert sched.tick() is True
    assert launched == [] and store.get_run(sid).status == st.QUEUED
    store.update_run(t, status=st.FINISHED, pid=None)
    sched.tick()
    assert launched == [sid]
