"""Feature distillation (FitNets-style hint regression, Romero et al. 2015): match a
projection of the student's embedding to the teacher's embedding.

With p_b = projection(zs)_b (or zs_b when there is no projection), t_b = zt_b (detached)
and D the teacher dimension::

    kind="mse":     l_b = (1/D) sum_d (p_bd - t_bd)^2
    kind="cosine":  l_b = 1 - p_b.t_b / (||p_b|| ||t_b||)      (in [0, 2])

averaged over the B samples. :class:`FeatureDistillation` holds a learned linear
projection of the student.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from trainers.losses._checks import Reduction, _check_matrix, _check_pair, _check_reduction, _reduce

FeatureKind = Literal["mse", "cosine"]

__all__ = ["feature_distillation", "FeatureDistillation"]


def feature_distillation(
    zs: Tensor,
    zt: Tensor,
    *,
    kind: FeatureKind = "mse",
    projection: nn.Module | Callable[[Tensor], Tensor] | None = None,
    normalize: bool = False,
    reduction: Reduction = "mean",
) -> Tensor:
    """Feature distillation (FitNets-style hint regression, Romero et al. 2015; the
    "feature distillation" entry of METHODS.md): match a projection of the student's
    embedding to the teacher's embedding.

    With p_b = projection(zs)_b (or zs_b when ``projection`` is None), t_b = zt_b (detached)
    and D the teacher dimension:

    - ``kind="mse"``:    l_b = (1/D) sum_d (p_bd - t_bd)^2
    - ``kind="cosine"``: l_b = 1 - p_b.t_b / (||p_b|| ||t_b||)      (in [0, 2])

    ``"mean"`` averages l_b over the batch, so the MSE variant equals
    ``F.mse_loss(p, t)`` (denominator B*D: mean over samples AND dimensions, not a sum
    over dimensions).

    Details that differ from the obvious reading:

    - the MSE is on the RAW features by default (it then also matches the teacher's
      norms, which is what distinguishes it from the cosine variant); pass
      ``normalize=True`` to L2-normalise both p and t first (then l_b = (2 - 2 cos)/D);
      the cosine variant is scale invariant either way;
    - the projection is applied to the student only; the teacher side is never changed.

    Args:
        zs: (B, Ds) student embeddings.
        zt: (B, Dt) teacher embeddings; detached here.
        kind: "mse" or "cosine".
        projection: module or callable mapping (B, Ds) -> (B, Dt); required when
            Ds != Dt. :class:`FeatureDistillation` holds a learned linear one.
        normalize: L2-normalise the projected student and the teacher rows before the MSE.
        reduction: "mean" -> scalar; "none" -> (B,).

    Returns:
        Scalar tensor, or (B,) with ``reduction="none"``.
    """
    _check_reduction(reduction)
    if kind not in ("mse", "cosine"):
        raise ValueError(f"kind must be 'mse' or 'cosine', got {kind!r}")
    _check_pair("zs", zs, "zt", zt, same_dim=False)
    if projection is None:
        if zs.shape[1] != zt.shape[1]:
            raise ValueError(
                f"student dimension {zs.shape[1]} differs from teacher dimension {zt.shape[1]}: "
                "pass projection=<module mapping student to teacher dimension> or use "
                "FeatureDistillation(student_dim, teacher_dim), which holds a learned linear one"
            )
        p = zs
    else:
        p = projection(zs)  # (B, Dt)
        if not isinstance(p, Tensor) or p.shape != zt.shape:
            got = tuple(p.shape) if isinstance(p, Tensor) else type(p).__name__
            raise ValueError(
                f"projection(zs) must have the teacher's shape {tuple(zt.shape)}, got {got}"
            )
    t = zt.detach()
    if kind == "mse":
        if normalize:
            p, t = F.normalize(p, dim=1), F.normalize(t, dim=1)
        per_sample = (p - t).pow(2).mean(dim=1)  # (B,)
    else:
        per_sample = 1.0 - F.cosine_similarity(p, t, dim=1, eps=1e-8)  # (B,)
    return _reduce(per_sample, reduction)


class FeatureDistillation(nn.Module):
    """Feature distillation with a learned linear projection of the student
    (``nn.Linear(student_dim, teacher_dim)``, with bias). See :func:`feature_distillation`
    for the formula; the projection's parameters belong to the student side and must be
    given to the optimiser.
    """

    def __init__(
        self,
        student_dim: int,
        teacher_dim: int,
        *,
        kind: FeatureKind = "mse",
        normalize: bool = False,
    ) -> None:
        super().__init__()
        if kind not in ("mse", "cosine"):
            raise ValueError(f"kind must be 'mse' or 'cosine', got {kind!r}")
        if student_dim < 1 or teacher_dim < 1:
            raise ValueError(
                f"student_dim and teacher_dim must be >= 1, got {student_dim}, {teacher_dim}"
            )
        self.kind: FeatureKind = kind
        self.normalize = normalize
        self.projection = nn.Linear(student_dim, teacher_dim)

    def forward(self, zs: Tensor, zt: Tensor, reduction: Reduction = "mean") -> Tensor:
        """zs: (B, student_dim), zt: (B, teacher_dim) -> scalar or (B,)."""
        _check_matrix("zs", zs)
        if zs.shape[1] != self.projection.in_features:
            raise ValueError(
                f"zs has {zs.shape[1]} columns but this module was built for "
                f"student_dim={self.projection.in_features}"
            )
        return feature_distillation(
            zs,
            zt,
            kind=self.kind,
            projection=self.projection,
            normalize=self.normalize,
            reduction=reduction,
        )
