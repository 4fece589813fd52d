"""Argument checks shared by the loss modules of ``trainers.losses`` (private).

Every check raises ``ValueError`` with a message that names the argument and what was
expected. Also holds the two small tensor helpers the losses share: :func:`_reduce` (the
``reduction`` argument) and :func:`_off_diagonal` (drop the self-similarity of a B x B
matrix).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Reduction = Literal["mean", "none"]


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def _check_unit_interval(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")


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


def _check_pair(
    a_name: str, a: Tensor, b_name: str, b: Tensor, *, same_dim: bool, min_batch: int = 1
) -> None:
    """Two (B, .) matrices of the same samples (student and teacher): same number of rows,
    and the same number of columns when ``same_dim``."""
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


def _reduce(per_sample: Tensor, reduction: str) -> Tensor:
    """``"mean"`` -> the mean of the per-sample values; ``"none"`` -> them unchanged."""
    return per_sample.mean() if reduction == "mean" else per_sample


def _off_diagonal(m: Tensor) -> Tensor:
    """(B, B) -> (B, B-1): row i keeps m[i, j] for j != i, in the order of j."""
    b = m.shape[0]
    mask = ~torch.eye(b, dtype=torch.bool, device=m.device)
    return m[mask].reshape(b, b - 1)
