"""The catalogue: every dataset, encoder, loss and distillation kind, each one spec.

A spec holds what the rest of the lab needs to know about its entry: the description the
CLI's ``--help`` and the Train page show, its options (a :class:`~trainers.options.Rule`
each, with default, bounds and help text), its capabilities (which data it reads, which
task it needs) and where its code lives (``"module:name"``, imported only when a worker
builds it, so that this module and the app's server stay free of torch). Generated from
the specs: the config's validation (trainers.config), the objectives (trainers.objectives),
the datasets (trainers.data), the encoders (trainers.encoders), the CLI's flags and help
(jobs.cli) and the Train page's widgets (pages/train.py).

Adding a loss: write it in ``trainers/losses/<name>.py`` (a function of tensors), add one
:class:`LossSpec` below, and test it (tests/trainers/test_losses_*.py). An unknown name
raises :class:`~trainers.options.ConfigError` listing the known ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trainers.options import MAX_SEED, ConfigError, Rule

MIN_LINEAR_TAU = 0.012  # iSogCLR / SogCLR form exp(s / tau) in linear space: float32 overflows below ~0.0113
_TAU_RULE = "a number in [0.001, 100]"


def resolve(ref: str) -> Any:
    """The object named by ``"package.module:name"`` (imported on first use)."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


# --------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    task: str  # "classification" | "regression"
    kind: str  # "image8" (8x8 images, flattened) | "rgb" (3 x H x W images, flattened) | "vector"
    source: str  # "module:function": cfg -> trainers.data.Raw (all rows, before the split)
    options: tuple[str, ...] = ()  # the config fields that shape this set (shown on the Train page)
    generated: bool = False  # generated from the options (a teacher must match them all)
    standardise: bool = True  # vectors: standardised with the training split's mean and sd
    class_sizes: str = ""  # generated classification sets: "module:function", cfg -> training class sizes


_LONG_TAIL = ("imbalance_ratio",)
RGB_AUGMENT = ("aug_crop", "aug_flip", "aug_rotate", "aug_colour", "aug_grayscale", "aug_channels", "aug_blur")
DATASETS: dict[str, DatasetSpec] = {
    d.name: d
    for d in [
        DatasetSpec("digits", "scikit-learn digits: 1,797 8x8 images, 10 classes", "classification", "image8",
                    "trainers.data:digits", _LONG_TAIL),
        DatasetSpec("gmm_sphere", "Gaussian mixture on the unit sphere (classes, dimension, imbalance configurable)",
                    "classification", "vector", "trainers.data:gmm_sphere",
                    ("n_samples", "n_classes", "data_dim", "imbalance_ratio"), generated=True, standardise=False),
        DatasetSpec("jing_toy", "Jing et al. toy: x ~ N(0, I_16), augmentation noise on the last 8 dims (collapses by "
                    "construction); label = quadrant of the first 2 dims", "classification", "vector",
                    "trainers.data:jing_toy", ("n_samples", "imbalance_ratio"), generated=True, standardise=False,
                    class_sizes="trainers.data:train_class_sizes"),
        DatasetSpec("wine", "scikit-learn wine: 178 samples, 13 features, 3 classes", "classification", "vector",
                    "trainers.data:wine", _LONG_TAIL),
        DatasetSpec("breast_cancer", "scikit-learn breast cancer: 569 samples, 30 features, 2 classes", "classification",
                    "vector", "trainers.data:breast_cancer", _LONG_TAIL),
        DatasetSpec("iris", "scikit-learn iris: 150 samples, 4 features, 3 classes", "classification", "vector",
                    "trainers.data:iris", _LONG_TAIL),
        DatasetSpec("diabetes", "scikit-learn diabetes: 442 samples, 10 features, continuous target", "regression",
                    "vector", "trainers.data:diabetes", ("few_samples",)),
        DatasetSpec("swiss_roll", "swiss roll in 3-D (+ noise dims); target = position along the roll", "regression",
                    "vector", "trainers.data:swiss_roll", ("n_samples", "few_samples"), generated=True),
        DatasetSpec("rotated_digits", "digits rotated by a random angle; target = the angle (degrees)", "regression",
                    "image8", "trainers.data:rotated_digits", ("few_samples",)),
        DatasetSpec("intensity_digits", "digits scaled in intensity; target = the intensity factor", "regression",
                    "image8", "trainers.data:intensity_digits", ("few_samples",)),
        DatasetSpec("shapes", "shapes world: 20x20 RGB images of n_shapes shapes (the label) drawn with nuisance "
                    "factors (colour, position, scale, rotation, background, pixel noise) kept per sample",
                    "classification", "rgb", "trainers.data:shapes",
                    ("n_samples", "n_shapes", "imbalance_ratio", *RGB_AUGMENT), generated=True,
                    class_sizes="trainers.data:shapes_class_sizes"),
    ]
}


# --------------------------------------------------------------------------- encoders


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    description: str
    kinds: tuple[str, ...]  # data kinds it reads
    build: str  # "module:callable" called as (in_dim, *, hidden_dim, rep_dim, proj_dim) -> nn.Module


ENCODERS: dict[str, EncoderSpec] = {
    e.name: e
    for e in [
        EncoderSpec("mlp", "MLP (2 hidden layers, BatchNorm, ReLU) + 2-layer projector", ("image8", "rgb", "vector"),
                    "trainers.encoders:MLPEncoder"),
        EncoderSpec("linear", "two-layer linear network (Jing et al. toy: collapse shows directly)",
                    ("image8", "rgb", "vector"), "trainers.encoders:LinearEncoder"),
        EncoderSpec("cnn", "small CNN for 8x8 images (3 conv layers) + 2-layer projector", ("image8",),
                    "trainers.encoders:CNNEncoder"),
        EncoderSpec("cnn_rgb", "small CNN for square RGB images (16-32-64 channels) + 2-layer projector", ("rgb",),
                    "trainers.encoders:RGBCNNEncoder"),
    ]
}


# --------------------------------------------------------------------------- losses


@dataclass(frozen=True)
class LossSpec:
    """A loss: what it is, what it takes, and how the loop calls it.

    ``objective`` is the class (trainers.objectives, or trainers.distill for MSD) built as
    ``cls(spec, temperature, options, context)``; the generic ones call ``fn`` (a loss of
    trainers.losses) with the temperature, ``fixed`` and the run's ``options``:
    ``PairLoss`` as fn(z1, z2), ``ViewsLoss`` as fn(z) with z (V, B, D), ``LabelLoss`` as
    fn(z, labels) over all views, ``TargetLoss`` as fn(z, targets) over all views.
    """

    name: str
    description: str
    temperature: float  # default temperature (the paper's / METHODS.md's)
    task: str  # "selfsup" | "supervised" | "regression"
    objective: str  # "module:class" of its objective
    fn: str = ""  # "module:function" of the loss the generic objectives call
    options: Mapping[str, Rule] = field(default_factory=dict)  # what ``loss_options`` may hold
    fixed: Mapping[str, Any] = field(default_factory=dict)  # keyword arguments this entry fixes
    needs_task: str = ""  # the dataset task it needs ("regression", "classification"; "" = any)
    multiview: bool = False  # takes V >= 2 views
    needs_views: bool = True  # trains on augmented views (False: L1 regression)
    per_sample_tau: bool = False  # learns a temperature per sample (iSogCLR)
    min_temperature: float = 0.0  # a lower bound of its own (linear-space exponentials)
    check: Callable[[Any], None] | None = None  # extra rule on the whole config (raises ConfigError)

    def option(self, options: Mapping[str, Any], key: str) -> Any:
        """Option ``key``: the run's value, else its default (the one place defaults live)."""
        return options.get(key, self.options[key].default)

    def options_with_defaults(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Every option that has a default (or a value in ``options``), as the loss will read it."""
        return {k: self.option(options, k) for k, r in self.options.items() if k in options or r.default is not None}


def _check_isogclr(cfg: Any) -> None:
    o, spec = cfg.loss_options, LOSSES["isogclr"]
    lo, hi = spec.option(o, "tau_min"), spec.option(o, "tau_max")
    if lo > hi:
        raise ConfigError(f"isogclr option tau_min ({lo:g}) must be <= tau_max ({hi:g})")
    t = cfg.effective_temperature
    if not lo <= t <= hi:
        raise ConfigError(f"isogclr starts every tau_i at the temperature ({t:g}), which must lie in [tau_min, tau_max] = "
                          f"[{lo:g}, {hi:g}]: change the temperature or the tau_min / tau_max options")


def _check_msd(cfg: Any) -> None:
    if cfg.teacher:
        raise ConfigError("msd's teacher is an EMA copy of the student itself: leave the teacher field empty")


_GAMMA = Rule("moving-average weight", 0.0, 1.0, lo_open=True, default=0.9)
_OBJ = "trainers.objectives:"
LOSSES: dict[str, LossSpec] = {
    s.name: s
    for s in [
        LossSpec("nt_xent", "NT-Xent / InfoNCE (SimCLR): 2B-1 terms in the denominator", 0.5, "selfsup",
                 _OBJ + "PairLoss", "trainers.losses:nt_xent"),
        LossSpec("dcl", "Decoupled contrastive loss: positive removed from the denominator", 0.1, "selfsup",
                 _OBJ + "PairLoss", "trainers.losses:dcl", fixed={"weighted": False}),
        LossSpec("dclw", "DCL with the weighted positive term (sigma = 0.5)", 0.1, "selfsup", _OBJ + "PairLoss",
                 "trainers.losses:dcl", fixed={"weighted": True},
                 options={"sigma": Rule("softmax temperature of the positive weights", 1e-3, 100.0, rule=_TAU_RULE,
                                        default=0.5)}),
        LossSpec("supcon", "Supervised contrastive (L_out): positives = same label", 0.1, "supervised",
                 _OBJ + "LabelLoss", "trainers.losses:supcon"),
        LossSpec("pairwise_nt_xent", "NT-Xent averaged over all view pairs (multi-view baseline)", 0.5, "selfsup",
                 _OBJ + "ViewsLoss", "trainers.losses:pairwise_nt_xent", multiview=True),
        LossSpec("mv_infonce", "Multi-view InfoNCE (Koromilas et al. 2025)", 0.5, "selfsup", _OBJ + "ViewsLoss",
                 "trainers.losses:mv_infonce", multiview=True),
        LossSpec("mv_dhel", "Multi-view DHEL: same-view uniformity, O(M^2 V)", 0.5, "selfsup", _OBJ + "ViewsLoss",
                 "trainers.losses:mv_dhel", multiview=True),
        LossSpec("isogclr", "iSogCLR: a learned temperature per sample", 0.5, "selfsup", _OBJ + "ISogCLR",
                 per_sample_tau=True, min_temperature=MIN_LINEAR_TAU, check=_check_isogclr, options={
                     "rho": Rule("rho of RGCL (larger pushes temperatures down)", 0.0, 10.0, default=0.4),
                     "gamma": _GAMMA,
                     "beta": Rule("temperature momentum weight", 0.0, 1.0, lo_open=True, default=0.5),
                     "eta": Rule("temperature step size", 0.0, 10.0, default=0.03),
                     "tau_min": Rule("lowest temperature", MIN_LINEAR_TAU, 100.0, default=0.05),
                     "tau_max": Rule("highest temperature", MIN_LINEAR_TAU, 100.0, default=1.0),
                 }),
        # SogCLR's temperature is fixed, so of iSogCLR's options only gamma (the moving average u) changes it
        LossSpec("sogclr", "SogCLR: the iSogCLR surrogate with one fixed global temperature (control)", 0.5, "selfsup",
                 _OBJ + "ISogCLR", min_temperature=MIN_LINEAR_TAU, options={"gamma": _GAMMA}),
        LossSpec("supremix", "SupReMix contrastive regression (mixture hard negatives / positives)", 0.3, "regression",
                 _OBJ + "SupReMix", "trainers.losses:supremix", needs_task="regression", options={
                     "window": Rule("label window of the hard positives (standardised target units)", 0.0, 100.0,
                                    lo_open=True, default=0.5),
                     "distance_weight": Rule("weigh negatives by label distance", 0, 0, "bool", default=True),
                     "seed": Rule("seed of the mixture draws", 0, MAX_SEED, "int", default=0),
                 }),
        LossSpec("rnc", "Rank-N-Contrast (un-normalised features, -L2 similarity)", 2.0, "regression",
                 _OBJ + "TargetLoss", "trainers.losses:rnc", needs_task="regression"),
        LossSpec("supcon_binned", "SupCon on binned regression targets (peer of SupReMix)", 0.1, "regression",
                 _OBJ + "BinnedSupCon", "trainers.losses:supcon", needs_task="regression",
                 options={"bins": Rule("number of target bins", 2, 100, "int", default=10)}),
        LossSpec("l1", "L1 regression (encoder + linear head), the baseline", 1.0, "regression", _OBJ + "L1Head",
                 needs_task="regression", needs_views=False),
        LossSpec("cross_entropy", "Cross-entropy of a linear classifier head on the representation (supervised; KD's "
                 "task term)", 1.0, "supervised", _OBJ + "CrossEntropyHead", needs_task="classification"),
        LossSpec("msd", "Momentum self-distillation (DINO-style): EMA teacher, centring + sharpening; temperature = "
                 "student's", 0.1, "selfsup", "trainers.distill:MSDObjective", check=_check_msd, options={
                     "centering": Rule("centre the teacher's outputs", 0, 0, "bool", default=True),
                     "sharpening": Rule("sharpen the teacher with teacher_temp", 0, 0, "bool", default=True),
                     "out_dim": Rule("outputs of the DINO head", 2, 65536, "int", default=256),
                     "teacher_temp": Rule("teacher temperature", 1e-3, 100.0, rule=_TAU_RULE, default=0.04),
                     "student_temp": Rule("student temperature (default: the run's temperature)", 1e-3, 100.0,
                                          rule=_TAU_RULE),
                     "center_momentum": Rule("centre momentum", 0.0, 1.0, default=0.9),
                     "momentum_base": Rule("teacher EMA momentum at the start", 0.0, 1.0, default=0.996),
                 }),
    ]
}


# --------------------------------------------------------------------------- distillation kinds


@dataclass(frozen=True)
class DistillSpec:
    """A distillation term between a student's and a frozen teacher's representations
    (trainers.distill.Distilled builds it)."""

    name: str
    description: str
    needs_task: str = ""  # "classification": it distils class probabilities


DISTILLERS: dict[str, DistillSpec] = {
    d.name: d
    for d in [
        DistillSpec("kd", "Hinton KD (T = 4) on class logits", needs_task="classification"),
        DistillSpec("feature", "MSE to the teacher's representation through a learned projection"),
        DistillSpec("feature_cosine", "1 - cosine to the teacher's representation through a learned projection"),
        DistillSpec("similarity", "in-batch similarity distributions (tau = 0.1)"),
        DistillSpec("crd", "contrastive representation distillation (tau = 0.07)"),
        DistillSpec("rkd", "relational KD: distances (25) and angles (50)"),
    ]
}


# --------------------------------------------------------------------------- noise views

# How ``noise_eps`` sizes the noise views (trainers.losses.noise.noise_view): the name of each
# scale and what the noise's L2 norm is under it.
NOISE_SCALES: dict[str, str] = {
    "absolute": "eps (the same for every embedding)",
    "relative": "eps x ||z|| (each embedding's own norm, per sample)",
}


# --------------------------------------------------------------------------- queries


def check_name(what: str, name: str, table: Mapping[str, Any]) -> None:
    """Raise ConfigError naming the known entries when ``name`` is not in ``table``."""
    if name not in table:
        plural = what + ("es" if what.endswith("s") else "s")
        raise ConfigError(f"unknown {what} {name!r}; known {plural}: {', '.join(sorted(table))}")


def names_for_task(task: str) -> list[str]:
    return [n for n, d in DATASETS.items() if d.task == task]


def losses_for_dataset(dataset: str) -> list[str]:
    """Losses that can train on ``dataset`` (regression losses need a continuous target)."""
    task = DATASETS[dataset].task
    return [n for n, s in LOSSES.items() if s.needs_task in ("", task)]


def encoders_for_dataset(dataset: str) -> list[str]:
    kind = DATASETS[dataset].kind
    return [n for n, e in ENCODERS.items() if kind in e.kinds]


def distillers_for_dataset(dataset: str) -> list[str]:
    task = DATASETS[dataset].task
    return [n for n, d in DISTILLERS.items() if d.needs_task in ("", task)]


def loss_options() -> dict[str, Mapping[str, Rule]]:
    """The losses that take options, with their rules."""
    return {n: s.options for n, s in LOSSES.items() if s.options}


def temperature_of(config: dict) -> float | None:
    """The temperature a run's config trains with: its own, else its loss's default (None for
    a loss this registry does not know). Works on stored configs without validating them."""
    t = config.get("temperature")
    if t is not None:
        return float(t)
    spec = LOSSES.get(config.get("loss", ""))
    return spec.temperature if spec is not None else None
