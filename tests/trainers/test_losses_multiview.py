"""MV-InfoNCE, MV-DHEL and pairwise NT-Xent: naive loops, reductions to V = 2, invariants."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.testing import assert_close

from trainers.losses import mv_dhel, mv_infonce, nt_xent, pairwise_nt_xent

DT = torch.float64


def _views(v: int = 3, m: int = 5, d: int = 4, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(1, m, d, generator=g, dtype=DT)
    return (base + 0.6 * torch.randn(v, m, d, generator=g, dtype=DT)) * 2.5


def _unit(views: torch.Tensor) -> list[list[list[float]]]:
    out = []
    for view in views.tolist():
        out.append([[x / math.sqrt(sum(t * t for t in row)) for x in row] for row in view])
    return out


def _dot(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


# ----------------------------------------------------------------------------- naive
def naive_mv_infonce(views, t):
    u = _unit(views)
    v, m = len(u), len(u[0])
    out = []
    for i in range(m):
        num = sum(
            math.exp(_dot(u[va][i], u[lp][i]) / t) for va in range(v) for lp in range(v) if va != lp
        )
        den = sum(
            math.exp(_dot(u[va][i], u[mm][j]) / t)
            for va in range(v)
            for mm in range(v)
            for j in range(m)
            if (j, mm) != (i, va)
        )
        out.append(-math.log(num / den))
    return torch.tensor(out, dtype=DT)


def naive_mv_dhel(views, t):
    u = _unit(views)
    v, m = len(u), len(u[0])
    out = []
    for i in range(m):
        pos = sum(
            math.exp(_dot(u[va][i], u[lp][i]) / t) for va in range(v) for lp in range(va + 1, v)
        )
        uni = sum(
            math.log(sum(math.exp(_dot(u[va][i], u[va][j]) / t) for j in range(m) if j != i))
            for va in range(v)
        )
        out.append(-math.log(pos) + uni)
    return torch.tensor(out, dtype=DT)


def naive_dhel(z1, z2, t):
    """DHEL (two views) written directly: -s_ii+/t + log sum_{j!=i} e^{s(u_i,u_j)/t} + same for v."""
    u = _unit(torch.stack([z1, z2]))
    m = len(u[0])
    out = []
    for i in range(m):
        a = math.log(sum(math.exp(_dot(u[0][i], u[0][j]) / t) for j in range(m) if j != i))
        b = math.log(sum(math.exp(_dot(u[1][i], u[1][j]) / t) for j in range(m) if j != i))
        out.append(-_dot(u[0][i], u[1][i]) / t + a + b)
    return torch.tensor(out, dtype=DT)


def naive_pairwise(views, t):
    u = _unit(views)
    v, m = len(u), len(u[0])
    per = [0.0] * m
    pairs = list(itertools.combinations(range(v), 2))
    for va, lp in pairs:
        rows = u[va] + u[lp]
        for a in range(2 * m):
            p = (a + m) % (2 * m)
            den = sum(math.exp(_dot(rows[a], rows[k]) / t) for k in range(2 * m) if k != a)
            la = -_dot(rows[a], rows[p]) / t + math.log(den)
            per[a % m] += la / 2 / len(pairs)
    return torch.tensor(per, dtype=DT)


# ----------------------------------------------------------------------------- layer 1
@pytest.mark.parametrize("v", [2, 3, 4])
@pytest.mark.parametrize("t", [0.2, 0.5])
def test_mv_infonce_matches_naive_loop(v, t):
    views = _views(v=v, seed=v)
    ref = naive_mv_infonce(views, t)
    assert_close(mv_infonce(views, temperature=t, reduction="none"), ref)
    assert_close(mv_infonce(views, temperature=t), ref.mean())


@pytest.mark.parametrize("v", [2, 3, 4])
@pytest.mark.parametrize("t", [0.2, 0.5])
def test_mv_dhel_matches_naive_loop(v, t):
    views = _views(v=v, seed=10 + v)
    ref = naive_mv_dhel(views, t)
    assert_close(mv_dhel(views, temperature=t, reduction="none"), ref)
    assert_close(mv_dhel(views, temperature=t), ref.mean())


@pytest.mark.parametrize("v", [2, 3, 5])
def test_pairwise_nt_xent_matches_naive_loop(v):
    views = _views(v=v, seed=20 + v)
    ref = naive_pairwise(views, 0.4)
    assert_close(pairwise_nt_xent(views, temperature=0.4, reduction="none"), ref)
    assert_close(pairwise_nt_xent(views, temperature=0.4), ref.mean())


# ----------------------------------------------------------------------------- V = 2 reductions
def test_mv_dhel_with_two_views_is_dhel():
    views = _views(v=2, m=6, seed=30)
    assert_close(mv_dhel(views, temperature=0.3, reduction="none"), naive_dhel(*views, 0.3))


def test_pairwise_with_two_views_is_nt_xent():
    views = _views(v=2, m=6, seed=31)
    assert_close(pairwise_nt_xent(views, temperature=0.3), nt_xent(*views, temperature=0.3))
    per = nt_xent(*views, temperature=0.3, reduction="none")
    assert_close(
        pairwise_nt_xent(views, temperature=0.3, reduction="none"), (per[:6] + per[6:]) / 2
    )


def test_pairwise_is_mean_of_pair_losses():
    views = _views(v=4, m=5, seed=32)
    pairs = itertools.combinations(range(4), 2)
    mean = torch.stack([nt_xent(views[a], views[b], temperature=0.5) for a, b in pairs]).mean()
    assert_close(pairwise_nt_xent(views, temperature=0.5), mean)


# ----------------------------------------------------------------------------- invariants
@pytest.mark.parametrize("fn", [mv_infonce, mv_dhel, pairwise_nt_xent])
def test_view_order_and_sample_permutation_invariance(fn):
    views = _views(v=4, m=6, seed=40)
    base = fn(views, reduction="none")
    vperm = torch.tensor([2, 0, 3, 1])
    assert_close(fn(views[vperm], reduction="none"), base)
    sperm = torch.randperm(6, generator=torch.Generator().manual_seed(0))
    assert_close(fn(views[:, sperm], reduction="none"), base[sperm])
    assert_close(fn(views * 3.0, reduction="none"), base)  # normalised inside


@pytest.mark.parametrize(
    "fn", [mv_infonce, mv_dhel, pairwise_nt_xent], ids=["mv_infonce", "mv_dhel", "pairwise"]
)
def test_loss_falls_with_adam(fn):
    torch.manual_seed(0)
    x = torch.randn(16, 8)
    model = torch.nn.Linear(8, 4)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(30):
        views = model(x[None] + 0.3 * torch.randn(3, 16, 8, generator=g))  # (3, 16, 4)
        loss = fn(views, temperature=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.05


def _largest_saved_for_backward(fn, views: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The loss and the element count of the largest tensor autograd keeps for its backward pass."""
    sizes = []

    def keep(t: torch.Tensor) -> torch.Tensor:
        sizes.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
        loss = fn(views, temperature=0.1)
    return loss, max(sizes)


def test_mv_dhel_does_not_build_the_full_matrix():
    """Memory O(V M^2): the V same-view M x M similarity matrices, never the VM x VM matrix of
    all rows (a loss over all rows keeps that one, as the probe sees below). The gradient is finite."""
    v, m = 6, 1024
    views = torch.randn(v, m, 32, requires_grad=True)
    loss, largest = _largest_saved_for_backward(mv_dhel, views)
    assert largest <= v * m * m
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(views.grad).all()

    def over_all_rows(x: torch.Tensor, temperature: float) -> torch.Tensor:
        flat = torch.nn.functional.normalize(x.reshape(-1, x.shape[-1]), dim=1)  # (VM, D)
        return torch.logsumexp(flat @ flat.T / temperature, dim=1).mean()

    _, full = _largest_saved_for_backward(over_all_rows, views)
    assert full == (v * m) ** 2 > v * m * m


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="3-D"):
        mv_dhel(torch.randn(5, 4))
    with pytest.raises(ValueError, match="V >= 2"):
        mv_infonce(torch.randn(1, 5, 4))
    with pytest.raises(ValueError, match="reduction"):
        pairwise_nt_xent(torch.randn(2, 5, 4), reduction="sum")
    with pytest.raises(ValueError, match="temperature"):
        mv_dhel(torch.randn(2, 5, 4), temperature=-1.0)
