"""Hinton knowledge distillation (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in
a Neural Network", the soft-target term of eq. 2 with the T^2 factor).

For sample b with teacher p_b = softmax(t_b / T) and student q_b = softmax(s_b / T)::

    l_b = T^2 * KL(p_b || q_b) = T^2 * sum_c p_bc (log p_bc - log q_bc)

summed over the C classes and averaged over the B samples ("batchmean"). The teacher is
detached.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from trainers.losses._checks import (
    Reduction,
    _check_pair,
    _check_positive,
    _check_reduction,
    _reduce,
)

__all__ = ["kd"]


def kd(
    student_logits: Tensor,
    teacher_logits: Tensor,
    *,
    T: float = 4.0,
    reduction: Reduction = "mean",
) -> Tensor:
    """Hinton knowledge distillation (Hinton, Vinyals & Dean 2015, "Distilling the
    Knowledge in a Neural Network", the soft-target term of eq. 2 with the T^2 factor).

    For sample b with teacher p_b = softmax(t_b / T) and student q_b = softmax(s_b / T):

        l_b = T^2 * KL(p_b || q_b) = T^2 * sum_c p_bc (log p_bc - log q_bc)

    summed over the C classes; ``"mean"`` averages over the B samples, which equals
    ``T**2 * F.kl_div(F.log_softmax(s/T, 1), F.softmax(t/T, 1), reduction="batchmean")``.

    Details that differ from the obvious reading:

    - the KL is summed over classes and averaged over the batch ("batchmean"); PyTorch's
      ``reduction="mean"`` of ``kl_div`` would also divide by C and is NOT used;
    - the T^2 factor keeps the gradient scale independent of T (the gradient of the
      softened KL scales as 1/T^2), so ``gamma * CE + alpha * kd`` keeps its balance
      when T changes. The total loss is the caller's business.
    - computed from log-probabilities on both sides (``log_target=True``), so a teacher
      probability that underflows to 0 gives 0, not NaN.

    Args:
        student_logits: (B, C) raw scores of the student.
        teacher_logits: (B, C) raw scores of the teacher; detached here.
        T: softmax temperature (> 0), default 4.
        reduction: "mean" -> scalar; "none" -> (B,) per-sample values l_b.

    Returns:
        Scalar tensor, or (B,) with ``reduction="none"``.
    """
    _check_reduction(reduction)
    _check_pair("student_logits", student_logits, "teacher_logits", teacher_logits, same_dim=True)
    _check_positive("T", T)
    log_q = F.log_softmax(student_logits / T, dim=1)  # (B, C)
    log_p = F.log_softmax(teacher_logits.detach() / T, dim=1)  # (B, C)
    per_sample = F.kl_div(log_q, log_p, reduction="none", log_target=True).sum(dim=1)  # (B,)
    return _reduce(per_sample * (T * T), reduction)
