"""Run configuration: a frozen dataclass, saved as JSON, validated once.

A run is a :class:`RunConfig` plus everything its worker wrote to the store.
Validation happens in ``__post_init__`` so that the Train page, the CLI and the
worker refuse the same bad configurations with the same message. It is total: any
input to :meth:`RunConfig.from_dict` (any JSON value) either gives a config whose
fields have their types and finite values in range, or raises :class:`ConfigError`
(a ``ValueError``) naming the field and saying what to write instead. The rules
(types, ranges, the options each loss takes, combinations that cannot run) are below.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from trainers import registry
from trainers.options import MAX_SEED, ConfigError, Rule, check_value, describe  # noqa: F401  (part of this module's API)
from trainers.registry import MIN_LINEAR_TAU  # noqa: F401  (part of this module's API)

MAX_EPOCHS = 2000  # a sane bound: more is almost certainly a typo on this kind of data
MAX_BATCH = 8192
DISTILL_KINDS = ("", *registry.DISTILLERS)  # "" = no distillation


# --- the rules every configuration obeys ---------------------------------------------------
# Types, for every input (a JSON file, CLI flags, the Train form):
# - an integer field takes a JSON integer; true / false are not integers, and neither is 50.0
#   (write 50);
# - a number field takes an integer or a decimal number and stores it as a float;
# - a text field takes text; nothing is converted from text: {"lr": "0.1"} is refused with
#   "write 0.1 without quotes", and {"snapshot_every": 5} with 'write "5" in quotes';
# - every number is finite and inside the range below.
# The only conversion is integer -> float for number fields.
# Device: ``RunConfig(...)`` checks the name only, so that a saved config stays readable on any
# machine; ``RunConfig.from_dict`` (the entry point for user input, and the worker's) also
# refuses "cuda" / "mps" on a machine that has neither (torch is imported for that check only).



NUMBERS: dict[str, Rule] = {
    "epochs": Rule("epochs", 1, MAX_EPOCHS, "int", rule=f"between 1 and {MAX_EPOCHS} (an integer)"),
    "batch_size": Rule("batch size", 2, MAX_BATCH, "int", rule=f"at least 2 and at most {MAX_BATCH} (an integer)",
                       hint="a contrastive loss needs negatives"),
    "lr": Rule("learning rate", 1e-6, 10.0, rule="> 0: a number between 1e-06 and 10", hint="try 1e-3"),
    "weight_decay": Rule("weight decay", 0.0, 10.0, rule=">= 0: a number between 0 and 10", hint="try 1e-6"),
    "temperature": Rule("temperature", 1e-3, 100.0,
                        rule="> 0: a number between 0.001 and 100, or null for the loss's own default",
                        hint="typical values are 0.05 to 1.0"),
    "seed": Rule("seed", 0, MAX_SEED, "int", rule=f"an integer between 0 and {MAX_SEED} (2**32 - 1)"),
    "views": Rule("views", 2, 8, "int", rule="between 2 and 8 (an integer)"),
    "aug_strength": Rule("augmentation strength", 0.0, 5.0, hint="0 = identical views, 1 = the default strength"),
    "noise_eps": Rule("noise eps", 0.0, 100.0, rule=">= 0: a number in [0, 100]", hint="0 = off"),
    "hidden_dim": Rule("hidden dim", 2, 4096, "int"),
    "rep_dim": Rule("rep dim", 2, 4096, "int"),
    "proj_dim": Rule("proj dim", 2, 4096, "int"),
    "n_classes": Rule("number of classes", 2, 100, "int"),
    "data_dim": Rule("data dimension", 2, 1024, "int"),
    "n_samples": Rule("number of samples", 100, 200_000, "int"),
    "imbalance_ratio": Rule("imbalance ratio", 1.0, 1000.0, hint="1 = balanced"),
    "few_samples": Rule("few samples", 0, 200_000, "int", rule="0 (all) or an integer in [2, 200000]"),
    "n_shapes": Rule("number of shapes", 2, 8, "int", hint="circle, square, triangle, cross, ring, diamond, star, "
                     "hexagon: the first n"),
    "aug_crop": Rule("crop", 0.0, 0.92, rule="in [0, 0.92]",
                     hint="a view keeps between 1 - crop and all of the image's area; 0 = off"),
    "aug_flip": Rule("flip probability", 0.0, 1.0, hint="horizontal flip; 0 = off"),
    "aug_rotate": Rule("rotation", 0.0, 180.0, rule="in [0, 180] degrees", hint="a view turns by up to this much; 0 = off"),
    "aug_colour": Rule("colour jitter probability", 0.0, 1.0,
                       hint="brightness, contrast, saturation and hue, scaled by the augmentation strength; 0 = off"),
    "aug_grayscale": Rule("grayscale probability", 0.0, 1.0, hint="0 = off"),
    "aug_channels": Rule("channel permutation probability", 0.0, 1.0, hint="a random order of R, G, B; 0 = off"),
    "aug_blur": Rule("blur probability", 0.0, 1.0, hint="Gaussian blur of sigma 0.3 to 1 pixel; 0 = off"),
    "distill_weight": Rule("distill weight", 0.0, 1000.0, rule="in [0, 1000]"),
    "task_weight": Rule("task weight", 0.0, 1000.0, rule="in [0, 1000]"),
    "label_fraction": Rule("label fraction", 0.0, 1.0, lo_open=True, rule="in (0, 1]", hint="0.1 = 10% of the labels"),
    "accum_steps": Rule("accumulation steps", 1, 256, "int"),
    "threads": Rule("threads", 0, 4096, "int", hint="0 = fitted by the runner"),
    "checkpoint_seconds": Rule("checkpoint seconds", 0.0, 86400.0, rule="in [0, 86400]",
                               hint="a crash loses at most about this much training, 30 is the default"),
}
TEXTS = ("dataset", "encoder", "loss", "name", "group", "teacher", "distill", "device", "snapshot_every", "noise_scale")
DEVICES = ("auto", "cpu", "cuda", "mps")

# The options each loss takes, with their rules and defaults: the registry's specs
# (trainers.registry.LOSSES[name].options). A loss not listed takes no options.
LOSS_OPTIONS: dict[str, Any] = registry.loss_options()


# Training-split class sizes of the bundled classification sets: fixed by scikit-learn and by
# trainers.data's held-out split (tests/trainers/test_config.py checks them against data.load).
BUNDLED_TRAIN_CLASS_SIZES: dict[str, tuple[int, ...]] = {
    "digits": (142, 146, 142, 146, 145, 146, 145, 143, 139, 144),
    "wine": (47, 57, 38),
    "breast_cancer": (170, 286),
    "iris": (40, 40, 40),
}
TEST_FRACTION = 0.2  # = trainers.data.TEST_FRACTION (config stays free of numpy at import)


def check_device_available(device: str) -> None:
    """Refuse "cuda" / "mps" when this machine has none (imports torch only for those two)."""
    if device not in ("cuda", "mps"):
        return
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' is not available on this machine (torch.cuda.is_available() is False): "
                          "use device 'auto' (CUDA, then MPS, then CPU) or 'cpu'")
    mps = getattr(torch.backends, "mps", None)
    if device == "mps" and not (mps is not None and mps.is_available()):
        raise ConfigError("device 'mps' is not available on this machine (torch.backends.mps.is_available() is "
                          "False): use device 'auto' (CUDA, then MPS, then CPU) or 'cpu'")


@dataclass(frozen=True)
class RunConfig:
    # --- what to train ---------------------------------------------------------------
    dataset: str = "digits"  # a name from trainers.registry.DATASETS
    encoder: str = "mlp"  # a name from trainers.registry.ENCODERS
    loss: str = "nt_xent"  # a name from trainers.registry.LOSSES
    name: str = ""  # free label shown in the UI; empty -> "<loss> on <dataset>"
    group: str = ""  # runs launched together by a sweep preset share a group id
    # --- optimisation ----------------------------------------------------------------
    epochs: int = 50  # full passes over the training split
    batch_size: int = 256  # samples per batch (each yields `views` rows); last partial batch dropped
    lr: float = 1e-3  # Adam learning rate
    weight_decay: float = 1e-6  # Adam weight decay
    temperature: float | None = None  # None -> the loss's own default (see the registry)
    seed: int = 0  # seeds model init, batches and augmentations
    # --- views and augmentation --------------------------------------------------------
    views: int = 2  # views per sample (multi-view losses use 2..8; pairwise losses use 2)
    aug_strength: float = 1.0  # 0 = identical views; 1 = the default augmentation strength
    noise_eps: float = 0.0  # XSimGCL-style orthant noise of L2 norm eps on embeddings (0 = off)
    noise_scale: str = "absolute"  # "absolute": noise norm eps; "relative": eps x ||z|| per sample (registry.NOISE_SCALES)
    # --- model -----------------------------------------------------------------------
    hidden_dim: int = 256  # width of hidden layers
    rep_dim: int = 128  # encoder output (the representation)
    proj_dim: int = 64  # projector output (the embedding the loss sees)
    # --- dataset options -------------------------------------------------------------
    n_classes: int = 10  # Gaussian mixture: number of classes
    data_dim: int = 32  # Gaussian mixture: ambient dimension
    n_samples: int = 3000  # generated sets: number of samples (before the long-tail cut)
    imbalance_ratio: float = 1.0  # largest / smallest class size (1 = balanced), exponential profile
    few_samples: int = 0  # regression sets: keep only this many training samples (0 = all)
    n_shapes: int = 6  # shapes world: number of shape classes (the first n of trainers.data.SHAPES)
    # --- augmentations of RGB images (trainers/augment.py; other kinds ignore them) ------------
    aug_crop: float = 0.6  # random resized crop: a view keeps an area fraction in [1 - aug_crop, 1] (0 = off)
    aug_flip: float = 0.5  # probability of a horizontal flip
    aug_rotate: float = 0.0  # rotation by up to this many degrees either way (0 = off)
    aug_colour: float = 0.8  # probability of colour jitter (its magnitude scales with aug_strength)
    aug_grayscale: float = 0.2  # probability of grayscale
    aug_channels: float = 0.0  # probability of a random permutation of the colour channels
    aug_blur: float = 0.0  # probability of a Gaussian blur
    # --- loss options ----------------------------------------------------------------
    loss_options: dict[str, Any] = field(default_factory=dict)  # extra keyword arguments for the loss
    # --- distillation and scarce labels (trainers/distill.py) ------------------------------
    teacher: str = ""  # run id of a FINISHED run in the same store to distil from ("" = none; "@k" = run k of a preset group)
    distill: str = ""  # distillation loss: "" (none), kd, feature, feature_cosine, similarity, crd, rkd
    distill_weight: float = 1.0  # weight of the distillation term: total = task_weight * task + distill_weight * distill
    task_weight: float = 1.0  # weight of the task loss (the `loss` field) when distilling; 0 = distillation only
    label_fraction: float = 1.0  # fraction of training samples whose labels the task loss may use (stratified, seeded)
    accum_steps: int = 1  # gradient accumulation: micro-batches per optimiser step (effective batch = accum_steps * batch)
    # --- bookkeeping -----------------------------------------------------------------
    device: str = "auto"  # auto = CUDA, then MPS, then CPU
    snapshot_every: str = "pow2"  # "pow2" = epochs 0,1,2,4,8,... and the last; or an int as text
    threads: int = 0  # torch threads in the worker; 0 = fitted by the runner
    checkpoint_seconds: float = 30.0  # also checkpoint at an epoch's end this long after the last checkpoint (0 = every epoch)

    def __post_init__(self) -> None:
        self._check_types()
        registry.check_name("dataset", self.dataset, registry.DATASETS)
        registry.check_name("encoder", self.encoder, registry.ENCODERS)
        registry.check_name("loss", self.loss, registry.LOSSES)
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {describe(self.device)}")
        if self.noise_scale not in registry.NOISE_SCALES:
            scales = "; ".join(f"{k!r}: noise of norm {v}" for k, v in registry.NOISE_SCALES.items())
            names = " or ".join(repr(k) for k in registry.NOISE_SCALES)
            raise ConfigError(f"noise_scale must be {names} ({scales}), got {describe(self.noise_scale)}")
        if self.snapshot_every != "pow2":
            s = self.snapshot_every
            if not (s.isascii() and s.isdigit() and len(s) <= 4 and 1 <= int(s) <= MAX_EPOCHS):
                raise ConfigError(
                    f"snapshot_every: snapshot schedule must be 'pow2' or an epoch interval between 1 and {MAX_EPOCHS} "
                    f"written as text, such as \"5\", got {describe(s)}"
                )
        if self.few_samples == 1:
            raise ConfigError("few_samples: few samples must be 0 (all) or at least 2, got 1: a batch needs 2 samples")
        kind = registry.DATASETS[self.dataset].kind
        if kind not in registry.ENCODERS[self.encoder].kinds:
            raise ConfigError(
                f"encoder {self.encoder!r} cannot read dataset {self.dataset!r}; use one of "
                f"{', '.join(registry.encoders_for_dataset(self.dataset))}"
            )
        spec = registry.LOSSES[self.loss]
        if spec.needs_task == "regression" and registry.DATASETS[self.dataset].task != "regression":
            raise ConfigError(
                f"loss {self.loss!r} needs a regression dataset (one of "
                f"{', '.join(registry.names_for_task('regression'))}); got {self.dataset!r}"
            )
        if spec.multiview and self.views < 2:
            raise ConfigError("multi-view losses need at least 2 views")
        if not spec.multiview and self.views != 2 and spec.needs_views:
            raise ConfigError(
                f"loss {self.loss!r} uses exactly 2 views (got {self.views}); "
                "choose mv_infonce, mv_dhel or pairwise_nt_xent for more views"
            )
        self._check_loss_options(spec)
        self._check_distillation()
        self._check_class_sizes()

    def _check_types(self) -> None:
        """Every field has its type and a finite value in its range (see the rules above);
        numbers given as integers for number fields are stored as floats."""
        for f in TEXTS:
            v = getattr(self, f)
            if not isinstance(v, str):
                what = {"teacher": "text (a run id, '@k' for run k of a preset group, or \"\" for none)",
                        "name": "text (\"\" for the default name)", "group": "text (\"\" for none)",
                        "distill": "text (\"\" for none)",
                        "noise_scale": "text ('absolute' or 'relative')"}.get(f, "text")
                fix = f': write "{v}" in quotes' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
                raise ConfigError(f"{f} must be {what}, got {describe(v)}{fix}")
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            rule = NUMBERS.get(f.name)
            if rule is None and f.name not in TEXTS and f.name != "loss_options" and f.type in ("int", "float", int, float):
                # a field without a rule of its own: its type, and finite
                rule = Rule(f.name.replace("_", " "), -math.inf, math.inf, "int" if f.type in ("int", int) else "float",
                            rule="an integer" if f.type in ("int", int) else "a finite number")
            if rule is None or (f.name == "temperature" and v is None):
                continue
            where = f.name if rule.label == f.name else f"{f.name}: {rule.label}"
            object.__setattr__(self, f.name, check_value(where, v, rule))
        o = self.loss_options
        if not isinstance(o, dict):
            raise ConfigError(f"loss_options must be an object of option names and values, such as {{\"window\": 0.5}}, "
                              f"got {describe(o)}")
        for k in o:
            if not isinstance(k, str) or not k:
                raise ConfigError(f"loss option names must be non-empty text, got {describe(k)}")

    def _check_loss_options(self, spec: registry.LossSpec) -> None:
        """Option names and values against the loss's spec, then the loss's own rules."""
        known = spec.options
        bad = sorted(set(self.loss_options) - set(known))
        if bad:
            names = ", ".join(bad)
            if known:
                raise ConfigError(f"unknown {self.loss} option(s) {names}; known: {', '.join(sorted(known))}")
            takes = ", ".join(f"{n} ({', '.join(sorted(o))})" for n, o in LOSS_OPTIONS.items())
            raise ConfigError(f"unknown {self.loss} option(s) {names}: {self.loss} takes no options "
                              f"(losses with options: {takes})")
        clean = {k: check_value(f"{self.loss} option {k}", v, known[k]) for k, v in self.loss_options.items()}
        object.__setattr__(self, "loss_options", clean)
        if self.effective_temperature < spec.min_temperature:
            raise ConfigError(
                f"temperature must be at least {spec.min_temperature} for {self.loss}, got {self.effective_temperature:g}: "
                "it forms exp(s / tau) in linear space, which overflows float32 below about 0.0113"
            )
        if spec.check is not None:
            spec.check(self)

    def _check_class_sizes(self) -> None:
        """Classification sets: every class keeps a training sample, and the long-tail profile
        (class c keeps n_max * ratio^(-c/(C-1)) samples, trainers.data) can reach its smallest class."""
        if registry.DATASETS[self.dataset].task != "classification":
            return
        ds, ratio = self.dataset, self.imbalance_ratio
        if ds in BUNDLED_TRAIN_CLASS_SIZES:
            sizes = list(BUNDLED_TRAIN_CLASS_SIZES[ds])
            where = ds
        elif ds == "gmm_sphere":
            n, c = self.n_samples, self.n_classes
            full = [n // c + (1 if i < n % c else 0) for i in range(c)]  # labels 0, 1, ..., c-1, 0, 1, ...
            sizes = [k - max(1, int(round(k * TEST_FRACTION))) for k in full]  # a fifth of each class is held out
            where = f"gmm_sphere with {c} classes and {n} samples"
            if min(sizes) < 1:
                raise ConfigError(
                    f"{where} leaves {min(sizes)} training samples in its smallest class (a fifth of each class, at "
                    f"least one sample, is held out for testing): use n_samples of at least {2 * c} or fewer classes"
                )
        elif registry.DATASETS[ds].class_sizes and ratio > 1:  # generated: count them (numpy, only for this case)
            sizes = registry.resolve(registry.DATASETS[ds].class_sizes)(dataclasses.replace(self, imbalance_ratio=1.0))
            where = f"{ds} with {self.n_samples} samples"
        else:
            return
        n_max = max(sizes)
        if ratio > 1 and n_max / ratio < 1:
            msg = (f"imbalance_ratio {ratio:g} asks for a smallest class of {n_max} / {ratio:g} = {n_max / ratio:.3g} "
                   f"training samples ({where} has {n_max} in its largest training class): use an imbalance ratio of at "
                   f"most {n_max}")
            if ds == "gmm_sphere":
                k = next(k for k in range(2, 10**6) if k - max(1, int(round(k * TEST_FRACTION))) >= ratio)
                need = (k - 1) * self.n_classes + 1
                msg += f", or n_samples of at least {need}" if need <= NUMBERS["n_samples"].hi else ", or fewer classes"
            raise ConfigError(msg)

    def _check_distillation(self) -> None:
        """The distillation / scarce-label / accumulation fields (see trainers/distill.py)."""
        task = registry.DATASETS[self.dataset].task
        if self.distill not in DISTILL_KINDS:
            raise ConfigError(
                f"unknown distillation loss {self.distill!r}; known: {', '.join(repr(k) for k in DISTILL_KINDS)} "
                "('' = no distillation)"
            )
        if self.teacher.startswith("@") and not (self.teacher[1:].isascii() and self.teacher[1:].isdigit()):
            raise ConfigError(f"teacher {self.teacher!r}: a group reference is '@' and a run number, e.g. '@0'")
        if self.distill and not self.teacher:
            raise ConfigError(f"distillation {self.distill!r} needs a teacher: the id of a finished run in this store")
        if self.teacher and not self.distill:
            raise ConfigError(
                f"a teacher is set ({self.teacher!r}) but no distillation loss: choose one of "
                f"{', '.join(k for k in DISTILL_KINDS if k)}"
            )
        if self.distill and registry.DISTILLERS[self.distill].needs_task not in ("", task):
            raise ConfigError(f"{self.distill} distils class probabilities: it needs a classification dataset")
        if registry.LOSSES[self.loss].needs_task == "classification" and task != "classification":
            raise ConfigError(f"{self.loss} needs a classification dataset")
        if self.distill and self.distill_weight == 0 and self.task_weight == 0:
            raise ConfigError("task weight and distillation weight are both 0: nothing to train")

    # -- helpers ---------------------------------------------------------------------
    @property
    def effective_temperature(self) -> float:
        return self.temperature if self.temperature is not None else registry.LOSSES[self.loss].temperature

    @property
    def display_name(self) -> str:
        return self.name or f"{self.loss} on {self.dataset}"

    def snapshot_epochs(self) -> list[int]:
        """Epochs (0 = before training) at which the worker takes a snapshot."""
        if self.snapshot_every == "pow2":
            eps = [0]
            e = 1
            while e < self.epochs:
                eps.append(e)
                e *= 2
        else:
            k = int(self.snapshot_every)
            eps = list(range(0, self.epochs, k))
        if self.epochs not in eps:
            eps.append(self.epochs)
        return eps

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: Any) -> RunConfig:
        """A config from user input (parsed JSON, CLI flags, the Train form, a stored run).

        Any value either gives a valid config or raises :class:`ConfigError` that names the
        field and says what to write instead. Also refuses a device this machine lacks (see
        :func:`check_device_available`)."""
        if not isinstance(d, dict):
            raise ConfigError(
                "a configuration must be a JSON object of fields, such as {\"loss\": \"dcl\", \"epochs\": 20}, "
                f"got {describe(d)}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted((repr(k) if isinstance(k, str) else describe(k)) for k in d if k not in known)
        if unknown:
            raise ConfigError(
                f"unknown configuration field(s): {', '.join(unknown)}; known fields: {', '.join(sorted(known))}"
            )
        cfg = cls(**d)
        check_device_available(cfg.device)
        return cfg

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"configuration is not valid JSON: {e}") from None
        if not isinstance(d, dict):
            raise ConfigError("configuration JSON must be an object")
        return cls.from_dict(d)

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)
