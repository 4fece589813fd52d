"""Training objectives: one uniform call for every registered loss.

An objective is an ``nn.Module`` called as ``objective(z, h, y, index)`` with
    z:     (V, B, D) projector outputs of V views of B samples (the embeddings),
    h:     (V, B, R) encoder outputs (the representations),
    y:     (B,) int64 labels or float32 standardised targets,
    index: (B,) int64 positions of the samples in the training split,
and returns a scalar loss. It may hold parameters (the L1 head) or per-sample state
(iSogCLR's temperatures), exposed by :meth:`per_sample` for snapshots.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from trainers import losses as L
from trainers.config import LOSS_OPTIONS, loss_option


class Objective(nn.Module):
    def __init__(self, name: str, temperature: float, options: dict) -> None:
        super().__init__()
        self.name = name
        self.temperature = float(temperature)
        self.options = dict(options)

    def per_sample(self) -> dict[str, np.ndarray]:
        """Per training-sample values to store with snapshots (e.g. learned temperatures)."""
        return {}

    def forward(self, z: torch.Tensor, h: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class _Fn(Objective):
    def forward(self, z, h, y, index):  # type: ignore[override]
        t, o, n = self.temperature, self.options, self.name
        if n == "nt_xent":
            return L.nt_xent(z[0], z[1], temperature=t)
        if n in ("dcl", "dclw"):
            return L.dcl(z[0], z[1], temperature=t, weighted=(n == "dclw"), sigma=loss_option("dclw", o, "sigma"))
        if n == "supcon":
            v = z.shape[0]
            return L.supcon(z.reshape(-1, z.shape[-1]), y.repeat(v), temperature=t)
        if n == "pairwise_nt_xent":
            return L.pairwise_nt_xent(z, temperature=t)
        if n == "mv_infonce":
            return L.mv_infonce(z, temperature=t)
        if n == "mv_dhel":
            return L.mv_dhel(z, temperature=t)
        raise ValueError(f"objective {n!r} is not a plain function loss")


class _ISog(Objective):
    def __init__(self, name: str, temperature: float, options: dict, num_samples: int) -> None:
        super().__init__(name, temperature, options)
        self.loss = L.ISogCLRLoss(
            num_samples, tau_init=temperature, learn_tau=(name == "isogclr"),
            **{k: loss_option(name, options, k) for k in LOSS_OPTIONS[name]}
        )

    def forward(self, z, h, y, index):  # type: ignore[override]
        return self.loss(z[0], z[1], index)

    def per_sample(self) -> dict[str, np.ndarray]:
        return {"tau": self.loss.tau.detach().cpu().numpy().astype(np.float32)}


class _CrossEntropy(Objective):
    """Cross-entropy of a linear classifier head on the representation h (all V views):
    mean over the V*B rows of -log softmax(W h + b)_y. The head's logits are what KD
    distils into (trainers/distill.py reuses ``self.head``)."""

    def __init__(self, name: str, temperature: float, options: dict, rep_dim: int, n_classes: int) -> None:
        super().__init__(name, temperature, options)
        self.head = nn.Linear(rep_dim, n_classes)

    def forward(self, z, h, y, index):  # type: ignore[override]
        v = h.shape[0]
        logits = self.head(h.reshape(-1, h.shape[-1]))  # (V*B, C)
        return nn.functional.cross_entropy(logits, y.long().repeat(v))


class _Regression(Objective):
    def __init__(self, name: str, temperature: float, options: dict, rep_dim: int, bin_edges: np.ndarray | None) -> None:
        super().__init__(name, temperature, options)
        self.head = nn.Linear(rep_dim, 1) if name == "l1" else None
        if bin_edges is not None:
            self.register_buffer("bin_edges", torch.as_tensor(bin_edges, dtype=torch.float32))
        else:
            self.bin_edges = None
        self._gen: torch.Generator | None = None

    def forward(self, z, h, y, index):  # type: ignore[override]
        v = z.shape[0]
        yy = y.float().repeat(v)  # (V*B,)
        zz = z.reshape(-1, z.shape[-1])  # (V*B, D)
        n, t, o = self.name, self.temperature, self.options
        if n == "l1":
            pred = self.head(h.reshape(-1, h.shape[-1])).squeeze(-1)  # (V*B,)
            return (pred - yy).abs().mean()
        if n == "rnc":
            return L.rnc(zz, yy, temperature=t)
        if n == "supcon_binned":
            return L.supcon(zz, torch.bucketize(yy, self.bin_edges), temperature=t)
        if n == "supremix":
            if self._gen is None or self._gen.device != z.device:
                self._gen = torch.Generator(device=z.device).manual_seed(int(loss_option(n, o, "seed")))
            return L.supremix(
                zz,
                yy,
                temperature=t,
                window=float(loss_option(n, o, "window")),
                distance_weight=bool(loss_option(n, o, "distance_weight")),
                generator=self._gen,
            )
        raise ValueError(f"unknown regression objective {n!r}")


def build_objective(name: str, *, temperature: float, options: dict, num_samples: int, rep_dim: int,
                    train_targets: np.ndarray | None = None) -> Objective:
    """Build the objective ``name`` (a key of trainers.registry.LOSSES)."""
    if name in ("isogclr", "sogclr"):
        return _ISog(name, temperature, options, num_samples)
    if name == "cross_entropy":
        assert train_targets is not None
        return _CrossEntropy(name, temperature, options, rep_dim, int(np.max(train_targets)) + 1)
    if name in ("l1", "rnc", "supcon_binned", "supremix"):
        edges = None
        if name == "supcon_binned":
            nb = int(loss_option(name, options, "bins"))
            assert train_targets is not None
            edges = np.quantile(train_targets, np.linspace(0, 1, nb + 1)[1:-1])
        return _Regression(name, temperature, options, rep_dim, edges)
    return _Fn(name, temperature, options)
