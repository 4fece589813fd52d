"""NT-Xent, DCL/DCLW, SupCon and noise views: naive loops, public references, invariants."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from trainers.losses import dcl, noise_view, nt_xent, supcon

DT = torch.float64


def _views(b: int = 6, d: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(b, d, generator=g, dtype=DT) * 3.0  # not normalised on purpose
    z2 = z1 + 0.5 * torch.randn(b, d, generator=g, dtype=DT)
    return z1, z2


def _unit(x: torch.Tensor) -> list[list[float]]:
    return [[v / math.sqrt(sum(t * t for t in row)) for v in row] for row in x.tolist()]


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# ----------------------------------------------------------------------------- naive
def naive_nt_xent(z1, z2, t):
    z = _unit(torch.cat([z1, z2]))
    n, b = len(z), len(z1)
    out = []
    for a in range(n):
        p = (a + b) % n
        den = sum(math.exp(_dot(z[a], z[k]) / t) for k in range(n) if k != a)
        out.append(-math.log(math.exp(_dot(z[a], z[p]) / t) / den))
    return torch.tensor(out, dtype=DT)


def naive_dcl(z1, z2, t, weighted=False, sigma=0.5):
    z = _unit(torch.cat([z1, z2]))
    n, b = len(z), len(z1)
    s_pos = [_dot(z[i], z[i + b]) for i in range(b)]
    norm = sum(math.exp(s / sigma) for s in s_pos)
    w = [2 - b * math.exp(s / sigma) / norm for s in s_pos] if weighted else [1.0] * b
    out = []
    for a in range(n):
        p = (a + b) % n
        neg = sum(math.exp(_dot(z[a], z[k]) / t) for k in range(n) if k not in (a, p))
        out.append(-w[a % b] * _dot(z[a], z[p]) / t + math.log(neg))
    return torch.tensor(out, dtype=DT)


def naive_supcon(z, labels, t):
    zz = _unit(z)
    y = labels.tolist()
    n = len(zz)
    out = []
    for a in range(n):
        den = sum(math.exp(_dot(zz[a], zz[k]) / t) for k in range(n) if k != a)
        pos = [p for p in range(n) if p != a and y[p] == y[a]]
        if not pos:
            out.append(0.0)
            continue
        out.append(-sum(_dot(zz[a], zz[p]) / t - math.log(den) for p in pos) / len(pos))
    return torch.tensor(out, dtype=DT)


# ----------------------------------------------------------------------------- NT-Xent
@pytest.mark.parametrize("t", [0.1, 0.5, 1.0])
def test_nt_xent_matches_naive_loop(t):
    z1, z2 = _views()
    ref = naive_nt_xent(z1, z2, t)
    assert_close(nt_xent(z1, z2, temperature=t, reduction="none"), ref)
    assert_close(nt_xent(z1, z2, temperature=t), ref.mean())


@pytest.mark.parametrize("t", [0.1, 0.5])
def test_nt_xent_matches_pytorch_metric_learning(t):
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    z1, z2 = _views(b=8, d=6, seed=1)
    b = z1.shape[0]
    ref = pml.NTXentLoss(temperature=t)(torch.cat([z1, z2]), torch.cat([torch.arange(b)] * 2))
    assert_close(nt_xent(z1, z2, temperature=t), ref)


def test_nt_xent_is_not_the_cross_view_only_form():
    z1, z2 = _views(seed=2)
    t = 0.5
    cross = F.cross_entropy(F.normalize(z1) @ F.normalize(z2).T / t, torch.arange(len(z1)))
    assert not torch.allclose(nt_xent(z1, z2, temperature=t, reduction="none")[:6].mean(), cross)


# ----------------------------------------------------------------------------- DCL
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("t", [0.1, 0.5])
def test_dcl_matches_naive_loop(weighted, t):
    z1, z2 = _views(seed=3)
    ref = naive_dcl(z1, z2, t, weighted=weighted, sigma=0.5)
    got = dcl(z1, z2, temperature=t, weighted=weighted, reduction="none")
    assert_close(got, ref)
    assert_close(dcl(z1, z2, temperature=t, weighted=weighted), ref.mean())


def test_dcl_removes_positive_from_denominator():
    # identical views: DCL at anchor a is NT-Xent minus log(1 + exp(1/t)/neg_sum); it can be < 0
    z1, _ = _views(seed=4)
    t = 0.1
    loss = dcl(z1, z1.clone(), temperature=t)
    assert loss < nt_xent(z1, z1.clone(), temperature=t)
    assert loss < 0


def test_dclw_weight_is_detached_and_averages_to_one():
    z1, z2 = _views(seed=5)
    z1.requires_grad_(True)
    # with equal positive similarities every weight is 1 -> DCLW == DCL
    same = F.normalize(z1.detach())
    assert_close(dcl(same, same, weighted=True), dcl(same, same))
    # gradient equals that of DCL with the weights plugged in as constants
    loss_w = dcl(z1, z2, temperature=0.2, weighted=True, reduction="none")
    (g,) = torch.autograd.grad(loss_w.sum(), z1)
    zn1, zn2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    s_pos = (zn1 * zn2).sum(1)
    w = (2 - len(z1) * torch.softmax(s_pos / 0.5, 0)).detach()
    assert_close(w.mean(), torch.tensor(1.0, dtype=DT))
    manual = dcl(z1, z2, temperature=0.2, reduction="none")
    manual = manual - (torch.cat([w, w]) - 1) * torch.cat([s_pos, s_pos]) / 0.2
    (g2,) = torch.autograd.grad(manual.sum(), z1)
    assert_close(g, g2)


# ----------------------------------------------------------------------------- SupCon
def _labelled(n: int = 10, d: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g, dtype=DT) * 2
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 2][:n])
    return z, labels


@pytest.mark.parametrize("t", [0.1, 0.5])
def test_supcon_matches_naive_loop(t):
    z, labels = _labelled()
    ref = naive_supcon(z, labels, t)
    assert_close(supcon(z, labels, temperature=t, reduction="none"), ref)
    assert_close(supcon(z, labels, temperature=t), ref.mean())


def test_supcon_anchor_without_positive_is_zero_and_excluded():
    z, _ = _labelled()
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 4, 5, 5])  # rows 6 and 7 have no positive
    ref = naive_supcon(z, labels, 0.2)
    got = supcon(z, labels, temperature=0.2, reduction="none")
    assert_close(got, ref)
    assert got[6] == 0 and got[7] == 0
    has = torch.tensor([1, 1, 1, 1, 1, 1, 0, 0, 1, 1], dtype=torch.bool)
    assert_close(supcon(z, labels, temperature=0.2), ref[has].mean())
    # no positives at all: 0 and still differentiable
    zz = z.clone().requires_grad_(True)
    loss = supcon(zz, torch.arange(10), temperature=0.2)
    loss.backward()
    assert loss.item() == 0.0 and torch.all(zz.grad == 0)


def test_supcon_float_labels_exact_equality():
    z, labels = _labelled(seed=1)
    y = labels.to(DT) * 0.1 + 1.0
    assert_close(supcon(z, y, reduction="none"), supcon(z, labels, reduction="none"))
    y2 = y.clone()
    y2[0] = y2[0] + 1e-12  # no longer equal to rows 3 and 6
    assert_close(supcon(z, y2, reduction="none"), naive_supcon(z, y2, 0.1))


@pytest.mark.parametrize("t", [0.07, 0.5])
def test_supcon_matches_pytorch_metric_learning(t):
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    z, labels = _labelled(seed=2)
    ref = pml.SupConLoss(temperature=t)(z, labels)
    assert_close(supcon(z, labels, temperature=t), ref)


def test_supcon_with_view_labels_equals_nt_xent():
    z1, z2 = _views(seed=6)
    b = len(z1)
    got = supcon(torch.cat([z1, z2]), torch.cat([torch.arange(b)] * 2), temperature=0.3)
    assert_close(got, nt_xent(z1, z2, temperature=0.3))


# ----------------------------------------------------------------------------- invariants
def test_view_swap_symmetry():
    z1, z2 = _views(seed=7)
    b = len(z1)
    for fn in (nt_xent, dcl, lambda a, c, **k: dcl(a, c, weighted=True, **k)):
        a = fn(z1, z2, reduction="none")
        s = fn(z2, z1, reduction="none")
        assert_close(a, torch.cat([s[b:], s[:b]]))
        assert_close(fn(z1, z2), fn(z2, z1))


def test_batch_permutation_invariance():
    z1, z2 = _views(b=7, seed=8)
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(0))
    perm2 = torch.cat([perm, perm + 7])
    for fn in (nt_xent, dcl, lambda a, c, **k: dcl(a, c, weighted=True, **k)):
        assert_close(fn(z1[perm], z2[perm], reduction="none"), fn(z1, z2, reduction="none")[perm2])
    z, labels = _labelled(seed=3)
    p = torch.randperm(10, generator=torch.Generator().manual_seed(1))
    assert_close(supcon(z[p], labels[p], reduction="none"), supcon(z, labels, reduction="none")[p])


def test_scale_invariance_inputs_are_normalised():
    z1, z2 = _views(seed=9)
    assert_close(nt_xent(z1 * 7, z2 * 0.1), nt_xent(z1, z2))
    assert_close(dcl(z1 * 7, z2 * 0.1), dcl(z1, z2))


def _falls(loss_fn, steps: int = 30) -> tuple[float, float]:
    torch.manual_seed(0)
    x = torch.randn(16, 8)
    model = torch.nn.Linear(8, 4)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(1)
    noise = [0.3 * torch.randn(2, 16, 8, generator=g) for _ in range(steps)]
    first = last = 0.0
    for i in range(steps):
        loss = loss_fn(model(x + noise[i][0]), model(x + noise[i][1]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if i == 0 else first
        last = loss.item()
    return first, last


@pytest.mark.parametrize(
    "loss_fn",
    [
        lambda a, b: nt_xent(a, b, temperature=0.5),
        lambda a, b: dcl(a, b, temperature=0.5),
        lambda a, b: dcl(a, b, temperature=0.5, weighted=True),
        lambda a, b: supcon(torch.cat([a, b]), torch.arange(32) % 4, temperature=0.5),
    ],
    ids=["nt_xent", "dcl", "dclw", "supcon"],
)
def test_loss_falls_with_adam(loss_fn):
    first, last = _falls(loss_fn)
    assert last < first - 0.05


def test_bad_arguments_raise():
    z1, z2 = _views()
    with pytest.raises(ValueError, match="reduction"):
        nt_xent(z1, z2, reduction="sum")
    with pytest.raises(ValueError, match="same shape"):
        nt_xent(z1, z2[:3])
    with pytest.raises(ValueError, match="2-D"):
        dcl(z1[0], z2[0])
    with pytest.raises(ValueError, match="temperature"):
        dcl(z1, z2, temperature=0.0)
    with pytest.raises(ValueError, match="at least 2"):
        dcl(z1[:1], z2[:1])
    with pytest.raises(ValueError, match="labels"):
        supcon(z1, torch.zeros(3))
    with pytest.raises(ValueError, match="reduction"):
        supcon(z1, torch.zeros(6), reduction="sum")


def test_large_batch_at_a_small_temperature_is_finite():
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(512, 64, generator=g, requires_grad=True)
    z2 = torch.randn(512, 64, generator=g)
    loss = nt_xent(z1, z2, temperature=0.05) + dcl(z1, z2, temperature=0.05, weighted=True)
    loss = loss + supcon(torch.cat([z1, z2]), torch.arange(1024) % 10, temperature=0.05)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z1.grad).all()


# ----------------------------------------------------------------------------- noise views
@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
def test_noise_view_norm_and_sign(eps):
    g = torch.Generator().manual_seed(0)
    e = torch.randn(50, 16, generator=g, dtype=DT)
    out = noise_view(e, eps, generator=torch.Generator().manual_seed(1))
    assert out.shape == e.shape and out.dtype == e.dtype
    assert_close((out - e).norm(dim=1), torch.full((50,), eps, dtype=DT))
    assert torch.equal(torch.sign(out), torch.sign(e))
    assert torch.all((out - e) * torch.sign(e) >= 0)  # pushed away from 0, same orthant


def test_noise_view_reproducible_and_differentiable():
    e = torch.randn(4, 3, requires_grad=True)
    a = noise_view(e, 0.2, generator=torch.Generator().manual_seed(5))
    b = noise_view(e, 0.2, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    a.sum().backward()
    assert torch.equal(e.grad, torch.ones_like(e))
    zero = torch.tensor([[0.0, 1.0, -2.0]])
    out = noise_view(zero, 0.5)
    assert out[0, 0] == 0  # no noise on a zero coordinate
    with pytest.raises(ValueError, match="eps"):
        noise_view(e, -0.1)
