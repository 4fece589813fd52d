"""Similarity-score distillation (the relaxation used by DiSCo, Gao et al. 2022; close to
similarity-preserving KD, Tung & Mori 2019): the student matches the teacher's in-batch
similarity distribution.

Rows are L2-normalised; S = Z Z^T (B x B) for each model. For row i, over the B-1 other
rows j != i::

    p_ij = softmax_{j != i}(S^t_ij / tau),   q_ij = softmax_{j != i}(S^s_ij / tau)
    l_i  = KL(p_i || q_i) = sum_{j != i} p_ij (log p_ij - log q_ij)

averaged over the B rows. The teacher is detached.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from trainers.losses._checks import (
    Reduction,
    _check_pair,
    _check_positive,
    _check_reduction,
    _off_diagonal,
    _reduce,
)

__all__ = ["similarity_distillation"]


def similarity_distillation(
    zs: Tensor,
    zt: Tensor,
    *,
    temperature: float = 0.1,
    reduction: Reduction = "mean",
) -> Tensor:
    """Similarity-score distillation (the relaxation used by DiSCo, Gao et al. 2022; close
    to similarity-preserving KD, Tung & Mori 2019): the student matches the teacher's
    in-batch similarity DISTRIBUTION, not its coordinates.

    Rows are L2-normalised; S = Z Z^T (B x B) for each model. For row i, over the B-1
    other rows j != i (the diagonal, self-similarity 1, is excluded):

        p_ij = softmax_{j != i}(S^t_ij / tau),   q_ij = softmax_{j != i}(S^s_ij / tau)
        l_i  = KL(p_i || q_i) = sum_{j != i} p_ij (log p_ij - log q_ij)

    ``"mean"`` averages l_i over the B rows. The teacher is detached.

    Details that differ from the obvious reading:

    - the self-similarity is removed from the softmax (not masked to a large negative
      value inside a B-way softmax): each row is a distribution over B-1 entries;
    - one temperature for both models; the student and teacher dimensions may differ
      (only B x B similarities are compared), so no projection is needed;
    - invariant to the scale of each row and to any rotation of either embedding space.

    Args:
        zs: (B, Ds) student embeddings, B >= 2.
        zt: (B, Dt) teacher embeddings; detached here.
        temperature: tau > 0, default 0.1.
        reduction: "mean" -> scalar; "none" -> (B,).
    """
    _check_reduction(reduction)
    _check_pair("zs", zs, "zt", zt, same_dim=False, min_batch=2)
    _check_positive("temperature", temperature)
    s = F.normalize(zs, dim=1)  # (B, Ds)
    t = F.normalize(zt.detach(), dim=1)  # (B, Dt)
    logits_s = _off_diagonal(s @ s.T) / temperature  # (B, B-1)
    logits_t = _off_diagonal(t @ t.T) / temperature  # (B, B-1)
    log_q = F.log_softmax(logits_s, dim=1)
    log_p = F.log_softmax(logits_t, dim=1)
    per_row = F.kl_div(log_q, log_p, reduction="none", log_target=True).sum(dim=1)  # (B,)
    return _reduce(per_row, reduction)
