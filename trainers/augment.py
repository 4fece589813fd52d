"""Augmentations, batched on the device. ``strength`` scales every one (0 = identity).

8x8 images (rows flattened to 64): random shift (up to 1 pixel per unit strength),
Gaussian pixel noise, random erasing of a small rectangle.
RGB images (rows flattened as (3, H, W), H = W): SimCLR's family, each switched by a config
field (:class:`RGBAugment`): random resized crop, horizontal flip, rotation, colour jitter,
channel permutation, grayscale, Gaussian blur.
Vectors: Gaussian noise (relative to unit-variance features) and feature masking.
Jing et al. toy: Gaussian noise on the last 8 dimensions only (so those collapse).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F


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


@dataclass(frozen=True)
class RGBAugment:
    """Which augmentations an RGB view gets (the config's ``aug_*`` fields, without the prefix).
    Defaults: SimCLR's CIFAR recipe (crop, flip, colour jitter with p 0.8, grayscale with p 0.2)."""

    crop: float = 0.6  # a view keeps an area fraction uniform in [1 - crop, 1] (aspect 3/4..4/3); 0 = off
    flip: float = 0.5  # probability of a horizontal flip
    rotate: float = 0.0  # rotation uniform in [-rotate, rotate] degrees; 0 = off
    colour: float = 0.8  # probability of colour jitter (brightness, contrast, saturation 0.8 s; hue 0.2 s)
    grayscale: float = 0.2  # probability of grayscale (ITU-R 601 luma)
    channels: float = 0.0  # probability of a random permutation of R, G, B
    blur: float = 0.0  # probability of a Gaussian blur (sigma uniform in [0.3, 1] pixel, 5x5 kernel)

    @classmethod
    def from_options(cls, options: Mapping[str, float] | None) -> RGBAugment:
        """From the config's fields (``{"aug_crop": 0.6, ...}``); absent ones keep their defaults."""
        names = {f.name for f in fields(cls)}
        return cls(**{k[4:]: float(v) for k, v in (options or {}).items() if k.startswith("aug_") and k[4:] in names})


_PERMUTATIONS = torch.tensor([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])
_LUMA = (0.299, 0.587, 0.114)
# RGB -> YIQ and back: a hue turn is a rotation of the (I, Q) plane
_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_FROM_YIQ = torch.linalg.inv(_TO_YIQ)


def _coin(p: float, b: int, dev: torch.device, g: torch.Generator | None) -> torch.Tensor:
    """(B,) bool: True with probability p (draws B numbers whatever p is, so the stream stays aligned)."""
    return torch.rand(b, device=dev, generator=g) < p


def _uniform(lo: float, hi: float, b: int, dev: torch.device, g: torch.Generator | None) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(b, device=dev, generator=g)


def _gray(img: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) luma."""
    return _LUMA[0] * img[:, :1] + _LUMA[1] * img[:, 1:2] + _LUMA[2] * img[:, 2:]


def _geometric(img: torch.Tensor, a: RGBAugment, g: torch.Generator | None) -> torch.Tensor:
    """Crop, flip and rotation as one affine resampling (bilinear, reflection at the border)."""
    b, dev = img.shape[0], img.device
    area = _uniform(1.0 - a.crop, 1.0, b, dev, g)  # (B,) kept area fraction
    ratio = torch.exp(_uniform(math.log(3 / 4), math.log(4 / 3), b, dev, g))  # (B,) aspect w / h
    if a.crop == 0:
        ratio = torch.ones_like(ratio)  # no crop: the whole image, unstretched
    w = torch.sqrt(area * ratio).clamp(max=1.0)  # (B,) crop width, a fraction of the image's
    h = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (1.0 - w) * _uniform(-1.0, 1.0, b, dev, g)  # (B,) crop centre, normalised coordinates
    cy = (1.0 - h) * _uniform(-1.0, 1.0, b, dev, g)
    sx = torch.where(_coin(a.flip, b, dev, g), -w, w)  # a flip mirrors the sampled columns
    t = torch.deg2rad(_uniform(-a.rotate, a.rotate, b, dev, g))  # (B,)
    cos, sin = torch.cos(t), torch.sin(t)
    theta = torch.stack([torch.stack([cos * sx, -sin * h, cx], 1), torch.stack([sin * sx, cos * h, cy], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(img.shape), align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _colour_jitter(img: torch.Tensor, s: float, g: torch.Generator | None) -> torch.Tensor:
    """SimCLR's colour jitter of strength s, in a fixed order: brightness, contrast, saturation
    (factors uniform in [1 - 0.8 s, 1 + 0.8 s], at least 0), hue (a turn uniform in
    [-0.2 s, 0.2 s] of the circle, at most half a turn); clipped to [0, 1]."""
    b, dev = img.shape[0], img.device
    lo, hi, turn = max(0.0, 1.0 - 0.8 * s), 1.0 + 0.8 * s, min(0.5, 0.2 * s)
    img = (img * _uniform(lo, hi, b, dev, g)[:, None, None, None]).clamp(0.0, 1.0)
    mean = _gray(img).mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    img = (mean + (img - mean) * _uniform(lo, hi, b, dev, g)[:, None, None, None]).clamp(0.0, 1.0)
    gray = _gray(img)
    img = (gray + (img - gray) * _uniform(lo, hi, b, dev, g)[:, None, None, None]).clamp(0.0, 1.0)
    phi = 2 * math.pi * _uniform(-turn, turn, b, dev, g)  # (B,)
    rot = torch.zeros(b, 3, 3, device=dev)
    rot[:, 0, 0] = 1.0
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = torch.cos(phi), -torch.sin(phi), torch.sin(phi), torch.cos(phi)
    m = _FROM_YIQ.to(dev) @ rot @ _TO_YIQ.to(dev)  # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", m, img).clamp(0.0, 1.0)


def _blur(img: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    """A separable 5x5 Gaussian blur, sigma uniform in [0.3, 1] pixel per image (reflected border)."""
    b, c, hh, ww = img.shape
    sigma = _uniform(0.3, 1.0, b, img.device, g)  # (B,)
    k = torch.arange(-2, 3, device=img.device, dtype=img.dtype)
    kern = torch.exp(-0.5 * (k[None, :] / sigma[:, None]) ** 2)
    kern = (kern / kern.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (B*3, 5)
    x = F.pad(img.reshape(1, b * c, hh, ww), (2, 2, 2, 2), mode="reflect")
    x = F.conv2d(x, kern[:, None, None, :], groups=b * c)  # along rows
    x = F.conv2d(x, kern[:, None, :, None], groups=b * c)  # along columns
    return x.reshape(b, c, hh, ww)


def augment_rgb(x: torch.Tensor, strength: float, recipe: RGBAugment | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """x: (B, 3*H*W) in [0, 1], rows (3, H, W) with H = W -> (B, 3*H*W): the augmentations of
    ``recipe`` in SimCLR's order: crop, flip and rotation (one resampling), colour jitter, channel
    permutation, grayscale, blur, each drawn per image. ``strength`` scales the colour jitter's
    magnitudes; 0 = identity. Random numbers are drawn for every switch that is on, whether or
    not an image gets it, from ``generator``."""
    if strength <= 0:
        return x
    a = recipe or RGBAugment()
    b, dev = x.shape[0], x.device
    side = math.isqrt(x.shape[1] // 3)
    if 3 * side * side != x.shape[1]:
        raise ValueError(f"RGB rows hold 3 x H x H values; got {x.shape[1]} features")
    img = x.view(b, 3, side, side)
    if a.crop > 0 or a.flip > 0 or a.rotate > 0:
        img = _geometric(img, a, generator)
    if a.colour > 0:
        on = _coin(a.colour, b, dev, generator)[:, None, None, None]
        img = torch.where(on, _colour_jitter(img, strength, generator), img)
    if a.channels > 0:
        on = _coin(a.channels, b, dev, generator)
        perm = _PERMUTATIONS.to(dev)[torch.randint(0, 6, (b,), device=dev, generator=generator)]  # (B, 3)
        perm = torch.where(on[:, None], perm, torch.arange(3, device=dev))  # the identity where off
        img = torch.gather(img, 1, perm[:, :, None, None].expand_as(img))
    if a.grayscale > 0:
        on = _coin(a.grayscale, b, dev, generator)[:, None, None, None]
        img = torch.where(on, _gray(img).expand_as(img), img)
    if a.blur > 0:
        on = _coin(a.blur, b, dev, generator)[:, None, None, None]
        img = torch.where(on, _blur(img, generator), img)
    return img.reshape(b, -1)


def make_augment(kind: str, strength: float, noisy_dims: tuple[int, int] | None = None, *,
                 options: Mapping[str, float] | None = None):
    """Return ``f(x, generator) -> x'`` for a data kind ("image8", "rgb", "vector", or the Jing
    toy). ``options``: the config's ``aug_*`` fields (RGB images; :class:`RGBAugment`'s defaults
    when absent)."""
    if noisy_dims is not None:
        return lambda x, g=None: augment_jing(x, strength, noisy_dims, g)
    if kind == "image8":
        return lambda x, g=None: augment_image8(x, strength, g)
    if kind == "rgb":
        recipe = RGBAugment.from_options(options)
        return lambda x, g=None: augment_rgb(x, strength, recipe, g)
    return lambda x, g=None: augment_vector(x, strength, g)
