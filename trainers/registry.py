"""The one registry of datasets, encoders and losses.

The Train page's choices and the CLI's ``--help`` come from here. An unknown name
raises :class:`trainers.config.ConfigError` (a ``ValueError``) listing the known ones.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    task: str  # "classification" | "regression" | "none"
    kind: str  # "image8" (8x8 images, flattened) | "vector"
    generated: bool  # True: generated (options n_samples, data_dim, ... apply)


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    description: str
    kinds: tuple[str, ...]  # data kinds it accepts


@dataclass(frozen=True)
class LossSpec:
    name: str
    description: str
    temperature: float  # default temperature (the paper's / METHODS.md's)
    task: str  # "selfsup" | "supervised" | "regression"
    multiview: bool = False  # takes V >= 2 views
    needs_views: bool = True  # trains on augmented views (False: L1 regression)
    per_sample_tau: bool = False  # learns a temperature per sample (iSogCLR)


DATASETS: dict[str, DatasetSpec] = {
    d.name: d
    for d in [
        DatasetSpec("digits", "scikit-learn digits: 1,797 8x8 images, 10 classes", "classification", "image8", False),
        DatasetSpec(
            "gmm_sphere",
            "Gaussian mixture on the unit sphere (classes, dimension, imbalance configurable)",
            "classification",
            "vector",
            True,
        ),
        DatasetSpec(
            "jing_toy",
            "Jing et al. toy: x ~ N(0, I_16), augmentation noise on the last 8 dims (collapses by construction); label = quadrant of the first 2 dims",
            "classification",
            "vector",
            True,
        ),
        DatasetSpec("wine", "scikit-learn wine: 178 samples, 13 features, 3 classes", "classification", "vector", False),
        DatasetSpec(
            "breast_cancer", "scikit-learn breast cancer: 569 samples, 30 features, 2 classes", "classification", "vector", False
        ),
        DatasetSpec("iris", "scikit-learn iris: 150 samples, 4 features, 3 classes", "classification", "vector", False),
        DatasetSpec("diabetes", "scikit-learn diabetes: 442 samples, 10 features, continuous target", "regression", "vector", False),
        DatasetSpec("swiss_roll", "swiss roll in 3-D (+ noise dims); target = position along the roll", "regression", "vector", True),
        DatasetSpec("rotated_digits", "digits rotated by a random angle; target = the angle (degrees)", "regression", "image8", False),
        DatasetSpec("intensity_digits", "digits scaled in intensity; target = the intensity factor", "regression", "image8", False),
    ]
}

ENCODERS: dict[str, EncoderSpec] = {
    e.name: e
    for e in [
        EncoderSpec("mlp", "MLP (2 hidden layers, BatchNorm, ReLU) + 2-layer projector", ("image8", "vector")),
        EncoderSpec("linear", "two-layer linear network (Jing et al. toy: collapse shows directly)", ("image8", "vector")),
        EncoderSpec("cnn", "small CNN for 8x8 images (3 conv layers) + 2-layer projector", ("image8",)),
    ]
}

LOSSES: dict[str, LossSpec] = {
    s.name: s
    for s in [
        LossSpec("nt_xent", "NT-Xent / InfoNCE (SimCLR): 2B-1 terms in the denominator", 0.5, "selfsup"),
        LossSpec("dcl", "Decoupled contrastive loss: positive removed from the denominator", 0.1, "selfsup"),
        LossSpec("dclw", "DCL with the weighted positive term (sigma = 0.5)", 0.1, "selfsup"),
        LossSpec("supcon", "Supervised contrastive (L_out): positives = same label", 0.1, "supervised"),
        LossSpec("pairwise_nt_xent", "NT-Xent averaged over all view pairs (multi-view baseline)", 0.5, "selfsup", multiview=True),
        LossSpec("mv_infonce", "Multi-view InfoNCE (Koromilas et al. 2025)", 0.5, "selfsup", multiview=True),
        LossSpec("mv_dhel", "Multi-view DHEL: same-view uniformity, O(M^2 V)", 0.5, "selfsup", multiview=True),
        LossSpec("isogclr", "iSogCLR: a learned temperature per sample", 0.5, "selfsup", per_sample_tau=True),
        LossSpec("sogclr", "SogCLR: the iSogCLR surrogate with one fixed global temperature (control)", 0.5, "selfsup"),
        LossSpec("supremix", "SupReMix contrastive regression (mixture hard negatives / positives)", 0.3, "regression"),
        LossSpec("rnc", "Rank-N-Contrast (un-normalised features, -L2 similarity)", 2.0, "regression"),
        LossSpec("supcon_binned", "SupCon on binned regression targets (peer of SupReMix)", 0.1, "regression"),
        LossSpec("l1", "L1 regression (encoder + linear head), the baseline", 1.0, "regression", needs_views=False),
        LossSpec("cross_entropy", "Cross-entropy of a linear classifier head on the representation (supervised; KD's task term)",
                 1.0, "supervised"),
        LossSpec("msd", "Momentum self-distillation (DINO-style): EMA teacher, centring + sharpening; temperature = student's",
                 0.1, "selfsup"),
    ]
}


def check_name(what: str, name: str, table: dict) -> None:
    """Raise ConfigError naming the known entries when ``name`` is not in ``table``."""
    from trainers.config import ConfigError

    if name not in table:
        plural = what + ("es" if what.endswith("s") else "s")
        raise ConfigError(f"unknown {what} {name!r}; known {plural}: {', '.join(sorted(table))}")


def names_for_task(task: str) -> list[str]:
    return [n for n, d in DATASETS.items() if d.task == task]


def losses_for_dataset(dataset: str) -> list[str]:
    """Losses that can train on ``dataset`` (regression losses need a continuous target)."""
    task = DATASETS[dataset].task
    out = []
    for n, s in LOSSES.items():
        if s.task == "regression" and task != "regression":
            continue
        if n == "cross_entropy" and task != "classification":
            continue
        out.append(n)
    return out


def encoders_for_dataset(dataset: str) -> list[str]:
    kind = DATASETS[dataset].kind
    return [n for n, e in ENCODERS.items() if kind in e.kinds]


def temperature_of(config: dict) -> float | None:
    """The temperature a run's config trains with: its own, else its loss's default (None for
    a loss this registry does not know). Works on stored configs without validating them."""
    t = config.get("temperature")
    if t is not None:
        return float(t)
    spec = LOSSES.get(config.get("loss", ""))
    return spec.temperature if spec is not None else None
