"""DCL and DCLW: Decoupled Contrastive Learning (Yeh et al. 2021)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from trainers.losses._checks import (
    Reduction,
    _check_positive,
    _check_reduction,
    _check_views,
    _reduce,
)

__all__ = ["dcl"]


def dcl(
    z1: Tensor,
    z2: Tensor,
    *,
    temperature: float = 0.1,
    weighted: bool = False,
    sigma: float = 0.5,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Decoupled contrastive loss (Yeh et al. 2021, Eq. 6) and its weighted form DCLW (Eq. 8).

    Rows are L2-normalised here; ``z = [z1; z2]`` has 2B rows, row ``a`` and row
    ``p = a + B (mod 2B)`` are a positive pair, ``s_ak = z_a . z_k``. For each anchor::

        l_a = -w_a * s_ap / tau + log sum_{k not in {a, p}} exp(s_ak / tau)

    i.e. NT-Xent with the positive **removed** from the denominator, which is ONE
    ``logsumexp`` over the 2B - 2 negatives of both views (same-view and cross-view rows
    together, not one log per view). The loss can be negative; that is correct.

    ``weighted=False`` (DCL): ``w_a = 1``. ``weighted=True`` (DCLW): for sample i of the
    batch (i = 0..B-1) ::

        w_i = 2 - B * softmax_i(s_{i,i+} / sigma)      (softmax over the B samples)

    with ``s_{i,i+} = z1_i . z2_i`` (cosine, not divided by tau). The same ``w_i`` weighs
    both anchors of sample i (rows i and i + B). ``w`` is **detached** (no gradient flows
    through the weight); the weights average to 1 over the batch and down-weight easy
    positives (high s_ii+).

    Args:
        z1: (B, D) first view, B >= 2 (normalised inside).
        z2: (B, D) second view, row i is the positive of ``z1[i]``.
        temperature: tau > 0.
        weighted: False for DCL, True for DCLW.
        sigma: DCLW softmax temperature (> 0), used only when ``weighted``.
        reduction: ``"mean"`` -> scalar over the 2B anchors; ``"none"`` -> (2B,), view-1
            anchors first.

    Returns:
        Scalar or (2B,) tensor.
    """
    _check_views(z1, z2, min_batch=2)
    _check_positive("temperature", temperature)
    _check_positive("sigma", sigma)
    _check_reduction(reduction)
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)  # (2B, D)
    sim = z @ z.T  # (2B, 2B)
    idx = torch.arange(2 * b, device=z.device)
    pos_idx = (idx + b) % (2 * b)  # (2B,)
    pos = sim[idx, pos_idx]  # (2B,) s_ap
    excluded = torch.zeros(2 * b, 2 * b, dtype=torch.bool, device=z.device)
    excluded[idx, idx] = True
    excluded[idx, pos_idx] = True
    neg_lse = torch.logsumexp((sim / temperature).masked_fill(excluded, float("-inf")), dim=1)
    if weighted:
        with torch.no_grad():
            w_half = 2.0 - b * torch.softmax(pos[:b] / sigma, dim=0)  # (B,)
            w = torch.cat([w_half, w_half])  # (2B,)
    else:
        w = torch.ones_like(pos)
    per_anchor = -w * pos / temperature + neg_lse  # (2B,)
    return _reduce(per_anchor, reduction)
