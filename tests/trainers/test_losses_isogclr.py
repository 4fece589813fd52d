"""iSogCLR / SogCLR: a naive loop of the state machine, LibAUC GCLoss_v1 step by step, invariants."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from trainers.losses import ISogCLRLoss, nt_xent

DT = torch.float64


def _batch(b: int, d: int, seed: int, dtype=DT) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(b, d, generator=g, dtype=dtype)
    z2 = z1 + 0.7 * torch.randn(b, d, generator=g, dtype=dtype)
    return z1, z2


# ----------------------------------------------------------------------------- naive
class NaiveISogCLR:
    """The METHODS.md recipe in plain Python, one sample at a time (first visit per sample)."""

    def __init__(self, n, tau_init, rho, gamma, beta, eta, tau_min, tau_max, learn_tau, eps=1e-8):
        self.u = [0.0] * n
        self.tau = [tau_init] * n
        self.m = [0.0] * n
        self.seen = [False] * n
        self.k = dict(rho=rho, gamma=gamma, beta=beta, eta=eta, lo=tau_min, hi=tau_max)
        self.learn_tau, self.eps = learn_tau, eps

    def step(self, z1, z2, index):
        k = self.k
        rows = [
            [x / math.sqrt(sum(t * t for t in r)) for x in r] for r in torch.cat([z1, z2]).tolist()
        ]
        b = len(z1)
        losses, u_new, grads = [], {}, {}
        for a in range(2 * b):
            i = index[a % b]
            p = (a + b) % (2 * b)
            tau = self.tau[i]
            s = [sum(x * y for x, y in zip(rows[a], rows[j], strict=True)) for j in range(2 * b)]
            negs = [j for j in range(2 * b) if j not in (a, p)]
            g = sum(math.exp(s[j] / tau) for j in negs) / len(negs)
            gamma = k["gamma"] if self.seen[i] else 1.0
            u = (1 - gamma) * self.u[i] + gamma * g
            pw = {j: math.exp(s[j] / tau) / max(u, self.eps) for j in negs}
            losses.append(-s[p] + sum(pw[j] * s[j] for j in negs) / len(negs))
            grad = (
                math.log(max(u, self.eps))
                + k["rho"]
                - sum(pw[j] * s[j] / tau for j in negs) / len(negs)
            )
            u_new.setdefault(i, []).append(u)
            grads.setdefault(i, []).append(grad)
        for i in index:
            self.u[i] = sum(u_new[i]) / 2
            if self.learn_tau:
                self.m[i] = (1 - k["beta"]) * self.m[i] + k["beta"] * sum(grads[i]) / 2
                self.tau[i] = min(max(self.tau[i] - k["eta"] * self.m[i], k["lo"]), k["hi"])
            self.seen[i] = True
        return torch.tensor(losses, dtype=DT)


SETTINGS = dict(tau_init=0.5, rho=0.4, gamma=0.9, beta=0.5, eta=0.3, tau_min=0.05, tau_max=0.7)
# batches are all-new or all-seen, with overlaps between steps
SCHEDULE = [[0, 1, 2, 3], [4, 5, 6, 7], [3, 1, 0, 2], [2, 4, 1, 7], [8, 9, 10, 11], [11, 0, 5, 9]]


@pytest.mark.parametrize("learn_tau", [True, False])
def test_matches_naive_loop_step_by_step(learn_tau):
    loss_fn = ISogCLRLoss(12, learn_tau=learn_tau, **SETTINGS).double()
    naive = NaiveISogCLR(12, learn_tau=learn_tau, **SETTINGS)
    for step, idx in enumerate(SCHEDULE + [[5, 6, 12 - 1, 10]]):
        z1, z2 = _batch(4, 5, seed=step)
        ref = naive.step(z1, z2, idx)
        got = loss_fn(z1, z2, torch.tensor(idx), reduction="none")
        assert_close(got, ref)
        assert_close(loss_fn.u, torch.tensor(naive.u, dtype=DT))
        assert_close(loss_fn.tau, torch.tensor(naive.tau, dtype=DT))
        assert_close(loss_fn.m, torch.tensor(naive.m, dtype=DT))
    assert loss_fn.visited.tolist() == naive.seen


def test_first_visit_per_sample_in_a_mixed_batch():
    loss_fn = ISogCLRLoss(8, **SETTINGS).double()
    naive = NaiveISogCLR(8, learn_tau=True, **SETTINGS)
    for step, idx in enumerate([[0, 1, 2, 3], [2, 3, 4, 5]]):  # 4 and 5 are new in step 2
        z1, z2 = _batch(4, 5, seed=100 + step)
        assert_close(loss_fn(z1, z2, torch.tensor(idx), reduction="none"), naive.step(z1, z2, idx))
    assert_close(loss_fn.u, torch.tensor(naive.u, dtype=DT))


# ----------------------------------------------------------------------------- LibAUC
def _libauc(n, learn_tau, **kw):
    contrastive = pytest.importorskip("libauc.losses.contrastive")
    return contrastive.GCLoss_v1(
        N=n,
        tau=kw["tau_init"],
        gamma=kw["gamma"],
        eps=1e-8,
        device=torch.device("cpu"),
        enable_isogclr=learn_tau,
        tau_min=kw["tau_min"],
        tau_max=kw["tau_max"],
        rho=kw["rho"],
        eta=kw["eta"],
        beta=kw["beta"],
        gamma_schedule="constant",
    )


def _compare_with_libauc(schedule, first_visit, learn_tau, settings, b=4, d=6):
    n = 1 + max(max(s) for s in schedule)
    ref = _libauc(n, learn_tau, **settings)
    mine = ISogCLRLoss(n, learn_tau=learn_tau, first_visit=first_visit, **settings)
    for step, idx in enumerate(schedule):
        z1, z2 = _batch(b, d, seed=1000 + step, dtype=torch.float32)
        a1 = z1.clone().requires_grad_(True)
        m1 = z1.clone().requires_grad_(True)
        index = torch.tensor(idx)
        ref_loss = ref(a1, z2, index)
        my_loss = mine(m1, z2, index)
        # LibAUC returns (loss_view1 + loss_view2).mean() over B = 2 x the mean over 2B anchors
        assert_close(2 * my_loss, ref_loss, rtol=1e-5, atol=1e-5)
        ref_loss.backward()
        my_loss.backward()
        assert_close(2 * m1.grad, a1.grad, rtol=1e-4, atol=1e-5)
        assert_close(mine.u, ref.u[:, 0], rtol=1e-5, atol=1e-6)
        if learn_tau:
            assert_close(mine.tau, ref.learnable_tau[:, 0], rtol=1e-5, atol=1e-6)
            assert_close(mine.m, ref.grad_tau[:, 0], rtol=1e-5, atol=1e-5)
        else:
            assert torch.all(mine.tau == settings["tau_init"])
    return mine


@pytest.mark.parametrize("learn_tau", [True, False])
def test_matches_libauc_gcloss_v1_all_new_or_all_seen_batches(learn_tau):
    mine = _compare_with_libauc(SCHEDULE, "sample", learn_tau, SETTINGS)
    if learn_tau:  # the temperatures really moved
        assert (mine.tau - SETTINGS["tau_init"]).abs().max() > 0.05


def test_matches_libauc_gamma_rule_with_mixed_batches():
    schedule = [
        [0, 1, 2, 3],
        [2, 3, 4, 5],
        [6, 7, 8, 9],
        [9, 10, 11, 0],
        [1, 5, 10, 12],
        [3, 4, 6, 7],
    ]
    settings = dict(SETTINGS, eta=2.0, beta=0.9, rho=0.3, tau_min=0.1, tau_max=0.9, tau_init=0.3)
    mine = _compare_with_libauc(schedule, "batch", True, settings, b=4, d=3)
    assert (mine.tau == 0.1).any() and (mine.tau == 0.9).any()  # both clip bounds exercised


def test_sample_and_batch_first_visit_rules_differ_only_on_new_samples_of_mixed_batches():
    z = [_batch(4, 5, seed=s) for s in (1, 2)]
    a, b = ISogCLRLoss(8, first_visit="sample"), ISogCLRLoss(8, first_visit="batch")
    for fn in (a, b):
        fn(*z[0], torch.tensor([0, 1, 2, 3]))
        fn(*z[1], torch.tensor([2, 3, 4, 5]))
    assert_close(a.u[:4], b.u[:4])
    assert_close(b.u[4:6], 0.9 * a.u[4:6])  # LibAUC: u = gamma * g for a new sample here


# ----------------------------------------------------------------------------- invariants
def test_tau_stays_within_bounds_and_sogclr_tau_is_fixed():
    n, b = 32, 8
    iso = ISogCLRLoss(n, eta=2.0, tau_min=0.1, tau_max=0.6, rho=0.4)
    sog = ISogCLRLoss(n, learn_tau=False, tau_init=0.3)
    g = torch.Generator().manual_seed(0)
    for step in range(20):
        idx = torch.randperm(n, generator=g)[:b]
        z1, z2 = _batch(b, 4, seed=step, dtype=torch.float32)
        iso(z1, z2, idx)
        sog(z1, z2, idx)
        assert iso.tau.min() >= 0.1 - 1e-7 and iso.tau.max() <= 0.6 + 1e-7
    assert torch.all(sog.tau == 0.3) and torch.all(sog.m == 0)
    assert torch.all(sog.u[sog.visited] > 0)  # u is still tracked
    assert iso.tau[iso.visited].std() > 0  # per-sample temperatures differ
    assert torch.all(iso.tau[~iso.visited] == 0.5)


def test_view_swap_and_batch_permutation_invariance():
    z1, z2 = _batch(6, 5, seed=3)
    idx = torch.tensor([4, 0, 9, 2, 7, 5])
    base = ISogCLRLoss(10).double()
    swapped = ISogCLRLoss(10).double()
    permuted = ISogCLRLoss(10).double()
    perm = torch.tensor([3, 1, 5, 0, 2, 4])
    for step in range(3):
        z1, z2 = _batch(6, 5, seed=step)
        l0 = base(z1, z2, idx, reduction="none")
        l1 = swapped(z2, z1, idx, reduction="none")
        l2 = permuted(z1[perm], z2[perm], idx[perm], reduction="none")
        assert_close(l1, torch.cat([l0[6:], l0[:6]]))
        assert_close(l2, l0[torch.cat([perm, perm + 6])])
    for other in (swapped, permuted):
        for name in ("u", "tau", "m"):
            assert_close(getattr(other, name), getattr(base, name))


def test_state_dict_round_trip_and_eval_mode_does_not_update():
    fn = ISogCLRLoss(10)
    z1, z2 = _batch(4, 3, seed=0, dtype=torch.float32)
    fn(z1, z2, torch.tensor([0, 1, 2, 3]))
    state = fn.state_dict()
    assert set(state) == {"u", "tau", "m", "visited"}
    clone = ISogCLRLoss(10)
    clone.load_state_dict(state)
    for name in state:
        assert torch.equal(getattr(clone, name), state[name])
    clone.eval()
    before = {k: v.clone() for k, v in clone.state_dict().items()}
    out_eval = clone(z1, z2, torch.tensor([0, 1, 2, 3]))
    assert all(torch.equal(before[k], v) for k, v in clone.state_dict().items())
    out_train = fn(z1, z2, torch.tensor([0, 1, 2, 3]))  # same state, training mode
    assert_close(out_eval, out_train)


def test_training_with_isogclr_lowers_nt_xent():
    torch.manual_seed(0)
    x = torch.randn(16, 8)
    model = torch.nn.Linear(8, 4)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    loss_fn = ISogCLRLoss(16)
    g = torch.Generator().manual_seed(1)
    fixed = [x + 0.3 * torch.randn(16, 8, generator=g) for _ in range(2)]

    def probe():
        with torch.no_grad():
            return nt_xent(model(fixed[0]), model(fixed[1])).item()

    before = probe()
    losses = []
    for _ in range(30):
        idx = torch.randperm(16, generator=g)[:8]
        xa = x[idx] + 0.3 * torch.randn(8, 8, generator=g)
        xb = x[idx] + 0.3 * torch.randn(8, 8, generator=g)
        loss = loss_fn(model(xa), model(xb), idx)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert probe() < before - 0.05
    assert sum(losses[-5:]) < sum(losses[:5])


def test_bad_arguments_raise():
    fn = ISogCLRLoss(10)
    z1, z2 = _batch(4, 3, seed=0, dtype=torch.float32)
    with pytest.raises(ValueError, match="index"):
        fn(z1, z2, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="repeated"):
        fn(z1, z2, torch.tensor([0, 1, 1, 2]))
    with pytest.raises(ValueError, match=r"\[0, 9\]"):
        fn(z1, z2, torch.tensor([0, 1, 2, 10]))
    with pytest.raises(ValueError, match="reduction"):
        fn(z1, z2, torch.tensor([0, 1, 2, 3]), reduction="sum")
    with pytest.raises(ValueError, match="tau_init"):
        ISogCLRLoss(10, tau_init=2.0)
    with pytest.raises(ValueError, match="first_visit"):
        ISogCLRLoss(10, first_visit="epoch")
