"""Contrastive representation distillation (Tian, Krishnan & Isola 2020, "Contrastive
Representation Distillation"), in-batch InfoNCE form.

zs and zt are the student's and teacher's embeddings mapped to a shared space
(:class:`CRDHead`: linear + L2 norm); with s_ij = zs_i . zt_j::

    l_i = -log( exp(s_ii / tau) / sum_{j=1..B} exp(s_ij / tau) )

averaged over the B student anchors (``symmetric=True`` adds the teacher -> student
direction). zt is NOT detached: the teacher-side head is trained; :class:`CRDHead`
detaches the teacher network's features before that head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainers.losses._checks import (
    Reduction,
    _check_pair,
    _check_positive,
    _check_reduction,
    _reduce,
)

__all__ = ["crd", "CRDHead"]


def crd(
    zs: Tensor,
    zt: Tensor,
    *,
    temperature: float = 0.07,
    symmetric: bool = False,
    reduction: Reduction = "mean",
) -> Tensor:
    """Contrastive representation distillation (Tian, Krishnan & Isola 2020, "Contrastive
    Representation Distillation"), in-batch InfoNCE form.

    zs and zt are the student's and teacher's embeddings ALREADY mapped to a shared
    space (CRD uses linear + L2 norm to 128-d: :class:`CRDHead`); rows are
    L2-normalised again here (a no-op on normalised input). With s_ij = zs_i . zt_j:

        l_i = -log( exp(s_ii / tau) / sum_{j=1..B} exp(s_ij / tau) )

    student i is the anchor, teacher i its positive, teachers j != i the B-1 negatives;
    the denominator has B terms (the positive included), i.e. cross-entropy of the
    (B, B) logits zs zt^T / tau with labels arange(B). ``"mean"`` averages over the B
    anchors.

    Details that differ from the obvious reading:

    - direction: by default only student -> teacher (student anchors, teacher
      candidates), as in CRD's student-side term. ``symmetric=True`` averages it with the
      teacher -> student direction (teacher anchor i, student candidates j):
      l_i = (l_i^{s->t} + l_i^{t->s}) / 2 -- the paper's two-sided objective;
    - negatives are the other rows of the batch, not CRD's memory bank of 16384 samples
      and not its NCE-with-noise-distribution estimator: this is the InfoNCE relaxation
      the paper also reports;
    - zt is NOT detached: in CRD the teacher-side embedding head is trained with the
      loss. Detach the teacher network's features BEFORE that head (``CRDHead`` does),
      so that no gradient reaches the teacher itself.

    Args:
        zs: (B, D) student embeddings in the shared space.
        zt: (B, D) teacher embeddings in the shared space.
        temperature: tau > 0, default 0.07.
        symmetric: also add the teacher -> student direction (see above).
        reduction: "mean" -> scalar; "none" -> (B,).
    """
    _check_reduction(reduction)
    _check_pair("zs", zs, "zt", zt, same_dim=True)
    _check_positive("temperature", temperature)
    s = F.normalize(zs, dim=1)
    t = F.normalize(zt, dim=1)
    logits = s @ t.T / temperature  # (B, B): row i = student i against every teacher j
    labels = torch.arange(s.shape[0], device=s.device)
    per_anchor = F.cross_entropy(logits, labels, reduction="none")  # (B,)
    if symmetric:
        per_anchor = 0.5 * (per_anchor + F.cross_entropy(logits.T, labels, reduction="none"))
    return _reduce(per_anchor, reduction)


class CRDHead(nn.Module):
    """The two CRD embedding heads plus the loss: ``embed_s = Linear(student_dim, dim)``
    and ``embed_t = Linear(teacher_dim, dim)``, each followed by L2 normalisation, then
    :func:`crd`. The raw teacher features are detached before ``embed_t`` (the teacher
    network gets no gradient; ``embed_t`` is trained). Both heads' parameters must be
    given to the optimiser.
    """

    def __init__(
        self,
        student_dim: int,
        teacher_dim: int,
        *,
        dim: int = 128,
        temperature: float = 0.07,
        symmetric: bool = False,
    ) -> None:
        super().__init__()
        if min(student_dim, teacher_dim, dim) < 1:
            raise ValueError(
                f"student_dim, teacher_dim and dim must be >= 1, got "
                f"{student_dim}, {teacher_dim}, {dim}"
            )
        _check_positive("temperature", temperature)
        self.temperature = temperature
        self.symmetric = symmetric
        self.embed_s = nn.Linear(student_dim, dim)
        self.embed_t = nn.Linear(teacher_dim, dim)

    def embed(self, zs: Tensor, zt: Tensor) -> tuple[Tensor, Tensor]:
        """(B, student_dim), (B, teacher_dim) -> two (B, dim) L2-normalised tensors."""
        _check_pair("zs", zs, "zt", zt, same_dim=False)
        if zs.shape[1] != self.embed_s.in_features or zt.shape[1] != self.embed_t.in_features:
            raise ValueError(
                f"expected zs with {self.embed_s.in_features} and zt with "
                f"{self.embed_t.in_features} columns, got shapes {tuple(zs.shape)} and "
                f"{tuple(zt.shape)}"
            )
        es = F.normalize(self.embed_s(zs), dim=1)
        et = F.normalize(self.embed_t(zt.detach()), dim=1)
        return es, et

    def forward(self, zs: Tensor, zt: Tensor, reduction: Reduction = "mean") -> Tensor:
        es, et = self.embed(zs, zt)
        return crd(
            es, et, temperature=self.temperature, symmetric=self.symmetric, reduction=reduction
        )
