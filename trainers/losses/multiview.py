"""Multi-view contrastive losses (Koromilas et al. 2025): pairwise NT-Xent, MV-InfoNCE and
MV-DHEL, each over V >= 2 views ``u_il`` (view l of sample i, rows L2-normalised), s = u . u'.

Pairwise NT-Xent, the baseline: NT-Xent on each of the V(V-1)/2 pairs of views (l, l'),
averaged over pairs; for an anchor ``u_il`` in pair (l, l')::

    l_il^{(l,l')} = -s(u_il, u_il')/tau
                    + log[ sum_{j != i} exp(s(u_il, u_jl)/tau) + sum_j exp(s(u_il, u_jl')/tau) ]

MV-InfoNCE, one term per sample i over all its views::

    l_i = -log sum_{l != l'} exp(u_il . u_il' / tau)
          + log sum_l sum_{(j, m) != (i, l)} exp(u_il . u_jm / tau)

MV-DHEL, the decoupled form (no positive in the uniformity term)::

    l_i = -log sum_{l < l'} exp(u_il . u_il' / tau)
          + sum_l log sum_{j != i} exp(u_il . u_jl / tau)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from trainers.losses._checks import (
    Reduction,
    _check_multiview,
    _check_positive,
    _check_reduction,
    _reduce,
)

__all__ = ["pairwise_nt_xent", "mv_infonce", "mv_dhel"]


def _positive_logits(u: Tensor, temperature: float) -> Tensor:
    """(V, M, D) normalised views -> (M, V, V) within-sample logits u_il . u_il' / tau."""
    return torch.einsum("lid,mid->ilm", u, u) / temperature


def mv_infonce(
    views: Tensor,
    *,
    temperature: float = 0.5,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""MV-InfoNCE (Koromilas et al. 2025): one InfoNCE term per sample over all its views.

    Rows are L2-normalised here; ``u_il`` is view l of sample i. For each sample i::

        l_i = -log sum_{l != l'} exp(u_il . u_il' / tau)
              + log sum_l sum_{(j, m) != (i, l)} exp(u_il . u_jm / tau)

    The numerator runs over ORDERED pairs of distinct views of sample i (V(V-1) terms);
    the denominator sums the rows of all V anchors of sample i over every other row of the
    VM x VM similarity matrix (positives and same-view rows included, only the self entry
    excluded). One ``logsumexp`` each. Cost O(V^2 M^2 D).

    Args:
        views: (V, M, D), V >= 2 views of M samples (normalised inside).
        temperature: tau > 0.
        reduction: ``"mean"`` -> scalar, mean over the M samples; ``"none"`` -> (M,).

    Returns:
        Scalar or (M,).
    """
    _check_multiview(views)
    _check_positive("temperature", temperature)
    _check_reduction(reduction)
    v, m, d = views.shape
    u = F.normalize(views, dim=-1)  # (V, M, D)
    pos = _positive_logits(u, temperature)  # (M, V, V)
    eye_v = torch.eye(v, dtype=torch.bool, device=u.device)
    num = torch.logsumexp(pos.masked_fill(eye_v, float("-inf")).reshape(m, v * v), dim=1)  # (M,)
    flat = u.reshape(v * m, d)  # (VM, D), row l*M + i
    logits = (flat @ flat.T / temperature).masked_fill(
        torch.eye(v * m, dtype=torch.bool, device=u.device), float("-inf")
    )  # (VM, VM)
    row_lse = torch.logsumexp(logits, dim=1).reshape(v, m)  # (V, M) per anchor (l, i)
    den = torch.logsumexp(row_lse, dim=0)  # (M,): log sum over l of the rows' sums
    per_sample = den - num  # (M,)
    return _reduce(per_sample, reduction)


def mv_dhel(
    views: Tensor,
    *,
    temperature: float = 0.5,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""MV-DHEL (Koromilas et al. 2025): decoupled hyperspherical energy loss for V views.

    Rows are L2-normalised here; ``u_il`` is view l of sample i. For each sample i::

        l_i = -log sum_{l < l'} exp(u_il . u_il' / tau)
              + sum_l log sum_{j != i} exp(u_il . u_jl / tau)

    Alignment: one ``logsumexp`` over the V(V-1)/2 UNORDERED view pairs of sample i.
    Uniformity: one ``logsumexp`` per view over the SAME-VIEW rows only, self excluded and
    no positive inside (decoupled). With V = 2 this is DHEL. Only the V same-view M x M
    similarity matrices and the per-sample V x V cross-view blocks are built: cost
    O(V M^2 D + M V^2 D) time, O(V M^2) memory (never the VM x VM matrix).

    Args:
        views: (V, M, D), V >= 2 views of M >= 2 samples (normalised inside).
        temperature: tau > 0.
        reduction: ``"mean"`` -> scalar, mean over the M samples; ``"none"`` -> (M,).

    Returns:
        Scalar or (M,). Can be negative.
    """
    _check_multiview(views, min_samples=2)
    _check_positive("temperature", temperature)
    _check_reduction(reduction)
    v, m, _ = views.shape
    u = F.normalize(views, dim=-1)  # (V, M, D)
    pos = _positive_logits(u, temperature)  # (M, V, V)
    upper = torch.triu(torch.ones(v, v, dtype=torch.bool, device=u.device), diagonal=1)
    align = torch.logsumexp(pos[:, upper], dim=1)  # (M,): over l < l'
    same = torch.bmm(u, u.transpose(1, 2)) / temperature  # (V, M, M)
    same = same.masked_fill(torch.eye(m, dtype=torch.bool, device=u.device), float("-inf"))
    uniform = torch.logsumexp(same, dim=2).sum(dim=0)  # (M,): sum over views
    per_sample = uniform - align  # (M,)
    return _reduce(per_sample, reduction)


def pairwise_nt_xent(
    views: Tensor,
    *,
    temperature: float = 0.5,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Pairwise NT-Xent: the multi-view baseline of Koromilas et al. (2025).

    NT-Xent (see :func:`~trainers.losses.nt_xent.nt_xent`, 2M - 1 denominator terms) is applied to every one of
    the V(V-1)/2 pairs of views ``(l, l')``, ``l < l'``, and averaged over pairs. Only the
    two views of a pair enter its denominators: for an anchor ``u_il`` in pair (l, l')::

        l_il^{(l,l')} = -s(u_il, u_il')/tau
                        + log[ sum_{j != i} exp(s(u_il, u_jl)/tau) + sum_j exp(s(u_il, u_jl')/tau) ]

    Implementation: one (V, M, V, M) similarity tensor; for each anchor a same-view
    ``logsumexp`` (self masked) and one cross-view ``logsumexp`` per other view, combined
    with ``logaddexp``. Cost O(V^2 M^2 D) time, O(V^2 M^2) memory; no loop over pairs.

    Args:
        views: (V, M, D), V >= 2 views of M >= 2 samples (normalised inside).
        temperature: tau > 0.
        reduction: ``"mean"`` -> scalar, mean over pairs and their 2M anchors (equal to the
            mean of the V(V-1)/2 ``nt_xent`` values); ``"none"`` -> (M,) per sample, the mean
            over pairs of the mean of its two anchors in that pair.

    Returns:
        Scalar or (M,). With V = 2 it equals ``nt_xent(views[0], views[1])``.
    """
    _check_multiview(views, min_samples=2)
    _check_positive("temperature", temperature)
    _check_reduction(reduction)
    v, m, _ = views.shape
    u = F.normalize(views, dim=-1)  # (V, M, D)
    raw = torch.einsum("lid,mjd->limj", u, u) / temperature  # (V, M, V, M)
    pos = torch.diagonal(raw, dim1=1, dim2=3)  # (V, V, M): s(u_il, u_il')/tau
    eye_v = torch.eye(v, dtype=torch.bool, device=u.device)
    eye_m = torch.eye(m, dtype=torch.bool, device=u.device)
    self_mask = eye_v[:, None, :, None] & eye_m[None, :, None, :]  # (V, M, V, M)
    sim = raw.masked_fill(self_mask, float("-inf"))
    block_lse = torch.logsumexp(sim, dim=3)  # (V, M, V): per anchor (l,i), per view m
    same = torch.diagonal(block_lse, dim1=0, dim2=2).T  # (V, M): same-view block, self excluded
    denom = torch.logaddexp(same[:, :, None], block_lse)  # (V, M, V): pair (l, l')
    per = denom - pos.permute(0, 2, 1)  # (V, M, V): l_il^{(l,l')}; l = l' is not a pair
    per = per.masked_fill(eye_v[:, None, :], 0.0)
    per_sample = per.sum(dim=(0, 2)) / (v * (v - 1))  # (M,): mean over ordered pairs
    return _reduce(per_sample, reduction)
