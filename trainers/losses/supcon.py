"""SupCon: supervised contrastive loss, L_out form (Khosla et al. 2020)."""

from __future__ import annotations

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

__all__ = ["supcon"]


def supcon(
    z: Tensor,
    labels: Tensor,
    *,
    temperature: float = 0.1,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Supervised contrastive loss, L^sup_out (Khosla et al. 2020, Eq. 2).

    Rows are L2-normalised here, ``s_ak = z_a . z_k``. The positives of anchor a are all
    OTHER rows with the same label, ``P(a) = {p != a : y_p == y_a}`` (so with two views
    stacked as rows, its other view is one of them). For each anchor with ``|P(a)| > 0``::

        l_a = -(1/|P(a)|) sum_{p in P(a)} [ s_ap/tau - log sum_{k != a} exp(s_ak/tau) ]

    The denominator runs over every other row (positives included), one ``logsumexp`` with
    the self entry masked by ``-inf``. There is no ``tau / base_temperature`` factor
    (equivalently base_temperature = tau).

    The detail that differs from the obvious reading: an anchor WITHOUT positives
    contributes 0 and is excluded from the mean (the mean runs over anchors that have at
    least one positive; if no anchor has one, the loss is 0, still attached to the graph).
    Labels are compared with exact equality, so float labels work (regression targets
    used as class labels: equal floats are positives; NaN or inf labels are rejected).

    Args:
        z: (N, D) embeddings, N >= 2 (normalised inside).
        labels: (N,) labels, integer or float.
        temperature: tau > 0.
        reduction: ``"mean"`` -> scalar; ``"none"`` -> (N,) per anchor, 0 for anchors
            without positives.

    Returns:
        Scalar or (N,). Equals pytorch-metric-learning ``SupConLoss(temperature)(z, labels)``
        when every anchor has a positive.
    """
    _check_matrix("z", z, min_rows=2)
    n = z.shape[0]
    _check_targets("labels", labels, n)
    _check_positive("temperature", temperature)
    _check_reduction(reduction)
    labels = labels.to(z.device)
    zn = F.normalize(z, dim=1)
    logits = zn @ zn.T / temperature  # (N, N)
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    log_denom = torch.logsumexp(logits.masked_fill(eye, float("-inf")), dim=1)  # (N,)
    pos_mask = (labels[:, None] == labels[None, :]) & ~eye  # (N, N)
    n_pos = pos_mask.sum(dim=1)  # (N,)
    pos_sum = torch.where(pos_mask, logits, torch.zeros_like(logits)).sum(dim=1)  # (N,)
    has_pos = n_pos > 0
    per_anchor = torch.where(
        has_pos, log_denom - pos_sum / n_pos.clamp(min=1).to(z.dtype), torch.zeros_like(log_denom)
    )  # (N,)
    if reduction == "none":
        return per_anchor
    return per_anchor.sum() / has_pos.sum().clamp(min=1).to(z.dtype)
