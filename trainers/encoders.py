"""Encoders with a projector head. ``forward(x)`` returns (representation h, embedding z).

Every encoder is built as ``cls(in_dim, *, hidden_dim, rep_dim, proj_dim)``: the registry's
spec names the class (trainers.registry.ENCODERS) and :func:`build_encoder` looks it up.

Snapshots record both: h (encoder output, "representation space") and z (projector
output, "embedding space", what the loss sees).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from trainers import registry


def _projector(rep_dim: int, hidden_dim: int, proj_dim: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(rep_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, proj_dim)
    )


class MLPEncoder(nn.Module):
    """in_dim -> hidden -> hidden -> rep_dim (BatchNorm + ReLU), then a 2-layer projector."""

    def __init__(self, in_dim: int, *, hidden_dim: int = 256, rep_dim: int = 128, proj_dim: int = 64) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, rep_dim),
        )
        self.projector = _projector(rep_dim, hidden_dim, proj_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.backbone(x)  # (B, rep_dim)
        return h, self.projector(h)  # (B, proj_dim)


class CNNEncoder(nn.Module):
    """Small CNN for 8x8 single-channel images given flattened (B, 64)."""

    def __init__(self, in_dim: int = 64, *, hidden_dim: int = 256, rep_dim: int = 128, proj_dim: int = 64,
                 width: int = 32) -> None:
        super().__init__()
        if in_dim != 64:
            raise ValueError(f"the CNN encoder takes 8x8 images (64 features), got {in_dim} features; use the MLP")
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True),  # (B, w, 8, 8)
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # (B, 2w, 4, 4)
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.BatchNorm2d(4 * w), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),  # (B, 4w, 1, 1)
        )
        self.head = nn.Linear(4 * w, rep_dim)
        self.projector = _projector(rep_dim, hidden_dim, proj_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.head(self.features(x.view(-1, 1, 8, 8)).flatten(1))  # (B, rep_dim)
        return h, self.projector(h)


class RGBCNNEncoder(nn.Module):
    """Small CNN for square RGB images given flattened (B, 3*H*W) (rows (3, H, W), H = W inferred
    from ``in_dim``): three 3x3 conv blocks of width, 2 width, 4 width channels (BatchNorm, ReLU;
    2x2 max pooling after the first two), global average pooling, a linear layer to rep_dim, then
    the 2-layer projector. Sized for a CPU: 32 k parameters before the projector at width 16
    and rep_dim 128."""

    def __init__(self, in_dim: int, *, hidden_dim: int = 256, rep_dim: int = 128, proj_dim: int = 64,
                 width: int = 16) -> None:
        super().__init__()
        side = math.isqrt(max(in_dim, 0) // 3)
        if 3 * side * side != in_dim or side < 4:
            raise ValueError(f"the RGB CNN takes square RGB images (3 x H x H features, H >= 4), got {in_dim} features")
        self.side = side
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True),  # (B, w, H, H)
            nn.MaxPool2d(2),  # (B, w, H/2, H/2)
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # (B, 2w, H/4, H/4)
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.BatchNorm2d(4 * w), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),  # (B, 4w, 1, 1)
        )
        self.head = nn.Linear(4 * w, rep_dim)
        self.projector = _projector(rep_dim, hidden_dim, proj_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.head(self.features(x.view(-1, 3, self.side, self.side)).flatten(1))  # (B, rep_dim)
        return h, self.projector(h)  # (B, proj_dim)


class LinearEncoder(nn.Module):
    """Two-layer linear network (Jing et al. 2022, Sec. 4): h = W1 x, z = W2 h. No
    nonlinearity, so the embedding's rank is bounded by what the weights keep:
    dimensional collapse shows directly in the spectrum."""

    def __init__(self, in_dim: int, *, hidden_dim: int = 0, rep_dim: int = 16, proj_dim: int = 16) -> None:
        super().__init__()  # hidden_dim: unused (no hidden layer)
        self.backbone = nn.Linear(in_dim, rep_dim, bias=False)
        self.projector = nn.Linear(rep_dim, proj_dim, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.backbone(x)  # (B, rep_dim)
        return h, self.projector(h)  # (B, proj_dim)


def build_encoder(name: str, in_dim: int, *, hidden_dim: int, rep_dim: int, proj_dim: int) -> nn.Module:
    """The registry encoder ``name`` for ``in_dim`` input features."""
    registry.check_name("encoder", name, registry.ENCODERS)
    cls = registry.resolve(registry.ENCODERS[name].build)
    return cls(in_dim, hidden_dim=hidden_dim, rep_dim=rep_dim, proj_dim=proj_dim)


def pick_device(device: str = "auto") -> torch.device:
    """auto: CUDA, then MPS, then CPU."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)
