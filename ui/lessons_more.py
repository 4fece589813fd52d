"""Lessons 4 to 8 of the Learn section: what each asks and runs, and the sentences that explain
a run with its own numbers (as :mod:`ui.lessons` for lessons 1 to 3).

Lesson 4 runs on the sphere playground (:class:`ui.learn.ToyRun`); lessons 5 to 8 train real
runs through the lab's workers (``Lesson.train``: one RunConfig's fields per run) and read
their snapshots' metrics. Every direction word and every verdict is read off the numbers; the
texts hold only numbers and fixed words (no user text), so pages show them as Markdown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.lesson_numbers import TauClasses, outputs_in_use, positive_share
from trainers.presets import get_preset
from ui.learn import ToyRun
from ui.lessons import TOY, UNIFORMITY_TOL, Lesson, Question, change, compared, direction, num

# --------------------------------------------------------------------------- lesson 4: DCL and batch size

DCL_TAU = 0.5  # both losses; NT-Xent's own default
DCL_SMALL = 8  # points per batch of the small-batch runs (16 rows: 14 negatives per anchor)
DCL_KEYS = ("nt_xent_small", "dcl_small", "nt_xent_all", "dcl_all")  # the order of Lesson.runs

DCL_BATCH = Lesson(
    title="Lesson 4 · Hard negatives and batch size",
    idea=("NT-Xent puts the positive pair in its own denominator. Yeh et al. (2022) show what that costs: the "
          "gradient of every anchor is multiplied by **q = 1 − the positive's share of the denominator**, the "
          "*negative-positive coupling*. With a small batch there are few negatives, the positive (two views that "
          "already agree) takes a large share, q falls below 1 and the anchor learns less, above all from its hardest "
          "negatives. **DCL** (decoupled contrastive learning) removes the positive from the denominator: q = 1 at "
          f"any batch size. Below: NT-Xent and DCL at τ = {DCL_TAU:g}, once with batches of {DCL_SMALL} points and "
          "once with all 200 points in every step, from the same start as lessons 1 and 2."),
    latex=[r"\ell^{\text{NT-Xent}}_a = -\log \frac{e^{s_{ap}/\tau}}{e^{s_{ap}/\tau} + \sum_{k \notin \{a,p\}} "
           r"e^{s_{ak}/\tau}}\qquad \ell^{\text{DCL}}_a = -\frac{s_{ap}}{\tau} + \log \sum_{k \notin \{a, p\}} "
           r"e^{s_{ak}/\tau}",
           r"\nabla \ell^{\text{NT-Xent}}_a = q_a\, \nabla \ell^{\text{DCL}}_a,\qquad q_a = 1 - \frac{e^{s_{ap}/\tau}}"
           r"{\sum_{k \ne a} e^{s_{ak}/\tau}}"],
    question=Question(
        f"Batches of **{DCL_SMALL} points** ({2 * DCL_SMALL} rows: each anchor has one positive and "
        f"{2 * DCL_SMALL - 2} negatives), τ = {DCL_TAU:g}. Which loss spreads the points more evenly by step 300 "
        "(lower final uniformity)?",
        {"dcl": "DCL: the positive no longer damps the gradient",
         "nt_xent": "NT-Xent: the positive in the denominator steadies it",
         "same": "Both about the same"}),
    runs=[(f"NT-Xent · batch {DCL_SMALL}", {**TOY, "loss": "nt_xent", "temperature": DCL_TAU, "batch_size": DCL_SMALL}),
          (f"DCL · batch {DCL_SMALL}", {**TOY, "loss": "dcl", "temperature": DCL_TAU, "batch_size": DCL_SMALL}),
          ("NT-Xent · all 200 points", {**TOY, "loss": "nt_xent", "temperature": DCL_TAU, "batch_size": 0}),
          ("DCL · all 200 points", {**TOY, "loss": "dcl", "temperature": DCL_TAU, "batch_size": 0})],
    try_next=["In the playground, compare NT-Xent and DCL at batch 16 and 32: the gap closes as the batch grows.",
              "Lower the temperature to 0.1 at batch 8: a cold softmax already concentrates on the hardest negatives, "
              "and the two losses come closer.",
              "On the Train page, the preset **Claim · DCL vs NT-Xent across batch sizes** trains both on digits at "
              "batch 32 to 256 (docs/claims.md: on digits the accuracy gap stays within one test image)."],
    paper=("Chun-Hsiao Yeh, Cheng-Yao Hong, Yen-Chi Hsu, Tyng-Luh Liu, Yubei Chen and Yann LeCun, *Decoupled "
           "Contrastive Learning*, ECCV 2022 (arXiv:2110.06848)."),
)


@dataclass(frozen=True)
class Share:
    """The positive's share of NT-Xent's denominator at a run's last step
    (:func:`analysis.lesson_numbers.positive_share` of its final views)."""

    batch: int  # points per batch (the run's, or all points)
    mean: float  # mean share over the anchors
    q10: float  # the coupling multiplier q = 1 - share of the 10% most damped anchors (10th percentile of q)


def share_of(values: np.ndarray, batch: int) -> Share:
    q = 1.0 - np.asarray(values, dtype=float)
    return Share(batch=batch, mean=float(1.0 - q.mean()), q10=float(np.percentile(q, 10)))


def pct(x: float) -> str:
    """A share as a percentage: ``"35%"``, ``"1.2%"``, ``"0.04%"``."""
    p = 100 * x
    return f"{p:.0f}%" if p >= 10 else f"{p:.1f}%" if p >= 0.1 else f"{p:.2f}%"


def dcl_shares(runs: Mapping[str, ToyRun]) -> tuple[Share, Share]:
    """The positive's share at the last step of the NT-Xent runs: with the small batch, and with
    every point in one batch."""
    small, full = runs["nt_xent_small"], runs["nt_xent_all"]
    assert small.views is not None and full.views is not None
    tau = small.temperature or DCL_TAU
    return (share_of(positive_share(small.views[-1], temperature=tau, batch_size=DCL_SMALL), DCL_SMALL),
            share_of(positive_share(full.views[-1], temperature=full.temperature or DCL_TAU), full.n_points))


def dcl_sentences(runs: Mapping[str, ToyRun], small: Share, large: Share) -> list[str]:
    """Lesson 4: each run's uniformity and alignment; the positive's share at the small batch
    and with every point (read from the NT-Xent runs' last views); what DCL changed at each."""
    labels = dict(zip(DCL_KEYS, (label for label, _ in DCL_BATCH.runs), strict=True))
    out = []
    for key in DCL_KEYS:
        r = runs[key]
        out.append(f"**{labels[key]}**: {change('uniformity', r.uniformity[0], r.uniformity[-1], tol=UNIFORMITY_TOL)}; "
                   f"alignment ended at {num(r.alignment[-1])}.")
    rows = 2 * small.batch
    out.append(f"At the last step of NT-Xent with batches of {small.batch} points, the positive takes on average "
               f"{pct(small.mean)} of each anchor's denominator ({rows - 1} terms): its gradient is multiplied by "
               f"q = {num(1 - small.mean)} on average, and by {num(small.q10)} or less for one anchor in ten. With all "
               f"{large.batch} points in the batch the positive's share is {pct(large.mean)} (q = {num(1 - large.mean)}): "
               "the coupling has almost vanished. DCL's multiplier is 1 at both sizes.")
    for size, nt, dc in ((f"batches of {small.batch}", "nt_xent_small", "dcl_small"),
                         (f"all {large.batch} points", "nt_xent_all", "dcl_all")):
        a, b = runs[nt].uniformity[-1], runs[dc].uniformity[-1]
        out.append(f"With {size}, DCL ended at uniformity {num(b)}, {compared(b, a, tol=UNIFORMITY_TOL)} NT-Xent's "
                   f"{num(a)} (a difference of {num(b - a)}).")
    return out


def dcl_observed(runs: Mapping[str, ToyRun]) -> tuple[str, str]:
    """Lesson 4's outcome: which loss ends with the lower uniformity at the small batch."""
    a, b = runs["nt_xent_small"].uniformity[-1], runs["dcl_small"].uniformity[-1]
    d = direction(a, b, tol=UNIFORMITY_TOL)
    key = {"fell": "dcl", "rose": "nt_xent", "stayed": "same"}[d]
    return key, (f"a final uniformity of {num(b)} for DCL and {num(a)} for NT-Xent with batches of {DCL_SMALL} points "
                 f"(lower = more evenly spread)")


# --------------------------------------------------------------------------- lesson 5: iSogCLR on a long tail

ISOG_TAU0 = 0.5
ISOG_IMBALANCE = 10.0
ISOG_TOP = 3  # how many of the most and least frequent classes the sentences compare

ISOGCLR = Lesson(
    title="Lesson 5 · A temperature per sample",
    idea=("One temperature for every sample is a compromise: a small τ separates each sample sharply from its "
          "nearest negatives, which is good for rare content, and harmful when those negatives are samples of the "
          "same kind (frequent content: the negatives are near-duplicates). **iSogCLR** (Qiu et al., 2023) learns "
          "one τ_i **per training sample** by minimising a distributionally robust loss: its own update moves "
          "τ_i against the softmax of that sample's negatives. Below: digits with a **long tail** (the largest "
          f"class {ISOG_IMBALANCE:g}× the smallest, in the training split only), every τ_i starting at "
          f"{ISOG_TAU0:g}; the lesson trains one run on the lab's worker (about 10 s)."),
    latex=[r"g_i = \frac{1}{|N_i|}\sum_{j \in N_i} e^{s_{ij}/\tau_i},\qquad u_i \leftarrow (1-\gamma)\,u_i + \gamma\,g_i",
           r"\tau_i \leftarrow \operatorname{clip}\Big(\tau_i - \eta\, m_i\Big),\quad m_i \leftarrow (1-\beta)\, m_i + "
           r"\beta \Big(\log u_i + \rho - \frac{1}{|N_i|}\sum_{j \in N_i} \frac{e^{s_{ij}/\tau_i}}{u_i}\,"
           r"\frac{s_{ij}}{\tau_i}\Big)"],
    question=Question(
        f"Every training sample starts at τ_i = {ISOG_TAU0:g}. After training on the long tail, which samples end "
        "with the **larger** temperatures?",
        {"frequent": "Samples of the frequent classes",
         "rare": "Samples of the rare classes",
         "same": "No difference between frequent and rare classes"}),
    train=[{"dataset": "digits", "loss": "isogclr", "imbalance_ratio": ISOG_IMBALANCE, "batch_size": 64,
            "temperature": ISOG_TAU0, "epochs": 20, "name": "Learn · iSogCLR on a long tail"}],
    try_next=["Open the run on the **Temperature** page: τ_i by class, the samples with the extreme temperatures, "
              "and τ_i over epochs.",
              "On the Train page, the preset **Claim · iSogCLR on long-tailed data** adds SogCLR (one global τ) and "
              "imbalance 1 and 100 (docs/claims.md: the ordering held at 10× and 100×; no accuracy gain was "
              "measurable on digits).",
              "Train the same run with imbalance 1: with balanced classes, is there still an order?"],
    paper=("Zi-Hao Qiu, Quanqi Hu, Zhuoning Yuan, Denny Zhou, Lijun Zhang and Tianbao Yang, *Not All Semantics are "
           "Created Equal: Contrastive Self-supervised Learning with Automatic Temperature Individualization*, "
           "ICML 2023 (arXiv:2305.11965)."),
)

CORRELATION_TOL = 0.1  # a Spearman correlation smaller than this in magnitude reads as "no order"


def _classes(classes: np.ndarray, counts: np.ndarray) -> str:
    return ", ".join(f"{int(c)} ({int(n)})" for c, n in zip(classes, counts, strict=True))


def isogclr_sentences(t: TauClasses, *, tau0: float, epoch: int) -> list[str]:
    """Lesson 5: the learned temperatures' range; the most and least frequent classes' mean
    τ_i; the Spearman correlation between class size and τ_i."""
    k = min(ISOG_TOP, len(t.classes) // 2)
    hi, lo = float(t.means[:k].mean()), float(t.means[-k:].mean())
    n = int(t.counts.sum())
    out = [f"All {n} training samples started at τ = {tau0:g}; at epoch {epoch} their temperatures range from "
           f"{num(t.low)} to {num(t.high)}."]
    out.append(f"The {k} most frequent classes (class (samples): {_classes(t.classes[:k], t.counts[:k])}) end with a "
               f"mean τ_i of {num(hi)}, {compared(hi, lo, tol=1e-3)} the {k} rarest "
               f"({_classes(t.classes[-k:], t.counts[-k:])}), {num(lo)}.")
    rho = t.correlation
    if math.isnan(rho):
        out.append("Every sample has the same temperature or every class the same size: there is no order to read.")
    else:
        d = direction(0.0, rho, tol=CORRELATION_TOL)
        meaning = {"rose": "the larger a sample's class, the larger its temperature",
                   "fell": "the larger a sample's class, the smaller its temperature",
                   "stayed": "class size barely orders the temperatures"}[d]
        out.append(f"The Spearman correlation between a sample's class size and its τ_i is {rho:+.2f} (±1: a strict "
                   f"order): {meaning}.")
    return out


def isogclr_observed(t: TauClasses) -> tuple[str, str]:
    """Lesson 5's outcome from the Spearman correlation between class size and τ_i."""
    rho = t.correlation
    d = "stayed" if math.isnan(rho) else direction(0.0, rho, tol=CORRELATION_TOL)
    key = {"rose": "frequent", "fell": "rare", "stayed": "same"}[d]
    k = min(ISOG_TOP, len(t.classes) // 2)
    return key, (f"a correlation of {rho:+.2f} between class size and τ_i (mean τ_i {num(float(t.means[:k].mean()))} "
                 f"in the {k} most frequent classes, {num(float(t.means[-k:].mean()))} in the {k} rarest)")


# --------------------------------------------------------------------------- lesson 6: contrastive regression

_REG = {"dataset": "rotated_digits", "encoder": "mlp", "few_samples": 200, "batch_size": 64, "epochs": 50}
REG_LOSSES = ("supcon_binned", "supremix", "rnc", "l1")
REG_LABELS = {"supcon_binned": "SupCon on 10 angle bins", "supremix": "SupReMix", "rnc": "RnC", "l1": "L1 regression"}
REG_TAU = {"supcon_binned": 0.1, "supremix": 0.1, "rnc": 2.0, "l1": 1.0}  # as the preset of the claim
RANK_TOL = 0.02  # rank correlations closer than this read as "about the same"

REGRESSION = Lesson(
    title="Lesson 6 · Contrastive regression and ordinality",
    idea=("When the label is a number (here: the angle a digit is rotated by), a good embedding is **ordered**: "
          "samples with close angles sit close, far angles far. Cutting the angle into bins and training SupCon on "
          "them treats every other bin as equally far. **Rank-N-Contrast** (RnC, Zha et al., 2023) contrasts by "
          "rank: for anchor i and sample j, every sample whose label is at least as far from y_i as y_j's is a "
          "negative. **SupReMix** (Wu et al., 2023) mixes embeddings into hard negatives and into positives whose "
          "mixed label equals the anchor's. The lesson trains four runs on 200 rotated digits (about 20 s): SupCon "
          "on bins, SupReMix, RnC and plain L1 regression, and measures how well each representation's distances "
          "follow the angle differences."),
    latex=[r"\ell^{\text{RnC}}_{ij} = -\log \frac{e^{-\lVert f_i - f_j \rVert/\tau}}{\sum_{k \ne i,\ |y_i - y_k| \ge "
           r"|y_i - y_j|} e^{-\lVert f_i - f_k \rVert/\tau}}",
           r"\rho = \operatorname{Spearman}\big(\lVert f_i - f_j \rVert,\ |y_i - y_j|\big)\ \text{over pairs of held-out "
           r"samples}"],
    question=Question(
        "Which representation **orders the held-out digits by angle best** (the highest rank correlation between "
        "embedding distances and angle differences)?",
        {loss: REG_LABELS[loss] for loss in REG_LOSSES}),
    train=[{**_REG, "loss": loss, "temperature": REG_TAU[loss], "name": f"Learn · {REG_LABELS[loss]}"}
           for loss in REG_LOSSES],
    try_next=["Open the four runs on the **Ordinality** page: the maps coloured by angle, and the local gap.",
              "On the Train page, the preset **Claim · SupReMix vs peers with few samples** trains the same losses "
              "with all 1,437 samples too (docs/claims.md: RnC is the consistently strong one).",
              "Compare the projector output (ρ of the embedding) with the representation: the loss orders the space "
              "it sees."],
    paper=("Kaiwen Zha, Peng Cao, Jeany Son, Yuzhe Yang and Dina Katabi, *Rank-N-Contrast: Learning Continuous "
           "Representations for Regression*, NeurIPS 2023 (arXiv:2210.01189); Yilei Wu, Zijian Dong, Chongyang Chen, "
           "Wangchunshu Zhou and Juan Helen Zhou, *Mixup Your Own Pairs* (SupReMix), 2023 (arXiv:2309.16633)."),
)


def regression_sentences(final: Mapping[str, Mapping[str, float]], *, epoch: int) -> list[str]:
    """Lesson 6: ``final`` maps each loss of :data:`REG_LOSSES` to its last snapshot's metrics
    (``rank_correlation``, ``rank_correlation_emb``, ``knn_mae``, ``linear_mae``)."""
    order = sorted(final, key=lambda k: -final[k]["rank_correlation"])
    out = [f"At epoch {epoch}, ordered by rank correlation of the representation: " + "; ".join(
        f"**{REG_LABELS[k]}** ρ = {final[k]['rank_correlation']:.3f}" for k in order) + "."]
    for k in order:
        m = final[k]
        out.append(f"**{REG_LABELS[k]}**: a kNN regressor on its representation misses the angle by "
                   f"{m['knn_mae']:.1f}° on average, a linear one by {m['linear_mae']:.1f}°; its projector output has "
                   f"ρ = {m['rank_correlation_emb']:.3f}.")
    best, binned = order[0], final["supcon_binned"]["rank_correlation"]
    if best != "supcon_binned":
        out.append(f"{REG_LABELS[best]}'s representation is more ordered than SupCon's on bins by "
                   f"{final[best]['rank_correlation'] - binned:+.3f} in ρ.")
    return out


def regression_observed(final: Mapping[str, Mapping[str, float]]) -> tuple[str, str]:
    """Lesson 6's outcome: the loss with the highest rank correlation of the representation."""
    order = sorted(final, key=lambda k: -final[k]["rank_correlation"])
    best, second = order[0], order[1]
    gap = final[best]["rank_correlation"] - final[second]["rank_correlation"]
    close = f" (only {gap:.3f} above {REG_LABELS[second]})" if gap < RANK_TOL else ""
    return best, f"{REG_LABELS[best]} with ρ = {final[best]['rank_correlation']:.3f}{close}"


# --------------------------------------------------------------------------- lesson 7: momentum self-distillation

MSD_PRESET = "MSD: centring / sharpening / both"  # trainers.presets: lesson 7 trains its runs, shorter
MSD_EPOCHS = 60
MSD_KEYS = ("centring", "sharpening", "both")  # the preset's order
MSD_LABELS = {"centring": "centring only", "sharpening": "sharpening only", "both": "centring and sharpening"}
UNIFORM_FRACTION = 0.9  # a teacher whose mean entropy is above this fraction of log K has collapsed to uniform
ONE_FRACTION = 0.5  # ... whose outputs together use fewer than K ** this outputs collapses towards one


def _msd_train() -> list[dict[str, Any]]:
    keys = dict(zip(MSD_KEYS, get_preset(MSD_PRESET).configs, strict=True))
    return [{**cfg, "epochs": MSD_EPOCHS, "name": f"Learn · MSD {MSD_LABELS[k]}"} for k, cfg in keys.items()]


DISTILLATION = Lesson(
    title="Lesson 7 · Distillation and momentum self-distillation",
    idea=("In **distillation** a student learns to match a teacher's outputs. **Momentum self-distillation** "
          "(DINO, Caron et al., 2021) needs no separate teacher: the teacher is an exponential moving average of "
          "the student, both end in a softmax over K outputs, and the student learns to predict the teacher's "
          "distribution for another view of the same input. Nothing in that loss forbids a trivial answer. Two "
          "tricks prevent it: **centring** subtracts a running mean c from the teacher's logits (no output may "
          "dominate for every input), **sharpening** divides them by a small temperature τ_t (each input gets a "
          "confident distribution). The lesson trains the lab's preset three times on digits (K = 256 outputs, "
          f"{MSD_EPOCHS} epochs, about 30 s): centring only, sharpening only, both."),
    latex=[r"P_t(x) = \operatorname{softmax}\big((g_t(x) - c)/\tau_t\big),\quad P_s(x') = "
           r"\operatorname{softmax}\big(g_s(x')/\tau_s\big),\quad \mathcal{L} = -\sum_k P_t(x)_k \log P_s(x')_k",
           r"\theta_t \leftarrow m\,\theta_t + (1 - m)\,\theta_s,\qquad c \leftarrow 0.9\,c + 0.1\,\overline{g_t}",
           r"H(P) = -\sum_k P_k \log P_k \in [0, \log K]"],
    question=Question(
        "The teacher is **centred but not sharpened** (τ_t = τ_s). What becomes of its output distributions?",
        {"uniform": "Each input's distribution becomes uniform over all outputs",
         "one": "Every input puts its mass on the same few outputs",
         "healthy": "Each input is confident, and different inputs use different outputs"}),
    train=_msd_train(),
    try_next=["Open the three runs on **Momentum Self-Distillation**: the teacher's entropy over epochs and the "
              "probes of each run.",
              "On the Train page, the full preset trains 200 epochs: does sharpening alone go all the way to one "
              "output?",
              "**Teacher & Student**: the preset *Distillation: KD vs alone with 10% labels* distils a wide teacher "
              "into a small student."],
    paper=("Mathilde Caron, Hugo Touvron, Ishan Misra, Hervé Jégou, Julien Mairal, Piotr Bojanowski and Armand "
           "Joulin, *Emerging Properties in Self-Supervised Vision Transformers* (DINO), ICCV 2021 "
           "(arXiv:2104.14294), section 5.3; Geoffrey Hinton, Oriol Vinyals and Jeff Dean, *Distilling the "
           "Knowledge in a Neural Network*, 2015."),
)


def _outputs(n: float) -> str:
    return f"{n:.0f} output" + ("" if round(n) == 1 else "s")


def msd_state(m: Mapping[str, float]) -> str:
    """What a teacher's outputs became, from a snapshot's ``teacher_entropy`` (mean per input),
    ``teacher_mean_entropy`` (of the mean distribution) and ``entropy_max`` (log K): ``uniform``
    (each input's entropy above :data:`UNIFORM_FRACTION` of log K), ``one`` (the inputs together
    use fewer than K ** :data:`ONE_FRACTION` outputs), else ``healthy``."""
    hmax = m["entropy_max"]
    if m["teacher_entropy"] >= UNIFORM_FRACTION * hmax:
        return "uniform"
    if m["teacher_mean_entropy"] <= ONE_FRACTION * hmax:
        return "one"
    return "healthy"


def msd_sentences(final: Mapping[str, Mapping[str, float]], first: Mapping[str, Mapping[str, float]], *,
                  epoch: int) -> list[str]:
    """Lesson 7: for each run of :data:`MSD_KEYS`, the teacher's entropy per input and of its mean
    distribution at the first and the last snapshot, as numbers of outputs in use."""
    k = round(math.exp(next(iter(final.values()))["entropy_max"]))
    out = [f"The teacher has K = {k} outputs (entropy from 0, one output, to log K = {num(math.log(k))}, uniform). "
           f"Two numbers per run at epoch {epoch}: how many outputs one input spreads over (e^H of each input's "
           "distribution, averaged), and how many all inputs use together (e^H of their mean distribution)."]
    for key in MSD_KEYS:
        if key not in final:
            continue
        m, m0 = final[key], first[key]
        per, together = outputs_in_use(m["teacher_entropy"]), outputs_in_use(m["teacher_mean_entropy"])
        state = msd_state(m)
        meaning = {"uniform": "every input is spread evenly over nearly all outputs: collapse to uniform",
                   "one": "the inputs crowd onto a few outputs: collapse towards one output",
                   "healthy": "each input is confident and the inputs use different outputs"}[state]
        out.append(f"**{MSD_LABELS[key]}**: {change('the entropy per input', m0['teacher_entropy'], m['teacher_entropy'], tol=0.1)} "
                   f"(about {_outputs(per)} per input), the mean distribution's entropy is {num(m['teacher_mean_entropy'])} "
                   f"(about {_outputs(together)} in use): {meaning}.")
    return out


def msd_observed(final: Mapping[str, Mapping[str, float]]) -> tuple[str, str]:
    """Lesson 7's outcome: what the centring-only teacher's outputs became."""
    m = final["centring"]
    return msd_state(m), (f"the centring-only teacher's entropy per input at {num(m['teacher_entropy'])} of a maximum of "
                          f"{num(m['entropy_max'])} (about {outputs_in_use(m['teacher_entropy']):.0f} of "
                          f"{round(math.exp(m['entropy_max']))} outputs per input)")


# --------------------------------------------------------------------------- lesson 8: augmentations and shortcuts

SHAPES_PRESET = "Shapes · crop + colour vs crop only"  # trainers.presets: lesson 8 trains its two runs, smaller
SHAPES_KEYS = ("colour", "crop")  # the preset's order
SHAPES_LABELS = {"colour": "crop + colour", "crop": "crop only"}
SHAPES_SMALL = {"n_samples": 1500, "epochs": 30}
PROBE_TOL = 0.02  # probe scores closer than this read as "about the same"
SHAPE_CHANCE = 1 / 6  # six shape classes


def _shapes_train() -> list[dict[str, Any]]:
    keys = dict(zip(SHAPES_KEYS, get_preset(SHAPES_PRESET).configs, strict=True))
    return [{**cfg, **SHAPES_SMALL, "name": f"Learn · shapes {SHAPES_LABELS[k]}"} for k, cfg in keys.items()]


SHORTCUTS = Lesson(
    title="Lesson 8 · Augmentations and shortcuts",
    idea=("A contrastive loss only asks that two views of an image match and differ from the other images. Whatever "
          "tells them apart most easily will do. In the lab's **shapes world** (6 shapes in 6 hues on random "
          "backgrounds), two random crops of one image share its **colour**: a network trained with crops alone can "
          "match them by colour and never learn the shape. SimCLR (Chen et al., 2020) found the same on ImageNet "
          "and added colour distortion. The representation (the encoder's output) and the projector output above it "
          "differ: the loss makes the projector output invariant to what the augmentation changes, and the "
          "representation below keeps more. The lesson trains the lab's preset, smaller "
          f"({SHAPES_SMALL['n_samples']:,} images, {SHAPES_SMALL['epochs']} epochs, about a minute), and probes what "
          "each space keeps of every factor (a kNN probe: accuracy for the colour, R² for position, scale, angle, "
          "background and noise)."),
    latex=[r"\text{view} = \operatorname{colour}_{\,p}\big(\operatorname{crop}(x)\big),\qquad p = 0.8 \text{ (crop + "
           r"colour) or } 0 \text{ (crop only)}",
           r"\text{probe}(\text{factor}) = \text{kNN}_{k=20}\text{ accuracy or } R^2 \text{ of the factor from } h "
           r"\text{ (representation) or } z = g(h) \text{ (projector output)}"],
    question=Question(
        "Trained with **crops only** (no colour distortion), does the representation read the **shape** better or "
        "worse than with crop + colour?",
        {"worse": "Worse: the crops are matched by their colour",
         "better": "Better: colour distortion only adds noise",
         "same": "About the same"}),
    train=_shapes_train(),
    try_next=["Open both runs on **What It Keeps**: every factor's probe side by side, over epochs too; and on the "
              "**Embedding Map**, coloured by shape, then by colour.",
              "On the Train page, the full preset (3,000 images, 150 epochs, a few minutes a run) widens the gap.",
              "Train crop + colour with `aug_channels` (a random permutation of the colour channels) as well: does "
              "the colour probe of the projector output fall further?",
              "`python -m trainers baseline --dataset shapes` probes the raw pixels: the reference every "
              "representation should beat."],
    paper=("Ting Chen, Simon Kornblith, Mohammad Norouzi and Geoffrey Hinton, *A Simple Framework for Contrastive "
           "Learning of Visual Representations* (SimCLR), ICML 2020 (arXiv:2002.05709), section 3 and figure 6."),
)


def shapes_sentences(final: Mapping[str, Mapping[str, Any]], *, epoch: int) -> list[str]:
    """Lesson 8: ``final`` maps :data:`SHAPES_KEYS` to each run's last metrics (``knn_accuracy``,
    ``factor_probes``, ``factor_probes_embedding``)."""
    c, k = final["colour"], final["crop"]
    out = [f"At epoch {epoch} a kNN probe reads the shape from the representation with accuracy "
           f"{c['knn_accuracy']:.3f} after crop + colour and {k['knn_accuracy']:.3f} after crops only (chance: "
           f"{SHAPE_CHANCE:.3f})."]
    for key in SHAPES_KEYS:
        m = final[key]
        rep, emb = m["factor_probes"]["colour"], m["factor_probes_embedding"]["colour"]
        out.append(f"**{SHAPES_LABELS[key]}**: the colour is read with accuracy {rep:.3f} from the representation and "
                   f"{emb:.3f} from the projector output ({'a drop of ' + f'{rep - emb:.3f}' if rep - emb >= PROBE_TOL else 'about the same'}); "
                   f"the background with R² {m['factor_probes']['background']:.2f} and "
                   f"{m['factor_probes_embedding']['background']:.2f}.")
    ec, ek = c["factor_probes_embedding"]["colour"], k["factor_probes_embedding"]["colour"]
    out.append(f"The projector output keeps {'less' if ec < ek - PROBE_TOL else 'more' if ec > ek + PROBE_TOL else 'as much'} "
               f"colour with colour distortion ({ec:.3f}) than with crops alone ({ek:.3f}): "
               + ("the distortion taught the head to ignore colour, while the representation below it still holds it."
                  if ec < ek - PROBE_TOL else "in this run the head did not learn to drop colour."))
    return out


def shapes_observed(final: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """Lesson 8's outcome: the crop-only run's shape accuracy against crop + colour's."""
    a, b = final["colour"]["knn_accuracy"], final["crop"]["knn_accuracy"]
    d = direction(a, b, tol=PROBE_TOL)
    key = {"fell": "worse", "rose": "better", "stayed": "same"}[d]
    return key, f"a shape accuracy of {b:.3f} with crops only against {a:.3f} with crop + colour"


# --------------------------------------------------------------------------- reading a lesson's runs


def run_key(config: Mapping[str, Any]) -> str:
    """Which run of its lesson a run is, from its config: the loss of a regression run
    (:data:`REG_LOSSES`), the switches of an MSD run (:data:`MSD_KEYS`), the augmentation of a
    shapes run (:data:`SHAPES_KEYS`), else the loss."""
    if config.get("loss") == "msd":
        o = config.get("loss_options") or {}
        c, s = bool(o.get("centering", True)), bool(o.get("sharpening", True))
        return "both" if c and s else "centring" if c else "sharpening" if s else "neither"
    if config.get("dataset") == "shapes":
        return "colour" if float(config.get("aug_colour", 0.0)) > 0 else "crop"
    return str(config.get("loss"))


def metric_lines(series: Sequence[tuple[str, str, Sequence[Mapping[str, Any]]]], metric: str, *,
                 suffix: str = "", dash: str = "solid") -> list[dict[str, Any]]:
    """Lines of :func:`ui.learn.epoch_lines_figure`: ``series`` of ``(name, colour, snapshots)``
    (``ui.data.snapshots``' records), ``metric`` read from each snapshot that has it."""
    out = []
    for name, colour, snaps in series:
        have = [s for s in snaps if isinstance(s["metrics"].get(metric), (int, float))]
        if have:
            out.append({"name": name + suffix, "legendgroup": name, "colour": colour, "dash": dash,
                        "epochs": [s["epoch"] for s in have], "values": [float(s["metrics"][metric]) for s in have]})
    return out
