"""XSimGCL-style noise views (Yu et al. 2023): a small random push inside the orthant."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["noise_view"]


def noise_view(e: Tensor, eps: float, *, generator: torch.Generator | None = None) -> Tensor:
    r"""A noisy view of embeddings ``e`` (XSimGCL, Yu et al. 2023, Eq. 7).

    For each row (last dimension D)::

        e' = e + sign(e) * eps * U / ||U||_2,      U ~ Uniform[0, 1)^D

    so the added noise has L2 norm exactly ``eps`` and lies in e's orthant (every
    coordinate moves away from 0, never across it: ``sign(e') == sign(e)``). The detail that
    differs from the obvious reading: coordinates where ``e == 0`` get no noise
    (``sign(0) = 0``), so on such rows the noise norm is below eps. ``e`` is NOT
    normalised (the perturbation is applied to raw embeddings); the gradient w.r.t. ``e``
    is the identity. Use in training only.

    Args:
        e: (..., D) embeddings, usually (N, D).
        eps: noise norm, >= 0 (0 returns ``e`` unchanged).
        generator: torch generator for U (None: global RNG).

    Returns:
        Tensor with the shape, dtype and device of ``e``.
    """
    if not isinstance(e, Tensor):
        raise ValueError(f"e must be a torch.Tensor, got {type(e).__name__}")
    if e.ndim < 1 or e.shape[-1] < 1:
        raise ValueError(f"e must have a last dimension D >= 1, got shape {tuple(e.shape)}")
    if not e.is_floating_point():
        raise ValueError(f"e must be a floating-point tensor, got dtype {e.dtype}")
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps!r}")
    u = torch.rand(e.shape, generator=generator, dtype=e.dtype, device=e.device)  # (..., D)
    noise = F.normalize(u, dim=-1) * eps  # (..., D), norm eps
    return e + torch.sign(e).detach() * noise
