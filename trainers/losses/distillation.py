"""Distillation losses: logits, features, relations, and momentum self-distillation.

Every function here is pure (no state, no side effects) and takes
``reduction="mean" | "none"``: ``"none"`` returns one value per sample (shape ``(B,)``)
so the app can plot per-sample losses; ``"mean"`` is the mean of those values unless a
docstring says otherwise. Where a loss has settings or learned parts worth holding once
(a projection, an embedding head, a centre), a thin ``nn.Module`` wraps the function.

The teacher never receives a gradient: every function detaches the teacher's tensor
itself, except :func:`crd`, whose teacher-side tensor is the output of a *learned* head
(see its docstring; :class:`CRDHead` detaches the teacher's features before that head).

Spec: METHODS.md, section "Distillation".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

Reduction = Literal["mean", "none"]
FeatureKind = Literal["mse", "cosine"]

__all__ = [
    "kd",
    "feature_distillation",
    "FeatureDistillation",
    "similarity_distillation",
    "crd",
    "CRDHead",
    "rkd",
    "ema_update",
    "momentum_schedule",
    "center_update",
    "msd_loss",
    "MSDLoss",
]


# --------------------------------------------------------------------------- checks


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def _reduce(per_sample: Tensor, reduction: str) -> Tensor:
    return per_sample.mean() if reduction == "mean" else per_sample


def _check_matrix(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(
            f"{name} must be a 2-D tensor of shape (B, D) (one row per sample), "
            f"got shape {tuple(x.shape)}"
        )


def _check_pair(
    a_name: str, a: Tensor, b_name: str, b: Tensor, *, same_dim: bool, min_batch: int = 1
) -> None:
    _check_matrix(a_name, a)
    _check_matrix(b_name, b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{a_name} and {b_name} must hold the same samples (same number of rows), "
            f"got {a.shape[0]} and {b.shape[0]} rows"
        )
    if same_dim and a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{a_name} and {b_name} must have the same number of columns, "
            f"got shapes {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.shape[0] < min_batch:
        raise ValueError(f"this loss needs a batch of at least {min_batch} rows, got {a.shape[0]}")


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def _off_diagonal(m: Tensor) -> Tensor:
    """(B, B) -> (B, B-1): row i keeps m[i, j] for j != i, in the order of j."""
    b = m.shape[0]
    mask = ~torch.eye(b, dtype=torch.bool, device=m.device)
    return m[mask].reshape(b, b - 1)


# --------------------------------------------------------------------------- Hinton KD


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


# --------------------------------------------------------------------------- features


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


# --------------------------------------------------------------------------- similarity


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


# --------------------------------------------------------------------------- CRD


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


# --------------------------------------------------------------------------- RKD


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


# --------------------------------------------------------------------------- momentum SD


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """In-place exponential moving average of the student into the teacher (BYOL, DINO):

        theta_t <- m * theta_t + (1 - m) * theta_s

    for every parameter, matched by name. Buffers: floating-point buffers (BatchNorm
    running mean / var) get the same average; other buffers (e.g. the integer
    ``num_batches_tracked``) are copied from the student. m = 1 leaves the teacher
    unchanged, m = 0 copies the student. Runs under ``torch.no_grad``; the teacher's
    ``requires_grad`` flags are not touched.

    Raises ValueError when m is outside [0, 1] or the two modules' parameter / buffer
    names or shapes differ.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    for kind, t_items, s_items in (
        ("parameters", teacher.named_parameters(), student.named_parameters()),
        ("buffers", teacher.named_buffers(), student.named_buffers()),
    ):
        t_dict, s_dict = dict(t_items), dict(s_items)
        if t_dict.keys() != s_dict.keys():
            missing = sorted(set(t_dict) ^ set(s_dict))
            raise ValueError(
                f"teacher and student must have the same {kind}; these names are in only "
                f"one of them: {missing[:10]}"
            )
        for name, t in t_dict.items():
            s = s_dict[name]
            if t.shape != s.shape:
                raise ValueError(
                    f"{kind[:-1]} {name!r}: teacher shape {tuple(t.shape)} != student shape "
                    f"{tuple(s.shape)}"
                )
            if t.is_floating_point():
                t.mul_(momentum).add_(
                    s.detach().to(device=t.device, dtype=t.dtype), alpha=1.0 - momentum
                )
            else:
                t.copy_(s)


def momentum_schedule(
    step: int, total_steps: int, *, base: float = 0.996, final: float = 1.0
) -> float:
    """Cosine schedule of the EMA momentum (BYOL, DINO):

        m(step) = final - (final - base) * (1 + cos(pi * step / total_steps)) / 2

    so m(0) = base and m(total_steps) = final; steps beyond total_steps give final.
    As in DINO, a run of N optimiser steps uses steps 0..N-1, so the last update is just
    below ``final``.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    progress = min(step, total_steps) / total_steps
    return final - (final - base) * (1.0 + math.cos(math.pi * progress)) / 2.0


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
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
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
        if not 0.0 <= center_momentum <= 1.0:
            raise ValueError(f"center_momentum must be in [0, 1], got {center_momentum}")
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
