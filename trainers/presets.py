"""Presets: named configurations (a sweep preset launches several runs as one group).

Used by the Train page and by ``python -m trainers`` alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Preset:
    name: str
    description: str  # what to look at once it has run
    configs: list[dict[str, Any]] = field(default_factory=list)  # one dict per run (overrides of RunConfig)
    claim: str = ""  # the METHODS.md claim it reproduces, if any

    @property
    def is_sweep(self) -> bool:
        return len(self.configs) > 1


PRESETS: list[Preset] = [
    Preset(
        "Digits · NT-Xent (default)",
        "SimCLR's loss on 8x8 digits with an MLP: kNN accuracy passes 0.9 within seconds; watch "
        "uniformity fall towards its optimum while alignment rises, then settles.",
        [{}],
    ),
    Preset("Digits · DCL", "Decoupled contrastive loss (no positive in the denominator): the loss goes negative; "
           "compare its alignment-uniformity path with NT-Xent's.", [{"loss": "dcl"}]),
    Preset("Digits · SupCon", "Supervised contrastive: classes pull together; alignment falls further and the "
           "spectrum concentrates on about 9 directions (10 classes).", [{"loss": "supcon"}]),
    Preset("Digits · CNN NT-Xent", "The small CNN encoder instead of the MLP.", [{"encoder": "cnn", "epochs": 30}]),
    Preset(
        "Jing toy: dimensional collapse",
        "x ~ N(0, I_16), augmentation noise on the last 8 dims: the embedding spectrum drops to the floor on "
        "about half its directions (Dimensional Collapse page).",
        [{"dataset": "jing_toy", "loss": "nt_xent", "epochs": 40, "rep_dim": 16, "proj_dim": 16, "hidden_dim": 64}],
    ),
    Preset(
        "Sphere mixture, long tail 10x",
        "A 10-class Gaussian mixture on the sphere with a 10:1 imbalance (training split only).",
        [{"dataset": "gmm_sphere", "imbalance_ratio": 10.0, "epochs": 30}],
    ),
    Preset(
        "Compare: NT-Xent vs DCL vs SupCon (digits)",
        "Three losses on the same data as one group: open them together on the views.",
        [{"loss": "nt_xent", "name": "NT-Xent"}, {"loss": "dcl", "name": "DCL"}, {"loss": "supcon", "name": "SupCon"}],
    ),
]


def get_preset(name: str) -> Preset:
    for p in PRESETS:
        if p.name == name:
            return p
    raise ValueError(f"unknown preset {name!r}; known: {', '.join(p.name for p in PRESETS)}")
