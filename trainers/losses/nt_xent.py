"""NT-Xent / InfoNCE (SimCLR, Chen et al. 2020, Eq. 1), two views.

Rows are L2-normalised; ``z = [z1; z2]`` has 2B rows, row ``a`` and row ``a + B (mod 2B)``
are a positive pair, ``s_ak = z_a . z_k``. For each of the 2B anchors::

    l_a = -s_ap / tau + log sum_{k != a} exp(s_ak / tau)

(2B - 1 denominator terms). The pairwise multi-view baseline is
:func:`trainers.losses.multiview.pairwise_nt_xent`.
"""

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

__all__ = ["nt_xent"]


def nt_xent(
    z1: Tensor,
    z2: Tensor,
    *,
    temperature: float = 0.5,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""NT-Xent / InfoNCE loss of SimCLR (Chen et al. 2020, Eq. 1), both views as anchors.

    Rows are L2-normalised here; ``z = [z1; z2]`` has 2B rows, row ``a`` and row
    ``a + B (mod 2B)`` are a positive pair, ``s_ak = z_a . z_k``. For each of the 2B
    anchors::

        l_a = -s_ap / tau + log sum_{k != a} exp(s_ak / tau)

    The denominator has **2B - 1 terms**: the positive and all 2B - 2 other rows of both
    views (same-view rows included). This is *not* the cross-view-only form
    ``CE(z1 z2^T / tau)`` of MoCo v3 / CLIP, which has B terms. Computed with a
    ``logsumexp`` whose self-similarity entry is masked with ``-inf``.

    Args:
        z1: (B, D) first view (any scale; normalised inside).
        z2: (B, D) second view, row i is the positive of ``z1[i]``.
        temperature: tau > 0.
        reduction: ``"mean"`` -> scalar, mean over the 2B anchors; ``"none"`` -> (2B,)
            per anchor, the view-1 anchors first (``[l_0 .. l_{B-1}, l_B .. l_{2B-1}]``).

    Returns:
        Scalar or (2B,) tensor. Same value as pytorch-metric-learning
        ``NTXentLoss(temperature)(cat([z1, z2]), cat([arange(B), arange(B)]))``.
    """
    _check_views(z1, z2)
    _check_positive("temperature", temperature)
    _check_reduction(reduction)
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)  # (2B, D)
    logits = z @ z.T / temperature  # (2B, 2B)
    eye = torch.eye(2 * b, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    pos_idx = (torch.arange(2 * b, device=z.device) + b) % (2 * b)  # (2B,)
    pos = logits.gather(1, pos_idx[:, None]).squeeze(1)  # (2B,)
    per_anchor = torch.logsumexp(logits, dim=1) - pos  # (2B,)
    return _reduce(per_anchor, reduction)
