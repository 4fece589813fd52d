"""Relational knowledge distillation (Park, Kim, Lu & Cho 2019, "Relational Knowledge
Distillation", eqs. 4-7): distance-wise and angle-wise terms.

psi_D(i, j) = ||z_i - z_j|| / mu (mu: mean distance over the B(B-1) ordered pairs of the
batch, per model); psi_A(i, j, k) = <e_ji, e_jk>, e_ji = (z_i - z_j)/||z_i - z_j||. With
the Huber (Smooth-L1) loss h, per sample i::

    L_D(i) = mean_{j != i} h(psi_D^s(i, j) - psi_D^t(i, j))
    L_A(i) = mean_{j, k != i, j != k} h(psi_A^s(j, i, k) - psi_A^t(j, i, k))   (vertex i)
    l_i    = distance_weight * L_D(i) + angle_weight * L_A(i)

averaged over the B samples. The teacher is detached.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from trainers.losses._checks import Reduction, _check_pair, _check_reduction, _off_diagonal, _reduce

__all__ = ["rkd"]


def _rkd_distances(z: Tensor) -> Tensor:
    """(B, D) -> (B, B) Euclidean distances divided by their mean over pairs i != j."""
    diff = z.unsqueeze(1) - z.unsqueeze(0)  # (B, B, D)
    # sqrt of a clamped sum of squares: torch.cdist's gradient is NaN at distance 0.
    d = diff.pow(2).sum(dim=2).clamp_min(1e-12).sqrt()  # (B, B)
    off = _off_diagonal(d)  # (B, B-1)
    return d / off.mean().clamp_min(1e-12)


def _rkd_angles(z: Tensor, vertices: slice = slice(None)) -> Tensor:
    """(B, D) -> (V, B, B) with a[j, i, k] = cos of the angle at vertex j of triangle
    (z_i, z_j, z_k) = <e_ji, e_jk>, e_ji = (z_i - z_j) / ||z_i - z_j||, for the vertices
    j in ``vertices`` (all B by default)."""
    e = F.normalize(z.unsqueeze(0) - z[vertices].unsqueeze(1), dim=2, eps=1e-12)  # e[j, i] = unit(z_i - z_j)
    return torch.bmm(e, e.transpose(1, 2))  # (V, B, B): [j, i, k]


# elements of one (vertices, B, B) block of the angle term: 16M float32 = 64 MB per tensor; up to
# B = 256 the whole term is one block (no checkpointing, no recomputation)
_RKD_BLOCK_ELEMENTS = 1 << 24


def _rkd_angle_block(zs: Tensor, t: Tensor, start: int, stop: int) -> Tensor:
    """Sum over distinct (i, k), both != j, of h(psi_A^s(i, j, k) - psi_A^t(i, j, k)) for
    each vertex j in [start, stop): shape (stop - start,)."""
    b = zs.shape[0]
    h = F.smooth_l1_loss(_rkd_angles(zs, slice(start, stop)), _rkd_angles(t, slice(start, stop)), reduction="none")
    ar = torch.arange(b, device=zs.device)
    js = torch.arange(start, stop, device=zs.device)
    valid = (ar[None, :, None] != ar[None, None, :]) & (ar[None, :, None] != js[:, None, None]) \
        & (ar[None, None, :] != js[:, None, None])  # i != k, i != j, k != j
    return (h * valid).sum(dim=(1, 2))


def _rkd_angle_sums(zs: Tensor, t: Tensor) -> Tensor:
    """The angle term's per-vertex sums, (B,), in blocks of vertices of at most
    ``_RKD_BLOCK_ELEMENTS`` angles each. With autograd on, each block is checkpointed
    (recomputed in the backward pass), so memory stays at a few blocks: B = 1,024 needs
    a few hundred MB instead of several (B, B, B) tensors of 4 GB each."""
    b = zs.shape[0]
    rows = max(1, _RKD_BLOCK_ELEMENTS // (b * b))
    if rows >= b:
        return _rkd_angle_block(zs, t, 0, b)
    parts = []
    for start in range(0, b, rows):
        stop = min(b, start + rows)
        if zs.requires_grad and torch.is_grad_enabled():
            parts.append(checkpoint(_rkd_angle_block, zs, t, start, stop, use_reentrant=False))
        else:
            parts.append(_rkd_angle_block(zs, t, start, stop))
    return torch.cat(parts)


def rkd(
    zs: Tensor,
    zt: Tensor,
    *,
    distance_weight: float = 25.0,
    angle_weight: float = 50.0,
    reduction: Reduction = "mean",
) -> Tensor:
    """Relational knowledge distillation (Park, Kim, Lu & Cho 2019, "Relational Knowledge
    Distillation", eqs. 4-7): distance-wise and angle-wise terms.

    Distance (eq. 4-5): psi_D(i, j) = ||z_i - z_j|| / mu, mu = mean of ||z_i - z_j|| over
    the B(B-1) ordered pairs i != j of the SAME batch (computed per model).
    Angle (eq. 6-7): psi_A(i, j, k) = <e_ji, e_jk>, e_ji = (z_i - z_j)/||z_i - z_j||, the
    cosine of the angle at vertex j. With Huber h(x) = 0.5 x^2 if |x| < 1 else |x| - 0.5
    (Smooth-L1, ``F.smooth_l1_loss`` with beta = 1), per sample i:

        L_D(i) = mean_{j != i} h(psi_D^s(i, j) - psi_D^t(i, j))
        L_A(i) = mean_{j, k != i, j != k} h(psi_A^s(j, i, k) - psi_A^t(j, i, k))   (vertex i)
        l_i    = distance_weight * L_D(i) + angle_weight * L_A(i)

    ``"mean"`` averages l_i over the B samples, which equals distance_weight * (mean over
    all distinct pairs) + angle_weight * (mean over all distinct ordered triplets). The
    teacher is detached.

    Details that differ from the obvious reading:

    - means run over DISTINCT pairs (B(B-1)) and distinct triplets (B(B-1)(B-2)). The
      authors' code averages over all B^2 pairs and B^3 triplets, degenerate ones
      included (they contribute 0), so its values are smaller by (B-1)/B and
      (B-1)(B-2)/B^2 for the same inputs;
    - no L2 normalisation of the rows: the mean-distance normalisation is RKD's own
      scale normalisation. The loss is invariant to rotation, translation and scale of
      either embedding, and the two dimensions may differ;
    - with ``reduction="none"`` each sample's value depends on the batch (mu is a batch
      statistic), and the angle part of sample i is over triangles with vertex i.

    Args:
        zs: (B, Ds) student embeddings, B >= 3.
        zt: (B, Dt) teacher embeddings; detached here.
        distance_weight: weight of the distance term, default 25.
        angle_weight: weight of the angle term, default 50.
        reduction: "mean" -> scalar; "none" -> (B,).
    """
    _check_reduction(reduction)
    _check_pair("zs", zs, "zt", zt, same_dim=False, min_batch=3)
    b = zs.shape[0]
    t = zt.detach()
    per_sample = zs.new_zeros(b)
    if distance_weight != 0:
        hd = F.smooth_l1_loss(_rkd_distances(zs), _rkd_distances(t), reduction="none")  # (B, B)
        per_sample = per_sample + distance_weight * _off_diagonal(hd).mean(dim=1)
    if angle_weight != 0:
        ha_sum = _rkd_angle_sums(zs, t)  # (B,): sum over the two outer points, vertex fixed
        per_sample = per_sample + angle_weight * ha_sum / ((b - 1) * (b - 2))
    return _reduce(per_sample, reduction)
