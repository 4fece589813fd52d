"""Augmentations, batched on the device. ``strength`` scales every one (0 = identity).

8x8 images (rows flattened to 64): random shift (up to 1 pixel per unit strength),
Gaussian pixel noise, random erasing of a small rectangle.
Vectors: Gaussian noise (relative to unit-variance features) and feature masking.
Jing et al. toy: Gaussian noise on the last 8 dimensions only (so those collapse).
"""

from __future__ import annotations

import torch


def augment_image8(x: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """x: (B, 64) in [0, 1] -> (B, 64). Shift by up to round(strength) px, noise, erasing."""
    if strength <= 0:
        return x
    b = x.shape[0]
    dev = x.device
    img = x.view(b, 1, 8, 8)
    # random shift: pad by s and crop a random 8x8 window (one window per sample)
    s = max(1, int(round(strength)))
    padded = torch.nn.functional.pad(img, (s, s, s, s))
    dx = torch.randint(0, 2 * s + 1, (b,), device=dev, generator=generator)
    dy = torch.randint(0, 2 * s + 1, (b,), device=dev, generator=generator)
    ar = torch.arange(8, device=dev)
    rows = (dy[:, None] + ar[None, :])  # (B, 8)
    cols = (dx[:, None] + ar[None, :])  # (B, 8)
    bi = torch.arange(b, device=dev)[:, None, None]
    img = padded[bi, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)  # (B, 1, 8, 8)
    # Gaussian pixel noise
    img = img + 0.1 * strength * torch.randn(img.shape, device=dev, generator=generator)
    # random erasing: with prob 0.5*strength (capped), zero a h x w box (h, w in 1..3)
    p = min(0.5 * strength, 0.9)
    erase = torch.rand(b, device=dev, generator=generator) < p
    h = torch.randint(1, 4, (b,), device=dev, generator=generator)
    w = torch.randint(1, 4, (b,), device=dev, generator=generator)
    y0 = (torch.rand(b, device=dev, generator=generator) * (9 - h)).long()
    x0 = (torch.rand(b, device=dev, generator=generator) * (9 - w)).long()
    inside_r = (ar[None, :] >= y0[:, None]) & (ar[None, :] < (y0 + h)[:, None])  # (B, 8)
    inside_c = (ar[None, :] >= x0[:, None]) & (ar[None, :] < (x0 + w)[:, None])  # (B, 8)
    box = inside_r[:, :, None] & inside_c[:, None, :] & erase[:, None, None]  # (B, 8, 8)
    img = img.masked_fill(box.unsqueeze(1), 0.0)
    return img.reshape(b, 64)


def augment_vector(x: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """x: (B, F) roughly unit-variance features -> (B, F): noise (sd 0.2*s) and masking (p 0.15*s)."""
    if strength <= 0:
        return x
    noise = 0.2 * strength * torch.randn(x.shape, device=x.device, generator=generator)
    keep = torch.rand(x.shape, device=x.device, generator=generator) >= min(0.15 * strength, 0.9)
    return (x + noise) * keep


def augment_jing(x: torch.Tensor, strength: float, dims: tuple[int, int], generator: torch.Generator | None = None) -> torch.Tensor:
    """Jing et al. toy: add N(0, (2*strength)^2) noise to dims [start, stop) only."""
    if strength <= 0:
        return x
    out = x.clone()
    a, b = dims
    out[:, a:b] += 2.0 * strength * torch.randn((x.shape[0], b - a), device=x.device, generator=generator)
    return out


def make_augment(kind: str, strength: float, noisy_dims: tuple[int, int] | None = None):
    """Return ``f(x, generator) -> x'`` for a data kind ("image8", "vector", or the Jing toy)."""
    if noisy_dims is not None:
        return lambda x, g=None: augment_jing(x, strength, noisy_dims, g)
    if kind == "image8":
        return lambda x, g=None: augment_image8(x, strength, g)
    return lambda x, g=None: augment_vector(x, strength, g)
