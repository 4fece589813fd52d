"""Training objectives: one uniform call for every registered loss.

An objective is an ``nn.Module`` called as ``objective(z, h, y, index, x=None)`` with
    z:     (V, B, D) projector outputs of V views of B samples (the embeddings),
    h:     (V, B, R) encoder outputs (the representations),
    y:     (B,) int64 labels or float32 standardised targets,
    index: (B,) int64 positions of the samples in the training split,
    x:     (V, B, F) the augmented input views, passed when ``needs_input`` is True
           (a teacher or an EMA copy must see the same views as the student),
and returns a scalar loss. It may hold parameters (the L1 head) or per-sample state
(iSogCLR's temperatures), exposed by :meth:`Objective.per_sample` for snapshots. The loop
calls :meth:`Objective.after_step` after every optimiser step and
:meth:`Objective.snapshot_extra` when it takes a snapshot.

Which class a loss uses, and which function of trainers.losses that class calls, is the
loss's spec in trainers.registry: :func:`build_objective` only looks it up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from trainers import registry
from trainers.registry import LossSpec


@dataclass
class Context:
    """What an objective may need besides its options: sizes and data from the loop's set-up."""

    num_samples: int  # rows of the training split
    rep_dim: int  # width of the representation h
    proj_dim: int = 0  # width of the embedding z
    train_targets: np.ndarray | None = None  # (N,) labels or standardised targets of the training split
    model: nn.Module | None = None  # the encoder being trained (MSD's EMA teacher copies it)
    x_test: np.ndarray | None = None  # (N_test, F) held-out inputs (MSD's snapshot metrics)
    total_steps: int = 1  # optimiser steps of the whole run


class Objective(nn.Module):
    needs_input = False  # True: called with x=, the (V, B, F) augmented views

    def __init__(self, name: str, temperature: float, options: dict) -> None:
        super().__init__()
        self.name = name
        self.temperature = float(temperature)
        self.options = dict(options)

    def per_sample(self) -> dict[str, np.ndarray]:
        """Per training-sample values to store with snapshots (e.g. learned temperatures)."""
        return {}

    def after_step(self) -> None:
        """Called after every optimiser step."""

    def snapshot_extra(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        """Extra metrics for a snapshot, from its arrays (held-out rows: ``arrays["is_test"]``)."""
        return {}

    def forward(self, z: torch.Tensor, h: torch.Tensor, y: torch.Tensor, index: torch.Tensor,
                x: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


class _SpecLoss(Objective):
    """A registry loss that calls ``spec.fn`` with the temperature, ``spec.fixed`` and the options."""

    def __init__(self, spec: LossSpec, temperature: float, options: dict, ctx: Context) -> None:
        super().__init__(spec.name, temperature, options)
        self.fn = registry.resolve(spec.fn)
        self.kwargs = {"temperature": self.temperature, **spec.fixed, **spec.options_with_defaults(options)}


class PairLoss(_SpecLoss):
    """fn(z1, z2): a loss of two views (NT-Xent, DCL)."""

    def forward(self, z, h, y, index, x=None):  # type: ignore[override]
        return self.fn(z[0], z[1], **self.kwargs)


class ViewsLoss(_SpecLoss):
    """fn(z): a loss of all V views, z of shape (V, B, D)."""

    def forward(self, z, h, y, index, x=None):  # type: ignore[override]
        return self.fn(z, **self.kwargs)


class LabelLoss(_SpecLoss):
    """fn(z, labels) over the V*B rows of all views (SupCon)."""

    def forward(self, z, h, y, index, x=None):  # type: ignore[override]
        return self.fn(z.reshape(-1, z.shape[-1]), y.repeat(z.shape[0]), **self.kwargs)


class TargetLoss(_SpecLoss):
    """fn(z, targets) over the V*B rows of all views (Rank-N-Contrast)."""

    def forward(self, z, h, y, index, x=None):  # type: ignore[override]
        return self.fn(z.reshape(-1, z.shape[-1]), y.float().repeat(z.shape[0]), **self.kwargs)


class BinnedSupCon(_SpecLoss):
    """SupCon with the targets cut into ``bins`` quantile bins of the training split."""

    def __init__(self, spec: LossSpec, temperature: float, options: dict, ctx: Context) -> None:
        super().__init__(spec, temperature, options, ctx)
        bins = int(self.kwargs.pop("bins"))
        assert ctx.train_targets is not None
        edges = np.quantile(ctx.train_targets, np.linspace(0, 1, bins + 1)[1:-1])  # (bins - 1,)
        self.register_buffer("bin_edges", torch.as_tensor(edges, dtype=torch.float32))

    def forward(self, z, h, y, index, x=None):  # type: ignore[override]
        labels = torch.bucketize(y.float().repeat(z.shape[0]), self.bin_edges)  # (V*B,)
        return self.fn(z.reshape(-1, z.shape[-1]), labels, **self.kwargs)


class SupReMix(_SpecLoss):
    """SupReMix over all views; its mixture draws come from a generator seeded by the ``seed`` option."""

    def __init__(self, spec: LossSpec, temperature: float, options: dict, ctx: Context) -> None:
        super().__init__(spec, temperature, options, ctx)
        self.seed = int(self.kwargs.pop("seed"))
        self._gen: torch.Generator | None = None

    def forward(self, z, h, y, index, x=None):  # type: ignore[override]
        if self._gen is None or self._gen.device != z.device:
            self._gen = torch.Generator(device=z.device).manual_seed(self.seed)
        zz, yy = z.reshape(-1, z.shape[-1]), y.float().repeat(z.shape[0])  # (V*B, D), (V*B,)
        return self.fn(zz, yy, generator=self._gen, **self.kwargs)


class ISogCLR(Objective):
    """iSogCLR (a learned temperature per sample) and SogCLR (one fixed temperature)."""

    def __init__(self, spec: LossSpec, temperature: float, options: dict, ctx: Context) -> None:
        super().__init__(spec.name, temperature, options)
        from trainers.losses import ISogCLRLoss

        self.loss = ISogCLRLoss(ctx.num_samples, tau_init=temperature, learn_tau=spec.per_sample_tau,
                                **spec.options_with_defaults(options))

    def forward(self, z, h, y, index, x=None):  # type: ignore[override]
        return self.loss(z[0], z[1], index)

    def per_sample(self) -> dict[str, np.ndarray]:
        return {"tau": self.loss.tau.detach().cpu().numpy().astype(np.float32)}


class CrossEntropyHead(Objective):
    """Cross-entropy of a linear classifier head on the representation h (all V views):
    mean over the V*B rows of -log softmax(W h + b)_y. The head's logits are what KD
    distils into (trainers/distill.py reuses ``self.head``)."""

    def __init__(self, spec: LossSpec, temperature: float, options: dict, ctx: Context) -> None:
        super().__init__(spec.name, temperature, options)
        assert ctx.train_targets is not None
        self.head = nn.Linear(ctx.rep_dim, int(np.max(ctx.train_targets)) + 1)

    def forward(self, z, h, y, index, x=None):  # type: ignore[override]
        logits = self.head(h.reshape(-1, h.shape[-1]))  # (V*B, C)
        return nn.functional.cross_entropy(logits, y.long().repeat(h.shape[0]))


class L1Head(Objective):
    """L1 regression: mean |w h + b - y| over the V*B rows (the baseline of the regression losses)."""

    def __init__(self, spec: LossSpec, temperature: float, options: dict, ctx: Context) -> None:
        super().__init__(spec.name, temperature, options)
        self.head = nn.Linear(ctx.rep_dim, 1)

    def forward(self, z, h, y, index, x=None):  # type: ignore[override]
        pred = self.head(h.reshape(-1, h.shape[-1])).squeeze(-1)  # (V*B,)
        return (pred - y.float().repeat(h.shape[0])).abs().mean()


def build_objective(name: str, *, temperature: float, options: dict, num_samples: int, rep_dim: int,
                    train_targets: np.ndarray | None = None, **context: Any) -> Objective:
    """Build the objective of the registry loss ``name``; ``context`` fills the rest of :class:`Context`."""
    spec = registry.LOSSES[name]
    ctx = Context(num_samples=num_samples, rep_dim=rep_dim, train_targets=train_targets, **context)
    return registry.resolve(spec.objective)(spec, temperature, options, ctx)
