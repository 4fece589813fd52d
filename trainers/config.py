"""Run configuration: a frozen dataclass, saved as JSON, validated once.

A run is a :class:`RunConfig` plus everything its worker wrote to the store.
Validation happens in ``__post_init__`` so that the Train page, the CLI and the
worker refuse the same bad configurations with the same message.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

MAX_EPOCHS = 2000  # a sane bound: more is almost certainly a typo on this kind of data
MAX_BATCH = 8192
DISTILL_KINDS = ("", "kd", "feature", "feature_cosine", "similarity", "crd", "rkd")  # see trainers/distill.py


class ConfigError(ValueError):
    """A configuration that cannot run; the message says what to change."""


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

    def __post_init__(self) -> None:
        from trainers import registry  # local import: registry imports heavy modules lazily

        registry.check_name("dataset", self.dataset, registry.DATASETS)
        registry.check_name("encoder", self.encoder, registry.ENCODERS)
        registry.check_name("loss", self.loss, registry.LOSSES)
        if self.temperature is not None and not self.temperature > 0:
            raise ConfigError(
                f"temperature must be > 0 (got {self.temperature}); typical values are 0.05 to 1.0"
            )
        if not isinstance(self.batch_size, int) or self.batch_size < 2:
            raise ConfigError(
                f"batch size must be at least 2 (got {self.batch_size}): a contrastive loss needs negatives"
            )
        if self.batch_size > MAX_BATCH:
            raise ConfigError(f"batch size must be at most {MAX_BATCH} (got {self.batch_size})")
        if not self.lr > 0:
            raise ConfigError(f"learning rate must be > 0 (got {self.lr}); try 1e-3")
        if self.weight_decay < 0:
            raise ConfigError(f"weight decay must be >= 0 (got {self.weight_decay})")
        if not isinstance(self.epochs, int) or not 1 <= self.epochs <= MAX_EPOCHS:
            raise ConfigError(f"epochs must be between 1 and {MAX_EPOCHS} (got {self.epochs})")
        if not 2 <= self.views <= 8:
            raise ConfigError(f"views must be between 2 and 8 (got {self.views})")
        if self.aug_strength < 0 or self.aug_strength > 5:
            raise ConfigError(f"augmentation strength must be in [0, 5] (got {self.aug_strength})")
        if self.noise_eps < 0:
            raise ConfigError(f"noise eps must be >= 0 (got {self.noise_eps})")
        for f in ("hidden_dim", "rep_dim", "proj_dim"):
            v = getattr(self, f)
            if not isinstance(v, int) or not 2 <= v <= 4096:
                raise ConfigError(f"{f.replace('_', ' ')} must be an integer in [2, 4096] (got {v})")
        if not 2 <= self.n_classes <= 100:
            raise ConfigError(f"number of classes must be in [2, 100] (got {self.n_classes})")
        if not 2 <= self.data_dim <= 1024:
            raise ConfigError(f"data dimension must be in [2, 1024] (got {self.data_dim})")
        if not 100 <= self.n_samples <= 200_000:
            raise ConfigError(f"number of samples must be in [100, 200000] (got {self.n_samples})")
        if not 1.0 <= self.imbalance_ratio <= 1000:
            raise ConfigError(f"imbalance ratio must be in [1, 1000] (got {self.imbalance_ratio})")
        if self.few_samples < 0:
            raise ConfigError(f"few samples must be >= 0 (got {self.few_samples})")
        if self.device not in ("auto", "cpu", "cuda", "mps"):
            raise ConfigError(f"device must be one of auto, cpu, cuda, mps (got {self.device!r})")
        if self.snapshot_every != "pow2":
            try:
                ok = int(self.snapshot_every) >= 1
            except ValueError:
                ok = False
            if not ok:
                raise ConfigError(
                    f"snapshot schedule must be 'pow2' or a positive integer (got {self.snapshot_every!r})"
                )
        if self.threads < 0:
            raise ConfigError(f"threads must be >= 0 (got {self.threads})")
        kind = registry.DATASETS[self.dataset].kind
        if kind not in registry.ENCODERS[self.encoder].kinds:
            raise ConfigError(
                f"encoder {self.encoder!r} cannot read dataset {self.dataset!r}; use one of "
                f"{', '.join(registry.encoders_for_dataset(self.dataset))}"
            )
        spec = registry.LOSSES[self.loss]
        if spec.task == "regression" and registry.DATASETS[self.dataset].task != "regression":
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
        try:
            json.dumps(self.loss_options)
        except TypeError as e:
            raise ConfigError(f"loss options must be JSON-serialisable: {e}") from None
        self._check_distillation(registry)

    def _check_distillation(self, registry: Any) -> None:
        """The distillation / scarce-label / accumulation fields (see trainers/distill.py)."""
        task = registry.DATASETS[self.dataset].task
        if self.distill not in DISTILL_KINDS:
            raise ConfigError(
                f"unknown distillation loss {self.distill!r}; known: {', '.join(repr(k) for k in DISTILL_KINDS)} "
                "('' = no distillation)"
            )
        if self.teacher and not isinstance(self.teacher, str):
            raise ConfigError(f"teacher must be a run id (text), got {self.teacher!r}")
        if self.teacher.startswith("@") and not self.teacher[1:].isdigit():
            raise ConfigError(f"teacher {self.teacher!r}: a group reference is '@' and a run number, e.g. '@0'")
        if self.distill and not self.teacher:
            raise ConfigError(f"distillation {self.distill!r} needs a teacher: the id of a finished run in this store")
        if self.teacher and not self.distill:
            raise ConfigError(
                f"a teacher is set ({self.teacher!r}) but no distillation loss: choose one of "
                f"{', '.join(k for k in DISTILL_KINDS if k)}"
            )
        if self.distill == "kd" and task != "classification":
            raise ConfigError("kd distils class probabilities: it needs a classification dataset")
        if self.loss == "cross_entropy" and task != "classification":
            raise ConfigError("cross_entropy needs a classification dataset")
        if self.loss == "msd" and self.teacher:
            raise ConfigError("msd's teacher is an EMA copy of the student itself: leave the teacher field empty")
        for f in ("distill_weight", "task_weight"):
            v = getattr(self, f)
            if not (isinstance(v, (int, float)) and 0 <= v <= 1000):
                raise ConfigError(f"{f.replace('_', ' ')} must be in [0, 1000] (got {v})")
        if self.distill and self.distill_weight == 0 and self.task_weight == 0:
            raise ConfigError("task weight and distillation weight are both 0: nothing to train")
        if not (isinstance(self.label_fraction, (int, float)) and 0 < self.label_fraction <= 1):
            raise ConfigError(f"label fraction must be in (0, 1] (got {self.label_fraction}); 0.1 = 10% of the labels")
        if not isinstance(self.accum_steps, int) or not 1 <= self.accum_steps <= 256:
            raise ConfigError(f"accumulation steps must be an integer in [1, 256] (got {self.accum_steps})")
        if self.loss == "msd":
            known = {"centering", "sharpening", "out_dim", "teacher_temp", "student_temp", "center_momentum", "momentum_base"}
            o = self.loss_options
            bad = sorted(set(o) - known)
            if bad:
                raise ConfigError(f"unknown msd option(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
            for k in ("centering", "sharpening"):
                if k in o and not isinstance(o[k], bool):
                    raise ConfigError(f"msd option {k} must be true or false (got {o[k]!r})")
            if "out_dim" in o and not (isinstance(o["out_dim"], int) and 2 <= o["out_dim"] <= 65536):
                raise ConfigError(f"msd option out_dim must be an integer in [2, 65536] (got {o['out_dim']!r})")
            for k in ("teacher_temp", "student_temp"):
                if k in o and not (isinstance(o[k], (int, float)) and o[k] > 0):
                    raise ConfigError(f"msd option {k} must be > 0 (got {o[k]!r})")
            for k in ("center_momentum", "momentum_base"):
                if k in o and not (isinstance(o[k], (int, float)) and 0 <= o[k] <= 1):
                    raise ConfigError(f"msd option {k} must be in [0, 1] (got {o[k]!r})")

    # -- helpers ---------------------------------------------------------------------
    @property
    def effective_temperature(self) -> float:
        from trainers import registry

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
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(
                f"unknown configuration field(s): {', '.join(unknown)}; known fields: {', '.join(sorted(known))}"
            )
        return cls(**d)

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
