"""NT-Xent / InfoNCE (SimCLR), two views and the pairwise multi-view baseline.

Also holds the small argument checks shared by the other loss modules of this package
(``_check_*`` and ``_reduce``); they are private to ``trainers.losses``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Reduction = Literal["mean", "none"]

__all__ = ["nt_xent", "pairwise_nt_xent"]


# --------------------------------------------------------------------------- helpers
def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def _check_matrix(name: str, x: Tensor, *, min_rows: int = 1) -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, dim), got shape {tuple(x.shape)}")
    if x.shape[0] < min_rows or x.shape[1] < 1:
        raise ValueError(
            f"{name} needs at least {min_rows} row(s) and 1 column, got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")


def _check_views(z1: Tensor, z2: Tensor, *, min_batch: int = 1) -> None:
    _check_matrix("z1", z1, min_rows=min_batch)
    _check_matrix("z2", z2, min_rows=min_batch)
    if z1.shape != z2.shape:
        raise ValueError(
            f"z1 and z2 must have the same shape (B, D), got {tuple(z1.shape)} and {tuple(z2.shape)}"
        )


def _check_multiview(views: Tensor, *, min_samples: int = 1) -> None:
    if not isinstance(views, Tensor):
        raise ValueError(f"views must be a torch.Tensor, got {type(views).__name__}")
    if views.ndim != 3:
        raise ValueError(
            f"views must be 3-D (V views, M samples, D dims), got shape {tuple(views.shape)}"
        )
    v, m, d = views.shape
    if v < 2:
        raise ValueError(f"views needs V >= 2 views along dim 0, got V = {v}")
    if m < min_samples or d < 1:
        raise ValueError(
            f"views needs at least {min_samples} sample(s) and 1 dim, got shape {tuple(views.shape)}"
        )
    if not views.is_floating_point():
        raise ValueError(f"views must be a floating-point tensor, got dtype {views.dtype}")


def _check_targets(name: str, t: Tensor, n: int) -> None:
    if not isinstance(t, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.ndim != 1 or t.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) (one per row), got {tuple(t.shape)}")
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite (no NaN or inf)")


def _reduce(per_anchor: Tensor, reduction: str) -> Tensor:
    return per_anchor.mean() if reduction == "mean" else per_anchor


# --------------------------------------------------------------------------- losses
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


def pairwise_nt_xent(
    views: Tensor,
    *,
    temperature: float = 0.5,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Pairwise NT-Xent: the multi-view baseline of Koromilas et al. (2025).

    NT-Xent (see :func:`nt_xent`, 2M - 1 denominator terms) is applied to every one of
    the V(V-1)/2 pairs of views ``(l, l')``, ``l < l'``, and averaged over pairs. Only the
    two views of a pair enter its denominators: for an anchor ``u_il`` in pair (l, l')::

        l_il^{(l,l')} = -s(u_il, u_il')/tau
                        + log[ sum_{j != i} exp(s(u_il, u_jl)/tau) + sum_j exp(s(u_il, u_jl')/tau) ]

    Implementation: one (V, M, V, M) similarity tensor; for each anchor a same-view
    ``logsumexp`` (self masked) and one cross-view ``logsumexp`` per other view, combined
    with ``logaddexp``. Cost O(V^2 M^2 D) time, O(V^2 M^2) memory; no loop over pairs.

    Args:
        views: (V, M, D), V >= 2 views of M >= 2 samples (normalised inside).
        temperature: tau > 0.
        reduction: ``"mean"`` -> scalar, mean over pairs and their 2M anchors (equal to the
            mean of the V(V-1)/2 ``nt_xent`` values); ``"none"`` -> (M,) per sample, the mean
            over pairs of the mean of its two anchors in that pair.

    Returns:
        Scalar or (M,). With V = 2 it equals ``nt_xent(views[0], views[1])``.
    """
    _check_multiview(views, min_samples=2)
    _check_positive("temperature", temperature)
    _check_reduction(reduction)
    v, m, _ = views.shape
    u = F.normalize(views, dim=-1)  # (V, M, D)
    raw = torch.einsum("lid,mjd->limj", u, u) / temperature  # (V, M, V, M)
    pos = torch.diagonal(raw, dim1=1, dim2=3)  # (V, V, M): s(u_il, u_il')/tau
    eye_v = torch.eye(v, dtype=torch.bool, device=u.device)
    eye_m = torch.eye(m, dtype=torch.bool, device=u.device)
    self_mask = eye_v[:, None, :, None] & eye_m[None, :, None, :]  # (V, M, V, M)
    sim = raw.masked_fill(self_mask, float("-inf"))
    block_lse = torch.logsumexp(sim, dim=3)  # (V, M, V): per anchor (l,i), per view m
    same = torch.diagonal(block_lse, dim1=0, dim2=2).T  # (V, M): same-view block, self excluded
    denom = torch.logaddexp(same[:, :, None], block_lse)  # (V, M, V): pair (l, l')
    per = denom - pos.permute(0, 2, 1)  # (V, M, V): l_il^{(l,l')}; l = l' is not a pair
    per = per.masked_fill(eye_v[:, None, :], 0.0)
    per_sample = per.sum(dim=(0, 2)) / (v * (v - 1))  # (M,): mean over ordered pairs
    return _reduce(per_sample, reduction)
