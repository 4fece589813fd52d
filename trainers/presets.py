"""Presets: named configurations (a sweep preset launches several runs as one group).

Used by the Train page and by ``python -m trainers`` alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trainers import registry
from trainers.config import RunConfig


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
        "x ~ N(0, I_16), augmentation noise on the last 8 dims, a two-layer linear network: by epoch 40 the "
        "embedding spectrum has 8 eigenvalues near 0.1 and 8 below 1e-5, a cliff (Dimensional Collapse page); "
        "the representation keeps more.",
        [{"dataset": "jing_toy", "encoder": "linear", "loss": "nt_xent", "epochs": 40, "rep_dim": 16, "proj_dim": 16}],
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

# --- the shapes world: 20x20 RGB shapes with nuisance factors, probed for what a representation keeps
_SHAPES = {"dataset": "shapes", "encoder": "cnn_rgb", "loss": "nt_xent", "temperature": 0.2, "epochs": 150,
           "batch_size": 256, "n_samples": 3000}
PRESETS += [
    Preset(
        "Shapes · crop + colour vs crop only",
        "NT-Xent with the small RGB CNN on the shapes world (6 shapes, 6 hues, random position, scale, rotation, "
        "background and noise; about 3 minutes a run on one CPU core), with SimCLR's crop + colour augmentation and "
        "with crops alone. Compare the shape kNN accuracy and the factor probes (colour, position, scale, background) "
        "of the representation and of the projector output: without colour distortion the network tells images "
        "apart by their colours, and its representation keeps the colour; with it, the shape is read better, and the "
        "representation keeps colour that the projector output discards.",
        [
            {**_SHAPES, "aug_colour": 0.8, "aug_grayscale": 0.2, "name": "Shapes · crop + colour"},
            {**_SHAPES, "aug_colour": 0.0, "aug_grayscale": 0.0, "name": "Shapes · crop only"},
        ],
        claim="without colour distortion the network solves the task by colour; the representation keeps colour "
              "that the projector output discards (Chen et al. 2020)",
    ),
]

# --- distillation (trainers/distill.py). A teacher reference "@k" means "run k of this group": the
# Train page and the CLI submit a group with runner.submit_group, which replaces it by that run's id,
# and the scheduler starts a student only once its teacher has finished (a teacher that fails or is
# cancelled fails its students, with the reason). Every run of these presets sets teacher and distill
# explicitly, so a teacher chosen in the Train form never leaks into them.
_STUDENT = {"dataset": "digits", "loss": "cross_entropy", "epochs": 30, "batch_size": 128, "hidden_dim": 32, "rep_dim": 16,
            "proj_dim": 16, "label_fraction": 0.1}
_MSD = {"dataset": "digits", "loss": "msd", "epochs": 200, "batch_size": 128, "hidden_dim": 128, "rep_dim": 64, "proj_dim": 32,
        "teacher": "", "distill": "", "label_fraction": 1.0}
PRESETS += [
    Preset(
        "Distillation: KD vs alone with 10% labels",
        "Run 1 trains a wide teacher (MLP 512-512-128) with NT-Xent, without labels. When it has finished, three small "
        "students (MLP 32-32-16, cross-entropy on 10% of the labels) start: one alone, one with KD, one with similarity "
        "distillation from that teacher. On the Distillation page: CKA to the teacher rises over epochs, and the distilled "
        "students beat the one trained alone on the probe fitted on the labelled 10%.",
        [
            {"dataset": "digits", "loss": "nt_xent", "epochs": 30, "batch_size": 256, "hidden_dim": 512, "rep_dim": 128,
             "proj_dim": 64, "teacher": "", "distill": "", "label_fraction": 1.0, "name": "Teacher · wide NT-Xent"},
            {**_STUDENT, "teacher": "", "distill": "", "name": "Student alone · 10% labels"},
            {**_STUDENT, "teacher": "@0", "distill": "kd", "name": "Student KD · 10% labels"},
            {**_STUDENT, "teacher": "@0", "distill": "similarity", "name": "Student similarity · 10% labels"},
        ],
        claim="a small student distilled with KD or similarity distillation beats the same student trained alone when "
              "labelled data is scarce",
    ),
    Preset(
        "MSD: centring / sharpening / both",
        "Momentum self-distillation (EMA teacher, DINO-style head with 256 outputs) three times: centring only, "
        "sharpening only, both. On the Distillation page: centring alone drives the teacher's outputs to uniform "
        "(entropy log K), sharpening alone to one output for every input (entropy 0); with both they stay confident "
        "and diverse.",
        [
            {**_MSD, "loss_options": {"centering": True, "sharpening": False}, "name": "MSD · centring only"},
            {**_MSD, "loss_options": {"centering": False, "sharpening": True}, "name": "MSD · sharpening only"},
            {**_MSD, "loss_options": {"centering": True, "sharpening": True}, "name": "MSD · both"},
        ],
        claim="momentum self-distillation with centring only or sharpening only collapses; with both it does not",
    ),
]


# --- presets that reproduce METHODS.md's claims ------------------------------------------
# Each is a sweep (one group); bench/claims_methods.py runs the same configs over 3 seeds and
# docs/claims.md reports what it measured. Every config is complete (no field is inherited
# from another run of the sweep).

CLAIM_DCL = ("the gain over NT-Xent is largest at small batch (32-128) and DCL is flatter across "
             "temperatures.")
CLAIM_MV = ("with more views (2 -> 4 -> 6) MV-DHEL gains accuracy and keeps a fuller spectrum (higher "
            "effective rank) than the pairwise baseline.")
CLAIM_ISOG = ("on class-imbalanced data, samples of frequent classes end with LARGER tau_i than samples "
              "of rare classes; gains over a single global tau grow with imbalance.")
CLAIM_SUPREMIX = ("SupReMix and RnC give label-ordered embeddings (higher rank correlation between embedding "
                  "distance and label distance, lower kNN / linear-probe MAE) than SupCon on binned labels "
                  "and than L1 regression, most clearly with few samples.")
CLAIM_NOISE = "eps tunes uniformity smoothly; downstream quality peaks at a moderate eps."

_LOSS_LABEL = {"nt_xent": "NT-Xent", "dcl": "DCL", "pairwise_nt_xent": "pairwise NT-Xent", "mv_dhel": "MV-DHEL",
               "isogclr": "iSogCLR", "sogclr": "SogCLR", "supremix": "SupReMix", "rnc": "RnC",
               "supcon_binned": "SupCon (binned)", "l1": "L1"}
_DIGITS = {"dataset": "digits", "encoder": "mlp"}

PRESETS += [
    Preset(
        "Claim · DCL vs NT-Xent across batch sizes",
        "Digits, 20 epochs, the same temperature (0.1) for both losses, batch 32 / 64 / 128 / 256: compare "
        "kNN and linear accuracy of each DCL run with the NT-Xent run of the same batch size on Compare.",
        [{**_DIGITS, "loss": loss, "batch_size": b, "temperature": 0.1, "epochs": 20,
          "name": f"{_LOSS_LABEL[loss]} · B={b}"} for b in (32, 64, 128, 256) for loss in ("nt_xent", "dcl")],
        claim=CLAIM_DCL,
    ),
    Preset(
        "Claim · DCL vs NT-Xent across temperatures",
        "Digits, 20 epochs, batch 64, temperature 0.05 / 0.1 / 0.2 / 0.5: DCL's accuracy should vary less "
        "across temperatures than NT-Xent's.",
        [{**_DIGITS, "loss": loss, "batch_size": 64, "temperature": t, "epochs": 20,
          "name": f"{_LOSS_LABEL[loss]} · tau={t}"} for t in (0.05, 0.1, 0.2, 0.5) for loss in ("nt_xent", "dcl")],
        claim=CLAIM_DCL,
    ),
    Preset(
        "Claim · MV-DHEL vs pairwise across 2/4/6 views",
        "Digits, 20 epochs, batch 128, temperature 0.5: MV-DHEL and NT-Xent averaged over view pairs with "
        "2, 4 and 6 views; compare accuracy and the embedding spectra (effective rank) on Compare.",
        [{**_DIGITS, "loss": loss, "views": v, "batch_size": 128, "temperature": 0.5, "epochs": 20,
          "name": f"{_LOSS_LABEL[loss]} · {v} views"} for v in (2, 4, 6) for loss in ("pairwise_nt_xent", "mv_dhel")],
        claim=CLAIM_MV,
    ),
    Preset(
        "Claim · iSogCLR on long-tailed data",
        "Long-tailed digits (imbalance 1, 10, 100 on the training split; the test split stays balanced), "
        "batch 64, 100 epochs: iSogCLR (a learned tau per sample, from 0.5) against SogCLR (tau fixed at "
        "0.5). On the Temperature page, tau_i by class sorted by frequency: frequent classes should end "
        "with larger tau_i.",
        [{**_DIGITS, "loss": loss, "imbalance_ratio": r, "batch_size": 64, "temperature": 0.5, "epochs": 100,
          "name": f"{_LOSS_LABEL[loss]} · imbalance {r:g}"} for r in (1.0, 10.0, 100.0) for loss in ("isogclr", "sogclr")],
        claim=CLAIM_ISOG,
    ),
    Preset(
        "Claim · SupReMix vs peers with few samples",
        "Rotated digits (target: the angle), 50 epochs, batch 64, with 200 training samples and with all "
        "(1,437): SupReMix (tau 0.1, the image default), RnC, SupCon on 10 target bins and L1 regression. "
        "Compare the rank correlation and the kNN / linear MAE on the Ordinality page.",
        [{"dataset": "rotated_digits", "encoder": "mlp", "loss": loss, "few_samples": k, "batch_size": 64,
          "temperature": {"supremix": 0.1, "rnc": 2.0, "supcon_binned": 0.1, "l1": 1.0}[loss], "epochs": 50,
          "name": f"{_LOSS_LABEL[loss]} · {k or 'all'} samples"}
         for k in (200, 0) for loss in ("supremix", "rnc", "supcon_binned", "l1")],
        claim=CLAIM_SUPREMIX,
    ),
    Preset(
        "Claim · noise views eps sweep",
        "Digits, NT-Xent (tau 0.5), batch 256, 20 epochs, orthant noise of norm eps on the embeddings "
        "(0, 0.05, 0.1, 0.2, 0.5, 1.0): uniformity should move smoothly with eps and accuracy peak at a "
        "moderate eps.",
        [{**_DIGITS, "loss": "nt_xent", "noise_eps": e, "batch_size": 256, "temperature": 0.5, "epochs": 20,
          "name": f"NT-Xent · eps={e:g}"} for e in (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)],
        claim=CLAIM_NOISE,
    ),
    Preset(
        "Claim · noise-only views eps sweep",
        "As XSimGCL: no data augmentation (strength 0), the two views differ only by the orthant noise. "
        "Digits, NT-Xent (tau 0.5), batch 256, 20 epochs, eps 0 ... 5 (the embeddings' norm is about 8, "
        "and eps is absolute).",
        [{**_DIGITS, "loss": "nt_xent", "noise_eps": e, "aug_strength": 0.0, "batch_size": 256, "temperature": 0.5,
          "epochs": 20, "name": f"NT-Xent, noise only · eps={e:g}"} for e in (0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)],
        claim=CLAIM_NOISE,
    ),
]


def varied_fields(preset: Preset) -> list[str]:
    """The fields a sweep preset sets per run: those whose value differs between its runs or
    that only some of its runs set. When the loss varies and not every run sets a temperature,
    each run takes its loss's default temperature, so the temperature varies too. Every other
    field is shared: the form's value applies to every run. Empty for a single-run preset."""
    if not preset.is_sweep:
        return []
    keys: list[str] = []
    for over in preset.configs:
        keys += [k for k in over if k not in keys]
    first = preset.configs[0]
    varied = [k for k in keys if any(k not in over or over[k] != first.get(k) for over in preset.configs)]
    if "loss" in varied and "temperature" not in varied and not all("temperature" in o for o in preset.configs):
        varied.insert(varied.index("loss") + 1, "temperature")
    return varied


def expand(preset: Preset, form_values: Mapping[str, Any], *, group: str = "") -> list[RunConfig]:
    """The runs a preset launches from the Train form's values, in order.

    ``form_values``: a complete set of RunConfig fields (what the form shows). A single-run
    preset launches the form as it is. A sweep launches one run per preset config: the
    preset's value for each of :func:`varied_fields`, the form's value for every other field,
    and ``group`` on all. A teacher reference ``"@k"`` (run k of the group) is kept for
    ``runner.submit_group`` to resolve. Raises ``ConfigError`` (a ``ValueError``) with the
    message of the first run that cannot run.
    """
    if not preset.is_sweep:
        return [RunConfig.from_dict({**form_values, "group": group})]
    varied = varied_fields(preset)
    configs = []
    for i, over in enumerate(preset.configs):
        merged = {**form_values, **{k: v for k, v in over.items() if k in varied}, "group": group}
        if "temperature" in varied and "temperature" not in over:
            merged["temperature"] = registry.LOSSES[merged["loss"]].temperature
        try:
            configs.append(RunConfig.from_dict(merged))
        except ValueError as e:
            raise type(e)(f"run {i + 1} of {len(preset.configs)} ({merged.get('name') or merged['loss']}): {e}") from None
    return configs


def get_preset(name: str) -> Preset:
    for p in PRESETS:
        if p.name == name:
            return p
    raise ValueError(f"unknown preset {name!r}; known: {', '.join(p.name for p in PRESETS)}")


def over_seeds(configs: list[RunConfig], seeds: list[int]) -> list[RunConfig]:
    """The runs of ``configs`` repeated once per seed, seed-major (every config with the first
    seed, then every config with the next). A teacher reference ``"@k"`` points to run k of the
    same seed's block, so each seed's students learn from that seed's teacher. A run's name
    gets " · seed S" when more than one seed is asked for. Seeds must be distinct."""
    if not seeds:
        raise ValueError("no seeds: give at least one, e.g. 0,1,2")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds {seeds}: each seed once")
    n = len(configs)
    out: list[RunConfig] = []
    for b, s in enumerate(seeds):
        for c in configs:
            over: dict[str, Any] = {"seed": int(s)}
            if c.teacher.startswith("@"):
                over["teacher"] = f"@{int(c.teacher[1:]) + b * n}"
            if len(seeds) > 1:
                over["name"] = f"{c.display_name} · seed {s}"
            out.append(RunConfig.from_dict({**c.to_dict(), **over}))
    return out
