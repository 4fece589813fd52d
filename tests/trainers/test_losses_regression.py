"""SupReMix and Rank-N-Contrast: naive transcriptions (values and gradients), invariants."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

import trainers.losses.regression as regression
from trainers.losses import rnc, supcon, supremix
from trainers.losses.regression import _sample_negative_alpha, _supremix_with_alpha

DT = torch.float64


def _data(b: int = 4, d: int = 3, seed: int = 0):
    """2B rows (two views) and targets with ties, gaps and a window that matters."""
    g = torch.Generator().manual_seed(seed)
    y_b = torch.tensor([0.0, 0.5, 1.0, 2.5, 1.0, 3.0, 0.25, 1.75][:b], dtype=DT)
    x = torch.randn(b, d, generator=g, dtype=DT)
    z = torch.cat([x + 0.3 * torch.randn(b, d, generator=g, dtype=DT), x]) * 2.0
    return z, torch.cat([y_b, y_b])


# ----------------------------------------------------------------------------- naive SupReMix
def naive_supremix(z, y, alpha, *, t, window, distance_weight):
    """Every mixture built as an explicit (detached) vector; plain loops; autograd-ready."""
    n = z.shape[0]
    zn = F.normalize(z, dim=1)
    zd = zn.detach()
    yl = y.tolist()
    out = []
    for i in range(n):
        terms = []  # (vector, label, is_positive)
        for k in range(n):
            if k != i:
                terms.append((zn[k], yl[k], yl[k] == yl[i]))
        for k in range(n):
            if yl[k] != yl[i]:
                a = float(alpha[i, k])
                terms.append((a * zd[i] + (1 - a) * zd[k], a * yl[i] + (1 - a) * yl[k], False))
        for j in range(n):
            for k in range(n):
                if yl[j] < yl[i] < yl[k] and yl[i] - yl[j] <= window and yl[k] - yl[i] <= window:
                    a = (yl[k] - yl[i]) / (yl[k] - yl[j])
                    terms.append((a * zd[j] + (1 - a) * zd[k], yl[i], True))
        logits = [torch.dot(zn[i], v) / t for v, _, _ in terms]
        weights = [abs(yl[i] - lab) + 1 if distance_weight else 1.0 for _, lab, _ in terms]
        den = sum(w * torch.exp(lg) for w, lg in zip(weights, logits, strict=True))
        pos = [lg for lg, (_, _, is_pos) in zip(logits, terms, strict=True) if is_pos]
        if not pos:
            out.append(torch.zeros((), dtype=z.dtype))
            continue
        out.append(-sum(lg - torch.log(den) for lg in pos) / len(pos))
    return torch.stack(out)


@pytest.mark.parametrize("distance_weight", [True, False])
@pytest.mark.parametrize("window", [0.6, 1.0, 10.0])
def test_supremix_matches_naive_loop_values_and_gradients(distance_weight, window):
    z, y = _data(b=6, seed=1)
    alpha = _sample_negative_alpha(12, (2.0, 8.0), torch.Generator().manual_seed(0))
    z_ref = z.clone().requires_grad_(True)
    z_got = z.clone().requires_grad_(True)
    ref = naive_supremix(z_ref, y, alpha, t=0.3, window=window, distance_weight=distance_weight)
    kw = dict(temperature=0.3, window=window, distance_weight=distance_weight)
    got = _supremix_with_alpha(z_got, y, alpha, reduction="none", **kw)
    assert_close(got, ref)
    assert_close(_supremix_with_alpha(z, y, alpha, reduction="mean", **kw), ref.mean())
    (ref * torch.arange(1.0, 13.0, dtype=DT)).sum().backward()
    (got * torch.arange(1.0, 13.0, dtype=DT)).sum().backward()
    assert_close(z_got.grad, z_ref.grad)


def test_supremix_chunked_hard_positives_equal_unchunked(monkeypatch):
    z, y = _data(b=8, seed=2)
    alpha = _sample_negative_alpha(16, (2.0, 8.0), torch.Generator().manual_seed(1))
    z1 = z.clone().requires_grad_(True)
    full = _supremix_with_alpha(
        z1, y, alpha, temperature=0.2, window=2.0, distance_weight=True, reduction="none"
    )
    full.sum().backward()
    monkeypatch.setattr(regression, "_TRIPLE_CHUNK", 1)  # one anchor per chunk
    z2 = z.clone().requires_grad_(True)
    chunked = _supremix_with_alpha(
        z2, y, alpha, temperature=0.2, window=2.0, distance_weight=True, reduction="none"
    )
    chunked.sum().backward()
    assert_close(chunked, full)
    assert_close(z2.grad, z1.grad)


def test_supremix_public_function_uses_the_generator():
    z, y = _data(b=5, seed=3)
    got = supremix(z, y, generator=torch.Generator().manual_seed(7), reduction="none")
    alpha = _sample_negative_alpha(10, (2.0, 8.0), torch.Generator().manual_seed(7))
    ref = naive_supremix(z, y, alpha, t=0.3, window=1.0, distance_weight=True)
    assert_close(got, ref)
    again = supremix(z, y, generator=torch.Generator().manual_seed(7), reduction="none")
    assert torch.equal(got, again)
    other = supremix(z, y, generator=torch.Generator().manual_seed(8), reduction="none")
    assert not torch.equal(got, other)
    assert alpha.min() >= 0 and alpha.max() <= 1 and 0.1 < alpha.mean() < 0.3  # Beta(2, 8)


def test_supremix_anchor_without_positive_is_zero_and_excluded():
    z = torch.randn(4, 3, dtype=DT, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0.0, 0.0, 5.0, 9.0], dtype=DT)  # row 2 has no positive; 3 neither
    alpha = _sample_negative_alpha(4, (2.0, 8.0), torch.Generator().manual_seed(0))
    got = _supremix_with_alpha(
        z, y, alpha, temperature=0.3, window=1.0, distance_weight=True, reduction="none"
    )
    assert got[2] == 0 and got[3] == 0 and got[0] != 0
    mean = _supremix_with_alpha(
        z, y, alpha, temperature=0.3, window=1.0, distance_weight=True, reduction="mean"
    )
    assert_close(mean, got[:2].mean())


def test_supremix_permutation_invariance():
    z, y = _data(b=6, seed=4)
    alpha = _sample_negative_alpha(12, (2.0, 8.0), torch.Generator().manual_seed(2))
    p = torch.randperm(12, generator=torch.Generator().manual_seed(3))
    kw = dict(temperature=0.3, window=1.0, distance_weight=True, reduction="none")
    base = _supremix_with_alpha(z, y, alpha, **kw)
    assert_close(_supremix_with_alpha(z[p], y[p], alpha[p][:, p], **kw), base[p])
    swap = torch.cat([torch.arange(6, 12), torch.arange(6)])  # view swap
    assert_close(_supremix_with_alpha(z[swap], y[swap], alpha[swap][:, swap], **kw), base[swap])


def test_supremix_with_no_mixture_and_no_weight_is_above_supcon():
    # the mixtures only add terms to the denominators: with one positive per anchor and
    # no hard positives (tiny window), SupReMix >= SupCon on the same rows
    z, y = _data(b=6, seed=5)
    got = supremix(z, y, window=1e-6, distance_weight=False, temperature=0.3, reduction="none")
    ref = supcon(z, y, temperature=0.3, reduction="none")
    assert torch.all(got > ref)


# ----------------------------------------------------------------------------- naive RnC
def naive_rnc(f, y, t):
    """Direct double loop over (i, j) with a loop over k (float64 scalars)."""
    rows, ys = f.tolist(), y.tolist()
    n = len(rows)

    def sim(a, b):
        return -math.sqrt(sum((x - z) ** 2 for x, z in zip(rows[a], rows[b], strict=True)))

    per = []
    for i in range(n):
        acc = 0.0
        for j in range(n):
            if j == i:
                continue
            den = sum(
                math.exp(sim(i, k) / t)
                for k in range(n)
                if k != i and abs(ys[i] - ys[k]) >= abs(ys[i] - ys[j])
            )
            acc += -math.log(math.exp(sim(i, j) / t) / den)
        per.append(acc / (n - 1))
    return torch.tensor(per, dtype=DT)


def torch_rnc_direct(f, y, t):
    """The definition with an explicit (N, N, N) mask, for gradients."""
    n = f.shape[0]
    sim = -(f[:, None, :] - f[None, :, :]).pow(2).sum(-1).clamp_min(1e-30).sqrt() / t
    d = (y[:, None] - y[None, :]).abs()
    mask = (d[:, None, :] >= d[:, :, None]) & ~torch.eye(n, dtype=torch.bool)[:, None, :]
    den = torch.logsumexp(sim[:, None, :].expand(n, n, n).masked_fill(~mask, -math.inf), dim=2)
    off = ~torch.eye(n, dtype=torch.bool)
    return ((den - sim) * off).sum(1) / (n - 1)


@pytest.mark.parametrize("t", [0.5, 2.0])
def test_rnc_matches_naive_double_loop(t):
    z, y = _data(b=5, d=4, seed=6)  # two views: ties in the targets
    ref = naive_rnc(z, y, t)
    assert_close(rnc(z, y, temperature=t, reduction="none"), ref)
    assert_close(rnc(z, y, temperature=t), ref.mean())


def test_rnc_gradient_matches_direct_form_and_is_finite_with_ties():
    z, y = _data(b=6, d=3, seed=7)
    a = z.clone().requires_grad_(True)
    b = z.clone().requires_grad_(True)
    w = torch.arange(1.0, 13.0, dtype=DT)
    (rnc(a, y, reduction="none") * w).sum().backward()
    (torch_rnc_direct(b, y, 2.0) * w).sum().backward()
    assert_close(a.grad, b.grad)
    # all targets equal and duplicated rows: still finite
    c = torch.cat([z[:3], z[:3]]).clone().requires_grad_(True)
    loss = rnc(c, torch.zeros(6, dtype=DT))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(c.grad).all()


def test_rnc_features_are_not_normalised_and_permutation_invariant():
    z, y = _data(b=5, seed=8)
    assert not torch.allclose(rnc(z * 3.0, y), rnc(z, y))
    p = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    assert_close(rnc(z[p], y[p], reduction="none"), rnc(z, y, reduction="none")[p])


# ----------------------------------------------------------------------------- training
@pytest.mark.parametrize(
    "loss_fn",
    [
        lambda z, y: supremix(
            z, y, temperature=0.3, window=0.5, generator=torch.Generator().manual_seed(0)
        ),
        lambda z, y: rnc(z, y, temperature=2.0),
    ],
    ids=["supremix", "rnc"],
)
def test_loss_falls_with_adam(loss_fn):
    torch.manual_seed(0)
    x = torch.randn(16, 6)
    y = (x[:, 0] * 2).round() / 2  # ties and an ordering
    model = torch.nn.Linear(6, 4)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(30):
        xa = x + 0.2 * torch.randn(16, 6, generator=g)
        xb = x + 0.2 * torch.randn(16, 6, generator=g)
        loss = loss_fn(model(torch.cat([xa, xb])), torch.cat([y, y]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.02


def test_default_batch_is_finite():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(128, 32, generator=g, requires_grad=True)  # 2 x batch 64
    y = torch.rand(64, generator=g).repeat(2) * 10
    loss = supremix(z, y, window=10.0, generator=g) + rnc(z, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()


def test_bad_arguments_raise():
    z, y = _data()
    with pytest.raises(ValueError, match="targets"):
        supremix(z, y[:3])
    with pytest.raises(ValueError, match="finite"):
        rnc(z, torch.full_like(y, math.nan))
    with pytest.raises(ValueError, match="window"):
        supremix(z, y, window=0.0)
    with pytest.raises(ValueError, match="alpha_beta"):
        supremix(z, y, alpha_beta=(0.0, 1.0))
    with pytest.raises(ValueError, match="reduction"):
        rnc(z, y, reduction="sum")
    with pytest.raises(ValueError, match="2-D"):
        rnc(z[0], y)
