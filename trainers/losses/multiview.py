"""Multi-view contrastive losses: MV-InfoNCE and MV-DHEL (Koromilas et al. 2025).

The pairwise NT-Xent baseline lives in :mod:`trainers.losses.nt_xent`
(:func:`~trainers.losses.nt_xent.pairwise_nt_xent`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from trainers.losses.nt_xent import (
    Reduction,
    _check_multiview,
    _check_positive,
    _check_reduction,
    _reduce,
)

__all__ = ["mv_infonce", "mv_dhel"]


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
