"""XSimGCL-style noise views (Yu et al. 2023): a small random push inside the orthant."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["NOISE_SCALES", "noise_view"]

NOISE_SCALES = ("absolute", "relative")  # = trainers.registry.NOISE_SCALES (this module stays free of the registry)


def noise_view(e: Tensor, eps: float, *, generator: torch.Generator | None = None, scale: str = "absolute") -> Tensor:
    r"""A noisy view of embeddings ``e`` (XSimGCL, Yu et al. 2023, Eq. 7).

    For each row (last dimension D)::

        e' = e + sign(e) * r * U / ||U||_2,      U ~ Uniform[0, 1)^D

    with ``r = eps`` (``scale="absolute"``, the paper's form) or ``r = eps * ||e||_2``, the
    row's own L2 norm (``scale="relative"``), so the added noise has L2 norm exactly ``r``
    and lies in e's orthant (every coordinate moves away from 0, never across it:
    ``sign(e') == sign(e)``). The relative scale keeps the noise-to-signal ratio at eps
    whatever the embeddings' norm (a network can otherwise dilute absolute noise by growing
    its embeddings). The detail that differs from the obvious reading: coordinates where
    ``e == 0`` get no noise (``sign(0) = 0``), so on such rows the noise norm is below r.
    ``e`` is NOT normalised (the perturbation is applied to raw embeddings); the noise,
    including the norm in r, is a constant for autograd, so the gradient w.r.t. ``e`` is the
    identity. Use in training only.

    Args:
        e: (..., D) embeddings, usually (N, D).
        eps: noise norm (absolute) or noise norm per unit of ||e|| (relative), >= 0
            (0 returns ``e`` unchanged).
        generator: torch generator for U (None: global RNG).
        scale: "absolute" or "relative" (see above).

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
    if scale not in NOISE_SCALES:
        raise ValueError(f"scale must be 'absolute' or 'relative', got {scale!r}")
    u = torch.rand(e.shape, generator=generator, dtype=e.dtype, device=e.device)  # (..., D)
    noise = F.normalize(u, dim=-1) * eps  # (..., D), norm eps
    if scale == "relative":
        noise = noise * e.detach().norm(dim=-1, keepdim=True)  # (..., D), norm eps * ||e|| per row
    return e + torch.sign(e).detach() * noise
