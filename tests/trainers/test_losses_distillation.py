"""Distillation losses: naive loops from the formulas, references, invariances."""

from __future__ import annotations

import copy
import importlib
import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainers.losses import (
    CRDHead,
    FeatureDistillation,
    MSDLoss,
    center_update,
    crd,
    ema_update,
    feature_distillation,
    kd,
    momentum_schedule,
    msd_loss,
    rkd,
    similarity_distillation,
)

DT = torch.float64


def _randn(*shape: int, seed: int = 0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=DT)


def _rotation(d: int, seed: int = 0) -> Tensor:
    q, _ = torch.linalg.qr(_randn(d, d, seed=seed))
    return q


# --------------------------------------------------------------------------- KD


def _kd_naive(s: Tensor, t: Tensor, T: float) -> list[float]:
    out = []
    for b in range(s.shape[0]):
        zs = sum(math.exp(s[b, c].item() / T) for c in range(s.shape[1]))
        zt = sum(math.exp(t[b, c].item() / T) for c in range(s.shape[1]))
        total = 0.0
        for c in range(s.shape[1]):
            p = math.exp(t[b, c].item() / T) / zt
            q = math.exp(s[b, c].item() / T) / zs
            total += p * (math.log(p) - math.log(q))
        out.append(T * T * total)
    return out


@pytest.mark.parametrize("T", [1.0, 4.0])
def test_kd_matches_naive_loop_and_batchmean_kl(T: float) -> None:
    s, t = _randn(6, 5, seed=1) * 3, _randn(6, 5, seed=2) * 3
    naive = torch.tensor(_kd_naive(s, t, T), dtype=DT)
    torch.testing.assert_close(kd(s, t, T=T, reduction="none"), naive)
    torch.testing.assert_close(kd(s, t, T=T), naive.mean())
    ref = T**2 * F.kl_div(
        F.log_softmax(s / T, dim=1), F.softmax(t / T, dim=1), reduction="batchmean"
    )
    torch.testing.assert_close(kd(s, t, T=T), ref)


def test_kd_zero_for_equal_logits_and_shift_invariant() -> None:
    s = _randn(4, 7, seed=3)
    assert kd(s, s.clone()).abs().item() < 1e-12
    shift = _randn(4, 1, seed=4)
    torch.testing.assert_close(kd(s + shift, s), torch.zeros((), dtype=DT))


def test_kd_no_gradient_to_teacher() -> None:
    s = _randn(4, 3, seed=5).requires_grad_(True)
    t = _randn(4, 3, seed=6).requires_grad_(True)
    kd(s, t).backward()
    assert s.grad is not None and torch.isfinite(s.grad).all()
    assert t.grad is None


def test_kd_bad_shapes() -> None:
    with pytest.raises(ValueError, match="same number of columns"):
        kd(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="2-D"):
        kd(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="reduction"):
        kd(torch.zeros(2, 3), torch.zeros(2, 3), reduction="sum")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="torch.Tensor"):
        kd([[0.0, 1.0]], torch.zeros(1, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="floating-point"):
        kd(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3))


# --------------------------------------------------------------------------- features


def _feature_naive(p: Tensor, t: Tensor, kind: str) -> list[float]:
    out = []
    for b in range(p.shape[0]):
        if kind == "mse":
            out.append(sum((p[b, d] - t[b, d]).item() ** 2 for d in range(t.shape[1])) / t.shape[1])
        else:
            dot = sum(p[b, d].item() * t[b, d].item() for d in range(t.shape[1]))
            np_ = math.sqrt(sum(p[b, d].item() ** 2 for d in range(t.shape[1])))
            nt = math.sqrt(sum(t[b, d].item() ** 2 for d in range(t.shape[1])))
            out.append(1.0 - dot / (np_ * nt))
    return out


@pytest.mark.parametrize("kind", ["mse", "cosine"])
def test_feature_distillation_matches_naive_loop(kind: str) -> None:
    zs, zt = _randn(5, 3, seed=7), _randn(5, 4, seed=8)
    module = FeatureDistillation(3, 4, kind=kind).to(DT)  # type: ignore[arg-type]
    with torch.no_grad():
        p = zs @ module.projection.weight.T + module.projection.bias
    naive = torch.tensor(_feature_naive(p, zt, kind), dtype=DT)
    torch.testing.assert_close(module(zs, zt, reduction="none"), naive)
    torch.testing.assert_close(module(zs, zt), naive.mean())
    fn = feature_distillation(zs, zt, kind=kind, projection=module.projection)  # type: ignore[arg-type]
    torch.testing.assert_close(fn, naive.mean())


def test_feature_mse_equals_mse_loss_and_normalize_option() -> None:
    zs, zt = _randn(6, 4, seed=9), _randn(6, 4, seed=10)
    torch.testing.assert_close(feature_distillation(zs, zt), F.mse_loss(zs, zt))
    got = feature_distillation(zs, zt, normalize=True, reduction="none")
    cos = F.cosine_similarity(zs, zt, dim=1)
    torch.testing.assert_close(got, (2 - 2 * cos) / 4)


def test_feature_distillation_dims_differ_without_projection() -> None:
    with pytest.raises(ValueError, match="projection"):
        feature_distillation(torch.zeros(2, 3), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="teacher's shape"):
        feature_distillation(torch.zeros(2, 3), torch.zeros(2, 5), projection=nn.Linear(3, 4))


def test_feature_cosine_scale_invariant_and_teacher_detached() -> None:
    zs = _randn(4, 3, seed=11).requires_grad_(True)
    zt = _randn(4, 3, seed=12).requires_grad_(True)
    a = feature_distillation(zs, zt, kind="cosine")
    b = feature_distillation(zs * 3.0, zt * 0.5, kind="cosine")
    torch.testing.assert_close(a, b)
    a.backward()
    assert zt.grad is None and zs.grad is not None


def test_feature_distillation_module_learns_a_projection() -> None:
    torch.manual_seed(0)
    zs = torch.randn(32, 6)
    zt = zs @ torch.randn(6, 4)  # the teacher is a linear map of the student
    module = FeatureDistillation(6, 4)
    opt = torch.optim.Adam(module.parameters(), lr=0.05)
    first = module(zs, zt).item()
    for _ in range(100):
        opt.zero_grad()
        loss = module(zs, zt)
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * first


# --------------------------------------------------------------------------- similarity


def _similarity_naive(zs: Tensor, zt: Tensor, tau: float) -> list[float]:
    b = zs.shape[0]
    s, t = F.normalize(zs, dim=1), F.normalize(zt, dim=1)
    out = []
    for i in range(b):
        others = [j for j in range(b) if j != i]
        es = [math.exp((s[i] @ s[j]).item() / tau) for j in others]
        et = [math.exp((t[i] @ t[j]).item() / tau) for j in others]
        total = 0.0
        for qs, qt in zip(es, et, strict=True):
            p, q = qt / sum(et), qs / sum(es)
            total += p * math.log(p / q)
        out.append(total)
    return out


def test_similarity_distillation_matches_naive_loop() -> None:
    zs, zt = _randn(6, 3, seed=13), _randn(6, 5, seed=14)
    naive = torch.tensor(_similarity_naive(zs, zt, 0.5), dtype=DT)
    torch.testing.assert_close(
        similarity_distillation(zs, zt, temperature=0.5, reduction="none"), naive
    )
    torch.testing.assert_close(similarity_distillation(zs, zt, temperature=0.5), naive.mean())


def test_similarity_distillation_zero_up_to_scale_and_rotation() -> None:
    zt = _randn(8, 4, seed=15)
    row_scale = torch.rand(8, 1, dtype=DT, generator=torch.Generator().manual_seed(0)) + 0.5
    zs = 2.5 * row_scale * (zt @ _rotation(4, seed=16))
    assert similarity_distillation(zs, zt).abs().item() < 1e-10
    # a different dimension is allowed: embed the same geometry in 6-D
    zs6 = torch.cat([zt, torch.zeros(8, 2, dtype=DT)], dim=1)
    assert similarity_distillation(zs6, zt).abs().item() < 1e-10
    assert similarity_distillation(_randn(8, 4, seed=17), zt).item() > 1e-3


def test_similarity_distillation_teacher_detached_and_small_batch() -> None:
    zs = _randn(5, 3, seed=18).requires_grad_(True)
    zt = _randn(5, 3, seed=19).requires_grad_(True)
    similarity_distillation(zs, zt).backward()
    assert zt.grad is None and torch.isfinite(zs.grad).all()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 2"):
        similarity_distillation(torch.zeros(1, 3), torch.zeros(1, 3))


# --------------------------------------------------------------------------- CRD


def _crd_naive(zs: Tensor, zt: Tensor, tau: float, symmetric: bool) -> list[float]:
    s, t = F.normalize(zs, dim=1), F.normalize(zt, dim=1)
    b = s.shape[0]
    out = []
    for i in range(b):
        den = sum(math.exp((s[i] @ t[j]).item() / tau) for j in range(b))
        l_st = -math.log(math.exp((s[i] @ t[i]).item() / tau) / den)
        if symmetric:
            den_t = sum(math.exp((t[i] @ s[j]).item() / tau) for j in range(b))
            l_ts = -math.log(math.exp((t[i] @ s[i]).item() / tau) / den_t)
            out.append(0.5 * (l_st + l_ts))
        else:
            out.append(l_st)
    return out


@pytest.mark.parametrize("symmetric", [False, True])
def test_crd_matches_naive_loop(symmetric: bool) -> None:
    zs, zt = _randn(6, 4, seed=20), _randn(6, 4, seed=21)
    naive = torch.tensor(_crd_naive(zs, zt, 0.2, symmetric), dtype=DT)
    got = crd(zs, zt, temperature=0.2, symmetric=symmetric, reduction="none")
    torch.testing.assert_close(got, naive)
    torch.testing.assert_close(crd(zs, zt, temperature=0.2, symmetric=symmetric), naive.mean())


def test_crd_permutation_equivariant_and_prefers_aligned_pairs() -> None:
    zs, zt = _randn(7, 4, seed=22), _randn(7, 4, seed=23)
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(
        crd(zs[perm], zt[perm], reduction="none"), crd(zs, zt, reduction="none")[perm]
    )
    assert crd(zt, zt).item() < crd(zs, zt).item()


def test_crd_head_embeds_and_trains_teacher_head_only() -> None:
    torch.manual_seed(0)
    head = CRDHead(5, 3, dim=8, temperature=0.1)
    zs = torch.randn(6, 5, requires_grad=True)
    zt = torch.randn(6, 3, requires_grad=True)
    loss = head(zs, zt)
    expected = crd(
        F.normalize(head.embed_s(zs), dim=1), F.normalize(head.embed_t(zt), dim=1), temperature=0.1
    )
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert zt.grad is None  # the teacher network gets nothing
    assert head.embed_t.weight.grad is not None and head.embed_s.weight.grad is not None
    assert zs.grad is not None
    with pytest.raises(ValueError, match="columns"):
        head(torch.zeros(6, 4), torch.zeros(6, 3))


# --------------------------------------------------------------------------- RKD


def _huber(x: float) -> float:
    return 0.5 * x * x if abs(x) < 1 else abs(x) - 0.5


def _rkd_naive(zs: Tensor, zt: Tensor, wd: float, wa: float) -> tuple[list[float], float, float]:
    b = zs.shape[0]

    def dist(z: Tensor, i: int, j: int) -> float:
        return math.sqrt(sum((z[i, k] - z[j, k]).item() ** 2 for k in range(z.shape[1])))

    def angle(z: Tensor, i: int, j: int, k: int) -> float:  # vertex j
        u, v = z[i] - z[j], z[k] - z[j]
        return (u @ v).item() / (u.norm().item() * v.norm().item())

    pairs = [(i, j) for i in range(b) for j in range(b) if i != j]
    mu_s = sum(dist(zs, i, j) for i, j in pairs) / len(pairs)
    mu_t = sum(dist(zt, i, j) for i, j in pairs) / len(pairs)
    per = []
    all_d, all_a = [], []
    for i in range(b):
        dterms = [_huber(dist(zs, i, j) / mu_s - dist(zt, i, j) / mu_t) for j in range(b) if j != i]
        aterms = [
            _huber(angle(zs, j, i, k) - angle(zt, j, i, k))
            for j in range(b)
            for k in range(b)
            if len({i, j, k}) == 3
        ]
        all_d += dterms
        all_a += aterms
        per.append(wd * sum(dterms) / len(dterms) + wa * sum(aterms) / len(aterms))
    return per, sum(all_d) / len(all_d), sum(all_a) / len(all_a)


def test_rkd_matches_naive_loop() -> None:
    zs, zt = _randn(5, 3, seed=24), _randn(5, 4, seed=25)
    per, d_mean, a_mean = _rkd_naive(zs, zt, 25.0, 50.0)
    torch.testing.assert_close(rkd(zs, zt, reduction="none"), torch.tensor(per, dtype=DT))
    torch.testing.assert_close(rkd(zs, zt), torch.tensor(25 * d_mean + 50 * a_mean, dtype=DT))
    torch.testing.assert_close(
        rkd(zs, zt, distance_weight=1.0, angle_weight=0.0), torch.tensor(d_mean, dtype=DT)
    )
    torch.testing.assert_close(
        rkd(zs, zt, distance_weight=0.0, angle_weight=1.0), torch.tensor(a_mean, dtype=DT)
    )


@pytest.mark.parametrize("rows", [1, 3, 4])
def test_rkd_angle_term_in_checkpointed_blocks_matches_the_loop(monkeypatch, rows) -> None:
    """Blocks of `rows` vertices (the path large batches take): the same values and the same
    student gradient as the naive loop (values) and as one block (gradients)."""
    # the module, not the function of the same name that trainers.losses exports
    rkd_module = importlib.import_module("trainers.losses.rkd")

    zs0, zt = _randn(7, 3, seed=31), _randn(7, 5, seed=32)
    per, _, _ = _rkd_naive(zs0, zt, 25.0, 50.0)
    whole = zs0.clone().requires_grad_(True)
    rkd(whole, zt).backward()
    monkeypatch.setattr(rkd_module, "_RKD_BLOCK_ELEMENTS", rows * 7 * 7)
    blocked = zs0.clone().requires_grad_(True)
    loss = rkd(blocked, zt)
    loss.backward()
    torch.testing.assert_close(loss, torch.tensor(sum(per) / len(per), dtype=DT))
    torch.testing.assert_close(rkd(zs0, zt, reduction="none"), torch.tensor(per, dtype=DT))  # no-grad path
    torch.testing.assert_close(blocked.grad, whole.grad)


def test_rkd_denominator_differs_from_all_pairs_mean_by_b_over_b_minus_1() -> None:
    """The documented detail: the authors' code averages over all B^2 entries."""
    zs, zt = _randn(6, 3, seed=26), _randn(6, 3, seed=27)

    def normed(z: Tensor) -> Tensor:
        d = torch.cdist(z, z)
        return d / d[d > 0].mean()

    all_pairs = F.smooth_l1_loss(normed(zs), normed(zt))  # mean over B^2 entries
    ours = rkd(zs, zt, distance_weight=1.0, angle_weight=0.0)
    torch.testing.assert_close(ours, all_pairs * 6 / 5)


def test_rkd_invariant_to_rotation_scale_translation_of_student() -> None:
    zs, zt = _randn(7, 4, seed=28), _randn(7, 5, seed=29)
    moved = 3.7 * zs @ _rotation(4, seed=30) + _randn(1, 4, seed=31)
    torch.testing.assert_close(rkd(moved, zt, reduction="none"), rkd(zs, zt, reduction="none"))
    # the student is a rotated, scaled copy of the teacher: nothing to distil
    assert rkd(0.2 * zt @ _rotation(5, seed=32), zt).abs().item() < 1e-10


def test_rkd_teacher_detached_and_finite_grad_with_duplicate_rows() -> None:
    zs = _randn(5, 3, seed=33)
    zs = torch.cat([zs, zs[:1]]).requires_grad_(True)  # two identical rows
    zt = _randn(6, 3, seed=34).requires_grad_(True)
    rkd(zs, zt).backward()
    assert zt.grad is None
    assert torch.isfinite(zs.grad).all()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 3"):
        rkd(torch.zeros(2, 3), torch.zeros(2, 3))


# --------------------------------------------------------------------------- momentum SD


def _net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_ema_update_params_and_buffers() -> None:
    torch.manual_seed(0)
    student, teacher = _net(), _net()
    student.train()
    student(torch.randn(8, 3))  # move the student's BatchNorm statistics
    t_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    s_state = student.state_dict()
    m = 0.9
    ema_update(teacher, student, m)
    for name, value in teacher.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, m * t_before[name] + (1 - m) * s_state[name])
        else:  # num_batches_tracked is copied
            assert torch.equal(value, s_state[name])
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad_fn is None for p in teacher.parameters())


def test_ema_update_endpoints_and_mismatch() -> None:
    torch.manual_seed(0)
    student, teacher = _net(), _net()
    frozen = copy.deepcopy(teacher.state_dict())
    ema_update(teacher, student, 1.0)
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, frozen[k])
    ema_update(teacher, student, 0.0)
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, student.state_dict()[k])
    with pytest.raises(ValueError, match="same parameters"):
        ema_update(nn.Linear(3, 2), nn.Sequential(nn.Linear(3, 2)), 0.5)
    with pytest.raises(ValueError, match="shape"):
        ema_update(nn.Linear(3, 2), nn.Linear(3, 4), 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ema_update(teacher, student, 1.5)


def test_momentum_schedule() -> None:
    assert momentum_schedule(0, 100) == pytest.approx(0.996)
    assert momentum_schedule(100, 100) == pytest.approx(1.0)
    assert momentum_schedule(50, 100) == pytest.approx(0.998)
    assert momentum_schedule(500, 100) == pytest.approx(1.0)
    values = [momentum_schedule(s, 100, base=0.9, final=0.99) for s in range(101)]
    assert values[0] == pytest.approx(0.9) and values[-1] == pytest.approx(0.99)
    assert all(a <= b for a, b in zip(values, values[1:], strict=False))
    with pytest.raises(ValueError):
        momentum_schedule(0, 0)


def test_center_update_formula() -> None:
    c = _randn(5, seed=35)
    t = _randn(7, 5, seed=36)
    before = c.clone()
    new = center_update(c, t)
    torch.testing.assert_close(new, 0.9 * c + 0.1 * t.mean(dim=0))
    assert torch.equal(c, before)  # not in place
    new2 = center_update(c.reshape(1, 5), t, momentum=0.5)
    assert new2.shape == (1, 5)
    torch.testing.assert_close(new2[0], 0.5 * c + 0.5 * t.mean(dim=0))
    with pytest.raises(ValueError, match="center"):
        center_update(torch.zeros(4), t)


def _msd_naive(s: Tensor, t: Tensor, c: Tensor, tau_s: float, tau_t: float) -> list[float]:
    out = []
    for b in range(s.shape[0]):
        k = s.shape[1]
        zt = sum(math.exp((t[b, j] - c[j]).item() / tau_t) for j in range(k))
        zs = sum(math.exp(s[b, j].item() / tau_s) for j in range(k))
        out.append(
            -sum(
                math.exp((t[b, j] - c[j]).item() / tau_t)
                / zt
                * math.log(math.exp(s[b, j].item() / tau_s) / zs)
                for j in range(k)
            )
        )
    return out


def test_msd_loss_matches_naive_loop_and_switches() -> None:
    s, t, c = _randn(5, 6, seed=37) * 0.3, _randn(5, 6, seed=38) * 0.3, _randn(6, seed=39) * 0.1
    naive = torch.tensor(_msd_naive(s, t, c, 0.1, 0.04), dtype=DT)
    torch.testing.assert_close(msd_loss(s, t, c, reduction="none"), naive)
    torch.testing.assert_close(msd_loss(s, t, c), naive.mean())
    zero = torch.zeros(6, dtype=DT)
    no_center = torch.tensor(_msd_naive(s, t, zero, 0.1, 0.04), dtype=DT).mean()
    torch.testing.assert_close(msd_loss(s, t, None, centering=False), no_center)
    no_sharp = torch.tensor(_msd_naive(s, t, c, 0.1, 0.1), dtype=DT).mean()
    torch.testing.assert_close(msd_loss(s, t, c, sharpening=False), no_sharp)
    with pytest.raises(ValueError, match="center"):
        msd_loss(s, t, None)


def test_msd_teacher_detached_and_module_updates_center_after_loss() -> None:
    s = _randn(4, 3, seed=40).requires_grad_(True)
    t = _randn(4, 3, seed=41).requires_grad_(True)
    module = MSDLoss(3).to(DT)
    loss = module(s, t)
    torch.testing.assert_close(loss, msd_loss(s, t, torch.zeros(3, dtype=DT)))
    torch.testing.assert_close(module.center, 0.1 * t.detach().mean(dim=0))
    loss.backward()
    assert t.grad is None and s.grad is not None


def _teacher_entropies(centering: bool, sharpening: bool, steps: int = 150) -> tuple[float, float]:
    """A tiny student/EMA-teacher pair on inputs without structure (each view's noise is
    as large as the signal), so a collapse shows within a few hundred steps. Returns the
    teacher's mean per-sample entropy and the entropy of its mean prediction."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    k, dim, batch = 16, 8, 32
    student = nn.Sequential(nn.Linear(dim, 32), nn.ReLU(), nn.Linear(32, k))
    teacher = copy.deepcopy(student).requires_grad_(False)
    opt = torch.optim.Adam(student.parameters(), lr=1e-2)
    center = torch.zeros(k)
    kw = {"centering": centering, "sharpening": sharpening}
    for _ in range(steps):
        x = torch.randn(batch, dim, generator=g)
        v1 = x + torch.randn(batch, dim, generator=g)
        v2 = x + torch.randn(batch, dim, generator=g)
        t1, t2 = teacher(v1), teacher(v2)
        loss = 0.5 * (
            msd_loss(student(v1), t2, center, **kw) + msd_loss(student(v2), t1, center, **kw)
        )  # type: ignore[arg-type]
        opt.zero_grad()
        loss.backward()
        opt.step()
        center = center_update(center, torch.cat([t1, t2]))
        ema_update(teacher, student, 0.9)
    with torch.no_grad():
        t = teacher(torch.randn(512, dim, generator=g))
        t = t - center if centering else t
        p = F.softmax(t / (0.04 if sharpening else 0.1), dim=1)
        per_sample = -(p * p.clamp_min(1e-30).log()).sum(1).mean().item()
        pm = p.mean(0)
        of_mean = -(pm * pm.clamp_min(1e-30).log()).sum().item()
    return per_sample, of_mean


def test_centering_alone_or_sharpening_alone_collapses() -> None:
    """DINO's collapse demonstration (about 0.3 s single-threaded; 8 seeds checked: the
    extremes are reached every time, both switches gave 1.0-2.3 nats out of log 16)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead under load
    try:
        log_k = math.log(16)
        uniform, _ = _teacher_entropies(centering=True, sharpening=False)
        assert uniform > log_k - 0.02  # every output uniform
        one_hot, one_dim = _teacher_entropies(centering=False, sharpening=True)
        assert one_hot < 0.02 and one_dim < 0.02  # the same single dimension for every input
        both, both_mean = _teacher_entropies(centering=True, sharpening=True)
        assert 0.2 < both < log_k - 0.1 and both_mean > 0.2
    finally:
        torch.set_num_threads(threads)
