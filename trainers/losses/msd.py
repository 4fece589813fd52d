"""Momentum self-distillation (DINO, Caron et al. 2021, eq. 1 and sec. 3.1): cross-entropy
from the centred, sharpened teacher to the student::

    p_b = softmax((t_b - c) / tau_t)          (no gradient)
    l_b = -sum_k p_bk * log_softmax(s_b / tau_s)_k

averaged over the B rows, with the centre updated after each batch::

    c <- m * c + (1 - m) * mean_b(t_b)

:class:`MSDLoss` holds the centre. Centring alone or sharpening alone collapses (DINO
sec. 5.3); both together do not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainers.losses._checks import (
    Reduction,
    _check_matrix,
    _check_pair,
    _check_positive,
    _check_reduction,
    _check_unit_interval,
    _reduce,
)

__all__ = ["center_update", "msd_loss", "MSDLoss"]


@torch.no_grad()
def center_update(center: Tensor, teacher_out: Tensor, *, momentum: float = 0.9) -> Tensor:
    """DINO centre update: c <- m * c + (1 - m) * mean_b(teacher_out_b), default m = 0.9.

    Args:
        center: (K,) or (1, K) current centre.
        teacher_out: (B, K) teacher outputs (logits, before the softmax).
        momentum: m in [0, 1].

    Returns:
        A NEW tensor shaped like ``center`` (no gradient); the input is not modified.
    """
    _check_unit_interval("momentum", momentum)
    _check_matrix("teacher_out", teacher_out)
    if center.numel() != teacher_out.shape[1] or center.dim() > 2:
        raise ValueError(
            f"center must have shape (K,) or (1, K) with K = {teacher_out.shape[1]} "
            f"(teacher_out's columns), got {tuple(center.shape)}"
        )
    batch_mean = teacher_out.detach().mean(dim=0).reshape(center.shape)
    return center * momentum + batch_mean * (1.0 - momentum)


def msd_loss(
    student_out: Tensor,
    teacher_out: Tensor,
    center: Tensor | None,
    *,
    student_temp: float = 0.1,
    teacher_temp: float = 0.04,
    centering: bool = True,
    sharpening: bool = True,
    reduction: Reduction = "mean",
) -> Tensor:
    """Momentum self-distillation loss (DINO, Caron et al. 2021, eq. 1 and sec. 3.1; MSD
    for small compute): cross-entropy from the centred, sharpened teacher to the student.

        p_b = softmax((t_b - c) / tau_t)          (no gradient)
        l_b = -sum_k p_bk * log_softmax(s_b / tau_s)_k

    ``"mean"`` averages over the B rows; row b of the student is paired with row b of the
    teacher (arrange the cross-view pairs before calling, as DINO does with its crops).

    Switches (for the collapse demonstration):

    - ``centering=False``: c is not subtracted (``center`` may then be None);
    - ``sharpening=False``: tau_t = tau_s (``teacher_temp`` is ignored).

    Each switch alone collapses (DINO sec. 5.3, fig. 7): centring alone pushes the teacher
    towards the UNIFORM distribution (entropy -> log K), sharpening alone towards ONE
    dimension for every input (entropy -> 0). Their effects oppose; only both together
    avoid collapse with an EMA teacher. The teacher's entropy is the thing to plot.

    Args:
        student_out: (B, K) student logits (projection-head outputs).
        teacher_out: (B, K) teacher logits; detached here.
        center: (K,) or (1, K) centre, or None when ``centering=False``.
        student_temp: tau_s > 0, default 0.1.
        teacher_temp: tau_t > 0, default 0.04.
        centering, sharpening: see above.
        reduction: "mean" -> scalar; "none" -> (B,).

    Note: this is a cross-entropy, not a KL: it does not reach 0 when the student matches
    the teacher (it equals the teacher's entropy there).
    """
    _check_reduction(reduction)
    _check_pair("student_out", student_out, "teacher_out", teacher_out, same_dim=True)
    _check_positive("student_temp", student_temp)
    _check_positive("teacher_temp", teacher_temp)
    t = teacher_out.detach()
    if centering:
        if center is None:
            raise ValueError("centering=True needs a center tensor of shape (K,) or (1, K)")
        if center.numel() != t.shape[1] or center.dim() > 2:
            raise ValueError(
                f"center must have shape (K,) or (1, K) with K = {t.shape[1]}, "
                f"got {tuple(center.shape)}"
            )
        t = t - center.detach().reshape(1, -1)
    tau_t = teacher_temp if sharpening else student_temp
    p = F.softmax(t / tau_t, dim=1)  # (B, K)
    log_q = F.log_softmax(student_out / student_temp, dim=1)  # (B, K)
    per_sample = -(p * log_q).sum(dim=1)  # (B,)
    return _reduce(per_sample, reduction)


class MSDLoss(nn.Module):
    """:func:`msd_loss` with its centre held as a buffer (``self.center``, shape (K,),
    starting at 0). ``forward`` computes the loss with the CURRENT centre and then, in
    training mode only, updates the centre with this batch's teacher outputs
    (:func:`center_update`), as DINO does. With two views, pass both views' teacher
    outputs in one call (or concatenate) so the centre sees the whole batch.
    """

    center: Tensor

    def __init__(
        self,
        out_dim: int,
        *,
        student_temp: float = 0.1,
        teacher_temp: float = 0.04,
        center_momentum: float = 0.9,
        centering: bool = True,
        sharpening: bool = True,
    ) -> None:
        super().__init__()
        if out_dim < 1:
            raise ValueError(f"out_dim must be >= 1, got {out_dim}")
        _check_positive("student_temp", student_temp)
        _check_positive("teacher_temp", teacher_temp)
        _check_unit_interval("center_momentum", center_momentum)
        self.student_temp = student_temp
        self.teacher_temp = teacher_temp
        self.center_momentum = center_momentum
        self.centering = centering
        self.sharpening = sharpening
        self.register_buffer("center", torch.zeros(out_dim))

    def forward(
        self, student_out: Tensor, teacher_out: Tensor, reduction: Reduction = "mean"
    ) -> Tensor:
        loss = msd_loss(
            student_out,
            teacher_out,
            self.center,
            student_temp=self.student_temp,
            teacher_temp=self.teacher_temp,
            centering=self.centering,
            sharpening=self.sharpening,
            reduction=reduction,
        )
        if self.training:
            self.center = center_update(self.center, teacher_out, momentum=self.center_momentum)
        return loss
