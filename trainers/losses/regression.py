"""Contrastive regression losses: SupReMix (Wu et al. 2023) and Rank-N-Contrast (Zha et al. 2023)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from trainers.losses._checks import (
    Reduction,
    _check_matrix,
    _check_positive,
    _check_reduction,
    _check_targets,
)

__all__ = ["supremix", "rnc"]

# Hard positives are triples (anchor i, j, k): at most this many (i, j, k) entries are
# materialised at once (16 MiB per float32 temporary, a handful of temporaries).
_TRIPLE_CHUNK = 1 << 22


def _sample_negative_alpha(
    n: int, alpha_beta: tuple[float, float], generator: torch.Generator | None
) -> Tensor:
    """(n, n) float64 Beta(a, b) draws, one per (anchor, negative) pair.

    Reproducible from ``generator`` (or the global torch RNG): one int64 seed is drawn
    from it and feeds numpy's Beta sampler (torch's Beta sampler accepts no generator).
    """
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    rng = np.random.default_rng(seed)
    a, b = alpha_beta
    return torch.from_numpy(rng.beta(a, b, size=(n, n)))


def _mix_logits(
    cj: Tensor, ck: Tensor, yj: Tensor, yk: Tensor, yi: Tensor
) -> tuple[Tensor, Tensor]:
    """(c, L, R) hard-positive mixing weights and logits of a chunk of c anchors.

    ``cj`` (c, L) / ``ck`` (c, R): logits z_i . sg(z_j) / tau of the candidates below /
    above the anchor's label, ``-inf`` in padding slots; ``yj``, ``yk``: their targets,
    padding slots filled so that yj < yi < yk (then 0 < alpha < 1 everywhere and a padded
    j or k gives a ``-inf`` logit, never NaN).
    """
    alpha = (yk - yi[:, None])[:, None, :] / (yk[:, None, :] - yj[:, :, None])  # (c, L, R)
    logits = alpha * cj[:, :, None] + (1.0 - alpha) * ck[:, None, :]  # (c, L, R)
    return alpha, logits


class _HardPositiveLogSumExp(torch.autograd.Function):
    """Row-wise log-sum-exp over (j, k) of ``alpha_ijk cj_ij + (1 - alpha_ijk) ck_ik``.

    Chunked over anchors in both passes; only (N, L) and (N, R) tensors are saved, the
    (c, L, R) temporaries are rebuilt in backward. Also returns (no gradient) the
    coefficient sums ``a_ij = sum_k alpha_ijk`` and ``b_ik = sum_j (1 - alpha_ijk)`` over
    valid pairs, so that the sum of the hard-positive logits is ``a . cj + b . ck``.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        cj: Tensor,
        ck: Tensor,
        yj: Tensor,
        yk: Tensor,
        yi: Tensor,
        j_ok: Tensor,
        k_ok: Tensor,
        chunk: int,
    ) -> tuple[Tensor, Tensor, Tensor]:
        cj_m = cj.masked_fill(~j_ok, float("-inf"))
        ck_m = ck.masked_fill(~k_ok, float("-inf"))
        j_f, k_f = j_ok.to(cj.dtype), k_ok.to(ck.dtype)
        lses, coef_a, coef_b = [], [], []
        for start in range(0, cj.shape[0], chunk):
            r = slice(start, start + chunk)
            alpha, logits = _mix_logits(cj_m[r], ck_m[r], yj[r], yk[r], yi[r])
            lses.append(torch.logsumexp(logits.flatten(1), dim=1))
            coef_a.append(torch.einsum("clr,cr->cl", alpha, k_f[r]) * j_f[r])
            coef_b.append(
                (k_f[r] * j_f[r].sum(1, keepdim=True))
                - torch.einsum("clr,cl->cr", alpha, j_f[r]) * k_f[r]
            )
        lse = torch.cat(lses)
        ctx.save_for_backward(cj_m, ck_m, yj, yk, yi, lse)
        ctx.chunk = chunk
        a, b = torch.cat(coef_a), torch.cat(coef_b)
        ctx.mark_non_differentiable(a, b)
        return lse, a, b

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, g_lse: Tensor, _g_a: Tensor, _g_b: Tensor
    ) -> tuple[Tensor | None, ...]:
        cj_m, ck_m, yj, yk, yi, lse = ctx.saved_tensors
        safe_lse = torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse))
        d_cj, d_ck = [], []
        for start in range(0, cj_m.shape[0], ctx.chunk):
            r = slice(start, start + ctx.chunk)
            alpha, logits = _mix_logits(cj_m[r], ck_m[r], yj[r], yk[r], yi[r])
            prob = torch.exp(logits - safe_lse[r, None, None])  # (c, L, R), 0 on padding
            prob_alpha = prob * alpha
            d_cj.append(prob_alpha.sum(2) * g_lse[r, None])
            d_ck.append((prob.sum(1) - prob_alpha.sum(1)) * g_lse[r, None])
        return torch.cat(d_cj), torch.cat(d_ck), None, None, None, None, None, None


def _hard_positive_terms(
    c: Tensor, y: Tensor, window: float, temperature: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Log-sum-exp, sum and count of the hard-positive logits of every anchor.

    For anchor i the valid j form a contiguous run of the rows sorted by target (those
    with y_i - window <= y_j < y_i), and so do the valid k; only these L_i x R_i pairs are
    built, padded to (max L) x (max R), in chunks of anchors of at most ``_TRIPLE_CHUNK``
    entries (:class:`_HardPositiveLogSumExp`).

    Returns:
        lse (N,) (-inf where no hard positive), pos (N,) sum of s_ijk / tau, count (N,).
    """
    n = c.shape[0]
    dev = c.device
    below = (y[None, :] < y[:, None]) & (y[:, None] - y[None, :] <= window)  # (N, N) [i, j]
    above = (y[None, :] > y[:, None]) & (y[None, :] - y[:, None] <= window)  # (N, N) [i, k]
    n_below, n_above = below.sum(dim=1), above.sum(dim=1)  # (N,) L_i, R_i
    count = n_below * n_above
    big_l, big_r = int(n_below.max()), int(n_above.max())
    if big_l == 0 or big_r == 0:
        return torch.full_like(y, float("-inf")), torch.zeros_like(y), count
    y_sorted, order = torch.sort(y, stable=True)
    first_eq = torch.searchsorted(y_sorted, y, right=False)  # (N,) first sorted row with y >= y_i
    first_gt = torch.searchsorted(y_sorted, y, right=True)  # (N,) first sorted row with y > y_i
    ar_l = torch.arange(big_l, device=dev)
    ar_r = torch.arange(big_r, device=dev)
    j_ok, k_ok = ar_l < n_below[:, None], ar_r < n_above[:, None]  # (N, L), (N, R)
    j_idx = order[((first_eq - n_below)[:, None] + ar_l).clamp(0, n - 1)]  # (N, L) rows j
    k_idx = order[(first_gt[:, None] + ar_r).clamp(0, n - 1)]  # (N, R) rows k
    pad = 1.0 + y.abs()  # distinct from y even for large |y| in float32
    yj = torch.where(j_ok, y[j_idx], (y - pad)[:, None])  # padding: below y_i
    yk = torch.where(k_ok, y[k_idx], (y + pad)[:, None])  # padding: above y_i
    cj = c.gather(1, j_idx) / temperature  # (N, L)
    ck = c.gather(1, k_idx) / temperature  # (N, R)
    chunk = max(1, _TRIPLE_CHUNK // (big_l * big_r))
    lse, coef_a, coef_b = _HardPositiveLogSumExp.apply(cj, ck, yj, yk, y, j_ok, k_ok, chunk)
    pos = (coef_a * cj).sum(dim=1) + (coef_b * ck).sum(dim=1)  # (N,)
    return lse, pos, count


def _supremix_with_alpha(
    z: Tensor,
    targets: Tensor,
    alpha_neg: Tensor,
    *,
    temperature: float,
    window: float,
    distance_weight: bool,
    reduction: str,
) -> Tensor:
    """SupReMix given the (N, N) hard-negative mixing coefficients (see :func:`supremix`)."""
    n = z.shape[0]
    dev, dt = z.device, z.dtype
    y = targets.to(device=dev, dtype=dt)
    alpha_neg = alpha_neg.to(device=dev, dtype=dt)
    zn = F.normalize(z, dim=1)  # (N, D) with gradient
    zd = zn.detach()  # (N, D) the mixtures' ingredients
    eye = torch.eye(n, dtype=torch.bool, device=dev)
    same = y[:, None] == y[None, :]  # (N, N)
    dist = (y[:, None] - y[None, :]).abs()  # (N, N) |y_i - y_k|

    # real rows: s_ik = z_i . z_k, weight |y_i - y_k| + 1
    real = zn @ zn.T / temperature  # (N, N)
    real_w = (dist + 1.0) if distance_weight else torch.ones_like(dist)
    real_lse = torch.logsumexp((real + real_w.log()).masked_fill(eye, float("-inf")), dim=1)
    pos_mask = same & ~eye
    real_pos_sum = torch.where(pos_mask, real, torch.zeros_like(real)).sum(dim=1)  # (N,)
    real_pos_n = pos_mask.sum(dim=1)

    # hard negatives (anchor-inclusive): m_ik = a z_i + (1-a) z_k (detached), y_k != y_i;
    # z_i . m_ik = a (z_i . sg z_i) + (1-a) (z_i . sg z_k); label a y_i + (1-a) y_k
    c = zn @ zd.T  # (N, N) z_i . sg(z_k)
    hn = (alpha_neg * c.diagonal()[:, None] + (1.0 - alpha_neg) * c) / temperature  # (N, N)
    hn_w = ((1.0 - alpha_neg) * dist + 1.0) if distance_weight else torch.ones_like(dist)
    hn_lse = torch.logsumexp((hn + hn_w.log()).masked_fill(same, float("-inf")), dim=1)  # (N,)

    # hard positives (anchor-exclusive): y_j < y_i < y_k within the window, label y_i
    hp_lse, hp_pos_sum, hp_n = _hard_positive_terms(c, y, window, temperature)  # (N,) each

    n_pos = real_pos_n + hp_n  # (N,)
    log_denom = torch.logsumexp(torch.stack([real_lse, hn_lse, hp_lse]), dim=0)  # (N,)
    has_pos = n_pos > 0
    mean_pos = (real_pos_sum + hp_pos_sum) / n_pos.clamp(min=1).to(dt)
    per_anchor = torch.where(has_pos, log_denom - mean_pos, torch.zeros_like(log_denom))
    if reduction == "none":
        return per_anchor
    return per_anchor.sum() / has_pos.sum().clamp(min=1).to(dt)


def supremix(
    z: Tensor,
    targets: Tensor,
    *,
    temperature: float = 0.3,
    window: float = 1.0,
    alpha_beta: tuple[float, float] = (2.0, 8.0),
    distance_weight: bool = True,
    generator: torch.Generator | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""SupReMix: supervised contrastive regression with mixed hard pairs (Wu et al. 2023).

    Rows are L2-normalised here (``z_i``); ``sg`` = detached (stop-gradient). Real rows:
    the N rows given (with two views, N = 2B rows ``[view 1; view 2]``). For anchor i:

    - real positives: rows k != i with ``y_k == y_i`` exactly (incl. its other view);
      every other real row is a negative;
    - hard negatives (anchor-inclusive), one per real row k with ``y_k != y_i``:
      ``m_ik = a_ik sg(z_i) + (1 - a_ik) sg(z_k)``, ``a_ik ~ Beta(2, 8)`` (``alpha_beta``),
      mixed label ``a_ik y_i + (1 - a_ik) y_k``;
    - hard positives (anchor-exclusive), one per ordered pair (j, k) of real rows with
      ``y_j < y_i < y_k``, ``y_i - y_j <= window`` and ``y_k - y_i <= window``:
      ``m_ijk = a sg(z_j) + (1 - a) sg(z_k)``, ``a = (y_k - y_i)/(y_k - y_j)``, so the mixed
      label is exactly y_i.

    With ``P(i)`` = real positives + hard positives and ``K(i)`` = every real row but i,
    every hard negative and every hard positive, the loss is SupCon L_out over them::

        l_i = -(1/|P(i)|) sum_{p in P(i)} s_ip/tau + log sum_{k in K(i)} w_ik exp(s_ik/tau)

    with ``s_ik = z_i . x_k`` (x_k a real row or a mixture), ``w_ik = |y_i - y_k| + 1``
    (y_k the mixed label for mixtures) if ``distance_weight`` else 1. Positives have
    weight 1 (distance 0). Anchors without any positive give 0 and are left out of the mean.

    Details that differ from the obvious reading:

    - mixtures are NOT re-normalised (they are chords, inside the sphere), so
      ``z_i . m = a z_i . sg(x) + (1 - a) z_i . sg(x')``; the gradient reaches the
      mixtures only through the anchor z_i (their ingredients are detached);
    - memory: no mixture vector is ever built (that would be O(N^3 D)). By linearity
      every mixture similarity comes from the (N, N) matrix ``z_i . sg(z_k)``; hard
      negatives need (N, N) scalars. Hard positives need one scalar per (i, j, k): only
      the j and k inside the window are visited (for each anchor they are contiguous in
      target order), at most N^3/4 triples when the window spans all labels; they are
      processed in chunks of anchors of at most 2^22 triples, forward and backward (a
      small autograd Function recomputes a chunk in backward rather than keeping all).
      Peak memory O(N^2 + 2^22) scalars; time O(sum_i L_i R_i) <= O(N^3 / 4). No cap
      and no subsampling: every hard pair of the spec is used. Default batch 64
      (N = 128) takes milliseconds; N = 512 with a window spanning all labels ~1-2 s
      on 2 CPU cores;
    - Beta draws come from numpy seeded by one draw of ``generator`` (torch's Beta
      sampler takes no generator), so results are reproducible from ``generator`` or
      from ``torch.manual_seed``.

    Args:
        z: (N, D) embeddings, N >= 2 (normalised inside).
        targets: (N,) float targets (equal values = same label, exact comparison).
        temperature: tau > 0 (0.3 tabular; 0.1 images).
        window: n > 0, label window of the hard positives, in label units.
        alpha_beta: (a, b) of the Beta law of the hard-negative coefficient (on the anchor).
        distance_weight: multiply denominator terms by ``|y_i - y_other| + 1``.
        generator: torch generator for the Beta draws.
        reduction: ``"mean"`` -> scalar over anchors with a positive; ``"none"`` -> (N,),
            0 for anchors without positives.

    Returns:
        Scalar or (N,).
    """
    _check_matrix("z", z, min_rows=2)
    n = z.shape[0]
    _check_targets("targets", targets, n)
    _check_positive("temperature", temperature)
    _check_positive("window", window)
    if len(alpha_beta) != 2 or not (alpha_beta[0] > 0 and alpha_beta[1] > 0):
        raise ValueError(f"alpha_beta must be two positive numbers (a, b), got {alpha_beta!r}")
    _check_reduction(reduction)
    alpha_neg = _sample_negative_alpha(n, alpha_beta, generator)
    return _supremix_with_alpha(
        z,
        targets,
        alpha_neg,
        temperature=temperature,
        window=window,
        distance_weight=distance_weight,
        reduction=reduction,
    )


def rnc(
    z: Tensor,
    targets: Tensor,
    *,
    temperature: float = 2.0,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Rank-N-Contrast (Zha et al. 2023, Eq. 2) on UN-normalised features.

    ``sim_ij = -||f_i - f_j||_2`` (features NOT normalised), ``d_ij = |y_i - y_j|``.
    For each anchor i and each j != i::

        l_ij = -sim_ij/tau + log sum_{k != i, d_ik >= d_ij} exp(sim_ik/tau)

    The set of k includes j itself and every k tied with it (``>=``). Loss = mean over all
    N(N-1) pairs (i, j). Implementation: per anchor, rows sorted by label distance and a
    reversed cumulative ``logcumsumexp``; each j looks up the first sorted position with
    ``d >= d_ij`` (``searchsorted``). O(N^2 log N) time and O(N^2) memory instead of the
    O(N^3) masks of the direct form. Distances use ``torch.cdist`` without the matmul
    shortcut (exact for close points; its gradient at a zero distance is 0).

    Args:
        z: (N, D) features, N >= 2.
        targets: (N,) float targets.
        temperature: tau > 0 (2.0 in the paper).
        reduction: ``"mean"`` -> scalar over the N(N-1) pairs; ``"none"`` -> (N,) per
            anchor, the mean over its N - 1 values of j.

    Returns:
        Scalar or (N,).
    """
    _check_matrix("z", z, min_rows=2)
    n = z.shape[0]
    _check_targets("targets", targets, n)
    _check_positive("temperature", temperature)
    _check_reduction(reduction)
    dev = z.device
    y = targets.to(device=dev, dtype=z.dtype)
    logits = -torch.cdist(z, z, p=2.0, compute_mode="donot_use_mm_for_euclid_dist") / temperature
    eye = torch.eye(n, dtype=torch.bool, device=dev)
    logits = logits.masked_fill(eye, float("-inf"))  # (N, N), self never in a denominator
    d = (y[:, None] - y[None, :]).abs()  # (N, N)
    d_sorted, order = torch.sort(d, dim=1)  # ascending label distance per anchor
    lg_sorted = logits.gather(1, order)  # (N, N)
    # suffix[i, r] = log sum_{r' >= r} exp(lg_sorted[i, r'])
    suffix = torch.logcumsumexp(lg_sorted.flip(1), dim=1).flip(1)  # (N, N)
    first = torch.searchsorted(d_sorted.contiguous(), d.contiguous(), right=False)  # (N, N)
    log_denom = suffix.gather(1, first)  # (N, N): denominator of pair (i, j)
    pair = (log_denom - logits).masked_fill(eye, 0.0)  # (N, N)
    per_anchor = pair.sum(dim=1) / (n - 1)  # (N,)
    return per_anchor.mean() if reduction == "mean" else per_anchor
