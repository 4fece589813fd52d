"""Distillation in the training loop: teachers, students, scarce labels, momentum self-distillation.

The one training loop (:func:`trainers.train.train_run`) builds the registry loss, then
calls :func:`setup_objective`, which returns it unchanged or wraps it; either way it is an
ordinary objective (trainers.objectives.Objective), called with ``x=`` the (V, B, F)
augmented views when it says ``needs_input = True`` (a teacher must see the same views as
the student), with ``after_step()`` after every optimiser step (the EMA teacher of MSD) and
``snapshot_extra(arrays)`` when a snapshot is taken (CKA to the teacher, ...).

Three cases:

1. **A teacher run** (``cfg.teacher`` = id of a finished run, ``cfg.distill`` a kind):
   :class:`Distilled` adds ``distill_weight * D`` to ``task_weight * task``. The teacher
   encoder is rebuilt from its run's config and checkpoint, put in eval mode with frozen
   parameters, and is NOT part of the objective's state (a resume reloads it from its
   run). Every distillation term compares REPRESENTATIONS h (encoder outputs, the space
   the probes and the CKA read), view by view, on the same augmented views:

   - ``kd``: Hinton KD (T = 4) between student logits and teacher logits. Student logits:
     the cross-entropy head when the task loss is ``cross_entropy`` (Hinton's setting, one
     head for both terms), else a linear head of its own. Teacher logits: a linear
     classifier (standardised logistic regression, C = 1) fitted at the start of the run on
     the teacher's representations of the CLEAN training split, labelled part only (the
     student's label mask), then frozen;
   - ``feature`` / ``feature_cosine``: MSE / (1 - cos) between a learned linear projection
     of the student's h and the teacher's h (raw, not normalised: the MSE also matches norms);
   - ``similarity``: in-batch similarity distributions, tau = 0.1, self excluded;
   - ``crd``: linear + L2 heads to a shared 128-d space, in-batch InfoNCE, tau = 0.07;
   - ``rkd``: distance (25) and angle (50) terms.

2. **Scarce labels** (``cfg.label_fraction < 1``): a fixed, stratified, seeded subset of
   the training split keeps its labels (:func:`label_mask`); a supervised or regression
   task loss sees only the labelled rows of each batch (0 when fewer than 2 are in it);
   distillation terms see every row (that is the point: the teacher labels the rest).

3. **Momentum self-distillation** (the registry loss ``msd``): :class:`MSDObjective`, an
   EMA teacher copy of the student encoder plus a DINO-style head, centring and sharpening
   switchable; no teacher run.

Snapshot metrics added here (held-out split, representation space): ``cka_teacher``
(linear CKA), ``knn_overlap_teacher`` (shared 10-NN fraction); with scarce labels
``knn_accuracy_labelled`` / ``linear_accuracy_labelled`` (probes fitted on the labelled
training rows only) and ``n_labelled``; with a classifier head ``head_accuracy``; for
MSD ``teacher_entropy``, ``teacher_mean_entropy``, ``student_entropy``, ``entropy_max``.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from analysis import probes
from analysis.similarity import knn_overlap, linear_cka
from trainers import registry
from trainers.config import RunConfig
from trainers.data import DataSplit
from trainers.encoders import build_encoder
from trainers.losses import (
    CRDHead,
    FeatureDistillation,
    MSDLoss,
    ema_update,
    kd,
    momentum_schedule,
    rkd,
    similarity_distillation,
)
from trainers.objectives import Context, Objective
from trainers.registry import LossSpec

LABEL_SEED = 20_231  # label subsets depend on the run's seed only: runs with the same seed share them
KD_T = 4.0
SIMILARITY_TAU = 0.1
CRD_TAU, CRD_DIM = 0.07, 128
OVERLAP_K = 10


# --------------------------------------------------------------------------- labels


def label_mask(y: np.ndarray, fraction: float, *, seed: int, classification: bool = True) -> np.ndarray:
    """(N,) bool: which training samples keep their labels.

    Classification: stratified, ``max(1, round(fraction * n_c))`` samples of each class c.
    Regression: ``max(2, round(fraction * N))`` samples. Chosen with a generator seeded by
    ``LABEL_SEED + seed``; ``fraction = 1`` keeps all.
    """
    y = np.asarray(y)
    n = len(y)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if fraction >= 1:
        return np.ones(n, bool)
    rng = np.random.default_rng(LABEL_SEED + int(seed))
    mask = np.zeros(n, bool)
    if classification:
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            k = max(1, int(round(fraction * len(idx))))
            mask[rng.choice(idx, size=min(k, len(idx)), replace=False)] = True
    else:
        k = min(n, max(2, int(round(fraction * n))))
        mask[rng.choice(n, size=k, replace=False)] = True
    return mask


# --------------------------------------------------------------------------- teachers


class FrozenTeacher:
    """A teacher run's encoder, in eval mode, parameters frozen (not an nn.Module on
    purpose: it stays out of the student's optimiser and checkpoint)."""

    def __init__(self, run_id: str, config: RunConfig, encoder: nn.Module) -> None:
        self.run_id, self.config, self.encoder = run_id, config, encoder
        self.rep_dim = config.rep_dim

    @torch.no_grad()
    def rep(self, x: torch.Tensor) -> torch.Tensor:
        """(N, F) -> (N, R_t) representations, eval mode (BatchNorm running statistics)."""
        self.encoder.eval()
        return self.encoder(x)[0]


def load_teacher(run_id: str, config: dict, checkpoint: Path, n_features: int, device: torch.device) -> FrozenTeacher:
    """The teacher run ``run_id`` rebuilt from its stored ``config`` and ``checkpoint`` (the job
    system checks first that it may teach: jobs.teachers.check_teacher)."""
    tcfg = RunConfig.from_dict(config)
    enc = build_encoder(tcfg.encoder, n_features, hidden_dim=tcfg.hidden_dim, rep_dim=tcfg.rep_dim, proj_dim=tcfg.proj_dim)
    ck = torch.load(checkpoint, map_location="cpu", weights_only=True)
    enc.load_state_dict(ck["model"])
    enc.to(device).eval()
    enc.requires_grad_(False)
    return FrozenTeacher(run_id, tcfg, enc)


def _embed_rep(fn, x: np.ndarray, device: torch.device, batch: int = 2048) -> np.ndarray:
    out = [fn(torch.as_tensor(x[i : i + batch], device=device)).float().cpu() for i in range(0, len(x), batch)]
    return torch.cat(out).numpy()


def fit_teacher_classifier(rep: np.ndarray, y: np.ndarray, n_classes: int) -> nn.Linear:
    """A frozen linear layer whose outputs are the logits of a standardised logistic
    regression (C = 1, as the linear probe) fitted on ``rep`` (N, R) with labels ``y``.
    The standardisation is folded into the weights: W' = W / sd, b' = b - W' mu."""
    from sklearn.linear_model import LogisticRegression

    mu, sd = rep.mean(0), rep.std(0) + 1e-8
    clf = LogisticRegression(C=1.0, max_iter=1000).fit((rep - mu) / sd, y)
    W = np.zeros((n_classes, rep.shape[1]))
    b = np.full(n_classes, -30.0)  # a class never seen in the labelled set gets ~0 probability
    if len(clf.classes_) == 2:  # binary: sklearn keeps one logit; split it symmetrically
        c0, c1 = clf.classes_
        W[c1], b[c1] = 0.5 * clf.coef_[0], 0.5 * clf.intercept_[0]
        W[c0], b[c0] = -0.5 * clf.coef_[0], -0.5 * clf.intercept_[0]
    else:
        W[clf.classes_], b[clf.classes_] = clf.coef_, clf.intercept_
    W = W / sd
    b = b - W @ mu
    lin = nn.Linear(rep.shape[1], n_classes)
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(W, dtype=torch.float32))
        lin.bias.copy_(torch.as_tensor(b, dtype=torch.float32))
    lin.requires_grad_(False)
    return lin


# --------------------------------------------------------------------------- the combined objective


class Distilled(Objective):
    """task_weight * task(z, h, y, index) [labelled rows only] + distill_weight * D(h_s, h_t).

    ``teacher`` None: no distillation term (the scarce-label student trained alone).
    """

    needs_input = True

    def __init__(self, task: nn.Module, cfg: RunConfig, data: DataSplit, *, teacher: FrozenTeacher | None,
                 mask: np.ndarray, device: torch.device) -> None:
        super().__init__(cfg.loss, cfg.effective_temperature, cfg.loss_options)
        self.task = task
        self.kind = cfg.distill if teacher is not None else ""
        self.task_weight = float(cfg.task_weight) if self.kind else 1.0
        self.distill_weight = float(cfg.distill_weight)
        self.mask_labels = cfg.label_fraction < 1 and registry.LOSSES[cfg.loss].task in ("supervised", "regression")
        self.classification = data.task == "classification"
        self.register_buffer("labelled", torch.as_tensor(mask, dtype=torch.bool))  # (N_train,)
        self._mask_np = mask
        self._teacher = teacher
        self._teacher_rep_test: np.ndarray | None = None
        self._teacher_head: nn.Linear | None = None
        rs = cfg.rep_dim
        if teacher is not None:
            rt = teacher.rep_dim
            self._teacher_rep_test = _embed_rep(teacher.rep, data.x_test, device)  # (N_test, R_t)
            if self.kind == "kd":
                n_cls = data.n_classes
                rep_tr = _embed_rep(teacher.rep, data.x_train, device)
                self._teacher_head = fit_teacher_classifier(rep_tr[mask], data.y_train[mask], n_cls).to(device)
                if cfg.loss != "cross_entropy":
                    self.student_head = nn.Linear(rs, n_cls)  # KD's own logits when the task has no classifier
            elif self.kind in ("feature", "feature_cosine"):
                self.feature = FeatureDistillation(rs, rt, kind="mse" if self.kind == "feature" else "cosine")
            elif self.kind == "crd":
                self.crd = CRDHead(rs, rt, dim=CRD_DIM, temperature=CRD_TAU)

    # -- the pieces ----------------------------------------------------------------------
    def classifier(self) -> nn.Module | None:
        """The student's classifier head (cross-entropy task head, else KD's own), if any."""
        if self.name == "cross_entropy":
            return self.task.head
        return getattr(self, "student_head", None)

    def task_loss(self, z, h, y, index) -> torch.Tensor:
        if not self.mask_labels:
            return self.task(z, h, y, index)
        keep = self.labelled[index]  # (B,)
        if int(keep.sum()) < 2:  # no labelled pair in this batch: the task term is 0 here
            return h.sum() * 0.0
        return self.task(z[:, keep], h[:, keep], y[keep], index[keep])

    def distill_loss(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """h: (V, B, R_s) student representations; x: (V, B, F) the same views."""
        V, B = h.shape[:2]
        ht = self._teacher.rep(x.reshape(V * B, -1)).view(V, B, -1)  # (V, B, R_t), no grad
        if self.kind == "kd":
            s = self.classifier()(h.reshape(V * B, -1))  # (V*B, C)
            t = self._teacher_head(ht.reshape(V * B, -1))  # (V*B, C)
            return kd(s, t, T=KD_T)
        terms = []
        for v in range(V):
            hs, tv = h[v], ht[v]  # (B, R_s), (B, R_t)
            if self.kind in ("feature", "feature_cosine"):
                terms.append(self.feature(hs, tv))
            elif self.kind == "similarity":
                terms.append(similarity_distillation(hs, tv, temperature=SIMILARITY_TAU))
            elif self.kind == "crd":
                terms.append(self.crd(hs, tv))
            elif self.kind == "rkd":
                terms.append(rkd(hs, tv))
            else:
                raise ValueError(f"unknown distillation kind {self.kind!r}")
        return torch.stack(terms).mean()

    def forward(self, z, h, y, index, x=None):  # type: ignore[override]
        loss = self.task_loss(z, h, y, index) * self.task_weight if self.task_weight > 0 else h.sum() * 0.0
        if self.kind and self.distill_weight > 0:
            if x is None:
                raise ValueError("a distillation objective needs the input views: call objective(z, h, y, index, x=views)")
            loss = loss + self.distill_weight * self.distill_loss(h, x)
        return loss

    def per_sample(self) -> dict[str, np.ndarray]:
        return self.task.per_sample() if hasattr(self.task, "per_sample") else {}

    @torch.no_grad()
    def snapshot_extra(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        is_test = arrays["is_test"]
        rep_te, rep_tr = arrays["rep"][is_test], arrays["rep"][~is_test]
        y_te, y_tr = arrays["y"][is_test], arrays["y"][~is_test]
        m: dict[str, Any] = {}
        if self._teacher_rep_test is not None:
            m["cka_teacher"] = linear_cka(rep_te, self._teacher_rep_test)
            m["knn_overlap_teacher"] = knn_overlap(rep_te, self._teacher_rep_test, k=OVERLAP_K)
        if self._mask_np.size == len(rep_tr) and not self._mask_np.all():
            lab = self._mask_np
            m["n_labelled"] = int(lab.sum())
            if self.classification and len(np.unique(y_tr[lab])) >= 2:
                m["knn_accuracy_labelled"] = probes.knn_accuracy(rep_tr[lab], y_tr[lab], rep_te, y_te, k=min(20, int(lab.sum())))
                m["linear_accuracy_labelled"] = probes.linear_probe_accuracy(rep_tr[lab], y_tr[lab], rep_te, y_te)
        head = self.classifier()
        if head is not None and self.classification:
            w = head.weight.detach().cpu().double().numpy()
            b = head.bias.detach().cpu().double().numpy()
            pred = np.argmax(rep_te.astype(np.float64) @ w.T + b, axis=1)
            m["head_accuracy"] = float(np.mean(pred == y_te))
        return m


# --------------------------------------------------------------------------- momentum self-distillation


class DinoHead(nn.Module):
    """DINO's last layer with the weight norm fixed at 1: logits_k = cos(z, w_k).

    z: (N, D) projector outputs -> (N, K) logits in [-1, 1] (then divided by a temperature).
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.prototypes = nn.Parameter(torch.randn(out_dim, in_dim) / math.sqrt(in_dim))  # (K, D)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.normalize(z, dim=-1) @ F.normalize(self.prototypes, dim=-1).T


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * torch.log(p.clamp_min(1e-12))).sum(-1)


class MSDObjective(Objective):
    """Momentum self-distillation (DINO family): the teacher is an EMA of the student.

    Student: the encoder being trained, its projector output z, then :class:`DinoHead`.
    Teacher: a copy of encoder and head, updated after every optimiser step by
    ``theta_t <- m theta_t + (1 - m) theta_s`` with m = :func:`momentum_schedule` (cosine
    from ``momentum_base`` = 0.996 to 1 over the run's optimiser steps); never a gradient.
    The teacher runs in training mode (batch statistics in BatchNorm, as DINO's teacher).
    Loss: for every ordered pair of different views (v, w), the student's view v against
    the teacher's view w, :class:`MSDLoss` (cross-entropy from the centred, sharpened
    teacher; centre c <- 0.9 c + 0.1 mean over the batch's teacher outputs). Switches:
    ``centering`` (subtract c), ``sharpening`` (tau_t = ``teacher_temp``, else tau_t = tau_s).
    """

    needs_input = True

    def __init__(self, spec: LossSpec, temperature: float, options: dict, ctx: Context) -> None:
        super().__init__(spec.name, temperature, options)
        o = options
        out_dim = int(spec.option(o, "out_dim"))
        self.student_temp = float(o.get("student_temp", temperature))
        self.teacher_temp = float(spec.option(o, "teacher_temp"))
        self.centering = bool(spec.option(o, "centering"))
        self.sharpening = bool(spec.option(o, "sharpening"))
        self.momentum_base = float(spec.option(o, "momentum_base"))
        self.total_steps = max(1, int(ctx.total_steps))
        model = ctx.model
        assert model is not None and ctx.x_test is not None
        self._student = [model]  # a reference, not a submodule: the loop owns and saves the student
        self.head = DinoHead(ctx.proj_dim, out_dim)
        self.teacher_encoder = copy.deepcopy(model).requires_grad_(False)
        self.teacher_head = copy.deepcopy(self.head).requires_grad_(False)
        self.loss = MSDLoss(out_dim, student_temp=self.student_temp, teacher_temp=self.teacher_temp,
                            center_momentum=float(spec.option(o, "center_momentum")), centering=self.centering,
                            sharpening=self.sharpening)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))  # optimiser steps so far (resume-safe)
        self._x_test = ctx.x_test

    def forward(self, z, h, y, index, x=None):  # type: ignore[override]
        if x is None:
            raise ValueError("msd needs the input views: call objective(z, h, y, index, x=views)")
        V, B = z.shape[:2]
        s = self.head(z.reshape(V * B, -1)).view(V, B, -1)  # (V, B, K)
        with torch.no_grad():
            _, zt = self.teacher_encoder(x.reshape(V * B, -1))
            t = self.teacher_head(zt).view(V, B, -1)  # (V, B, K)
        pairs = [(v, w) for v in range(V) for w in range(V) if v != w]
        s_rows = torch.cat([s[v] for v, _ in pairs])  # (P*B, K)
        t_rows = torch.cat([t[w] for _, w in pairs])  # (P*B, K), one centre update per batch
        return self.loss(s_rows, t_rows)

    @torch.no_grad()
    def after_step(self) -> None:
        m = momentum_schedule(int(self.updates), self.total_steps, base=self.momentum_base)
        ema_update(self.teacher_encoder, self._student[0], m)
        ema_update(self.teacher_head, self.head, m)
        self.updates += 1

    @torch.no_grad()
    def teacher_probs(self, x: torch.Tensor) -> torch.Tensor:
        """(N, F) -> (N, K): the teacher's target distribution as the loss uses it (eval mode)."""
        was = self.teacher_encoder.training
        self.teacher_encoder.eval()
        t = self.teacher_head(self.teacher_encoder(x)[1])
        self.teacher_encoder.train(was)
        if self.centering:
            t = t - self.loss.center.reshape(1, -1)
        return F.softmax(t / (self.teacher_temp if self.sharpening else self.student_temp), dim=-1)

    @torch.no_grad()
    def snapshot_extra(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        dev = self.head.prototypes.device
        p = self.teacher_probs(torch.as_tensor(self._x_test, device=dev))  # (N_test, K)
        model = self._student[0]
        was = model.training
        model.eval()
        q = F.softmax(self.head(model(torch.as_tensor(self._x_test, device=dev))[1]) / self.student_temp, dim=-1)
        model.train(was)
        return {
            "teacher_entropy": float(_entropy(p).mean()),
            "teacher_mean_entropy": float(_entropy(p.mean(0))),
            "student_entropy": float(_entropy(q).mean()),
            "entropy_max": math.log(p.shape[1]),
            "momentum": momentum_schedule(int(self.updates), self.total_steps, base=self.momentum_base),
        }


# --------------------------------------------------------------------------- the loop's entry point


def setup_objective(task: Objective, cfg: RunConfig, *, data: DataSplit, teacher: FrozenTeacher | None,
                    device: torch.device) -> Objective:
    """The objective the loop trains: the registry loss ``task`` itself for plain runs, else
    :class:`Distilled` around it (a ``teacher`` run, scarce labels)."""
    if not cfg.distill and cfg.label_fraction >= 1:
        return task
    mask = label_mask(data.y_train, cfg.label_fraction, seed=cfg.seed, classification=data.task == "classification")
    return Distilled(task, cfg, data, teacher=teacher, mask=mask, device=device)
