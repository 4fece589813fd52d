"""The lessons' numbers on cases with known answers: NT-Xent's negative-positive coupling
(checked against a loop over the formula and against autograd: NT-Xent's gradient is q times
DCL's), temperatures by class, outputs in use."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from analysis.lesson_numbers import outputs_in_use, positive_share, tau_classes


def _views(n: int, dim: int = 3, noise: float = 0.1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, dim))
    v = np.stack([z + noise * rng.normal(size=z.shape), z + noise * rng.normal(size=z.shape)])
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_positive_share_follows_the_formula_anchor_by_anchor():
    v = _views(12)
    tau = 0.5
    got = positive_share(v, temperature=tau, batch_size=4, seed=3)
    order = np.random.default_rng(3).permutation(12)
    want = []
    for b in range(3):
        idx = order[4 * b:4 * b + 4]
        rows = np.concatenate([v[0, idx], v[1, idx]])
        for a in range(8):
            p = (a + 4) % 8
            den = sum(math.exp(rows[a] @ rows[k] / tau) for k in range(8) if k != a)
            want.append(math.exp(rows[a] @ rows[p] / tau) / den)
    assert got == pytest.approx(np.array(want), rel=1e-10)


def test_identical_views_and_orthogonal_negatives_have_a_known_share():
    e = np.eye(4)  # four points, mutually orthogonal; both views identical
    v = np.stack([e, e])
    tau = 0.5
    # the positive: exp(1/tau); six negatives at similarity 0: exp(0) = 1 each
    want = math.exp(2) / (math.exp(2) + 6)
    assert positive_share(v, temperature=tau) == pytest.approx(np.full(8, want))
    # a batch of 2 points: two negatives per anchor
    assert positive_share(v, temperature=tau, batch_size=2) == pytest.approx(np.full(8, math.exp(2) / (math.exp(2) + 2)))


def test_the_share_falls_as_the_batch_grows():
    v = _views(200, noise=0.05)
    small = positive_share(v, temperature=0.5, batch_size=8).mean()
    full = positive_share(v, temperature=0.5).mean()
    assert small > 5 * full
    assert len(positive_share(v, temperature=0.5, batch_size=64)) == 2 * 192  # the partial last batch is left out


def test_nt_xent_gradient_is_q_times_dcl_gradient():
    """Yeh et al., eq. 3: for one anchor, d l_NT / d s = q * d l_DCL / d s over its similarities."""
    rng = np.random.default_rng(1)
    tau = 0.3
    s = torch.tensor(rng.uniform(-1, 1, size=9), requires_grad=True)  # s[0]: the positive, s[1:]: negatives
    nt = -s[0] / tau + torch.logsumexp(s / tau, 0)
    (g_nt,) = torch.autograd.grad(nt, s)
    dcl = -s[0] / tau + torch.logsumexp(s[1:] / tau, 0)
    (g_dcl,) = torch.autograd.grad(dcl, s)
    q = 1 - torch.softmax(s.detach() / tau, 0)[0]
    assert g_nt.numpy() == pytest.approx((q * g_dcl).numpy())
    # the same q from positive_share, for a batch built to have these similarities to one anchor
    anchor = np.array([1.0, 0.0])
    angles = np.arccos(np.clip(s.detach().numpy(), -1, 1))
    others = np.stack([np.cos(angles), np.sin(angles)], 1)  # unit vectors with these similarities to the anchor
    one_anchor = np.concatenate([[anchor], others[1:]])
    share = positive_share(np.stack([one_anchor[:5], np.concatenate([[others[0]], one_anchor[5:]])]),
                           temperature=tau)
    assert share[0] == pytest.approx(float(1 - q))


def test_positive_share_refuses_bad_input():
    with pytest.raises(ValueError, match="shape"):
        positive_share(np.zeros((3, 4, 2)), temperature=0.5)
    with pytest.raises(ValueError, match="temperature"):
        positive_share(_views(4), temperature=0.0)


def test_tau_classes_orders_classes_by_size_and_reads_the_correlation():
    y = np.r_[np.zeros(6), np.ones(3), np.full(2, 2), [0, 1]]  # two held-out rows (NaN tau)
    tau = np.r_[np.full(6, 0.6), np.full(3, 0.5), [0.4, 0.38], [np.nan, np.nan]]
    t = tau_classes(tau, y)
    assert list(t.classes) == [0, 1, 2] and list(t.counts) == [6, 3, 2]
    assert t.means == pytest.approx([0.6, 0.5, 0.39]) and t.stds == pytest.approx([0.0, 0.0, 0.01])
    assert t.correlation > 0.99  # ties of frequency within a class keep it just below 1
    assert (t.low, t.high) == (0.38, 0.6)
    assert math.isnan(tau_classes(np.full(11, 0.5), y[:11]).correlation)  # one temperature: no order


def test_outputs_in_use():
    assert outputs_in_use(0.0) == 1.0
    assert outputs_in_use(math.log(256)) == pytest.approx(256)
    with pytest.raises(ValueError):
        outputs_in_use(-1.0)
