"""The Learn section's lessons: what each one asks and runs, and the sentences that explain
a run with its own numbers.

Every sentence here is generated from a run (a :class:`ui.learn.ToyRun`, or a real run's
snapshot spectra and metrics): the direction words ("fell", "rose", "stayed at about") and
the outcome of a prediction question are read off the numbers, never assumed. The texts
contain only numbers and fixed words (no user text), so pages can show them as Markdown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ui.learn import ToyRun

COLLAPSE_UNIFORMITY = -0.1  # above this, (nearly) every pair of points sits in one spot: exp(-2 d^2) averages > 0.9
CLUSTER_SPREAD = 0.1  # class-mates closer than this fraction of the average squared distance: one cluster per class
UNIFORMITY_TOL = 0.05  # smaller changes of uniformity read as "stayed at about"
RELATIVE_TOL = 0.15  # alignment (a squared distance): smaller relative changes read as "stayed at about"
ALIVE = 1e-3  # a covariance direction whose eigenvalue is below this fraction of the largest has collapsed


# --------------------------------------------------------------------------- numbers and directions


def num(x: float) -> str:
    """A number for a sentence: two decimals from 1 up, two significant digits (at least two
    decimals) down to 0.001, and scientific notation below that (``1.2e-07``)."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    a = abs(x)
    if a >= 1:
        return f"{x:.2f}"
    if a >= 1e-3:
        return f"{x:.{max(2, 1 - math.floor(math.log10(a)))}f}"
    return f"{x:.1e}"


def direction(before: float, after: float, *, tol: float) -> str:
    """``"fell"``, ``"rose"`` or ``"stayed"`` (a change smaller than ``tol``)."""
    if abs(after - before) < tol:
        return "stayed"
    return "fell" if after < before else "rose"


def change(name: str, before: float, after: float, *, tol: float) -> str:
    """``"uniformity fell from -0.30 to -2.10"`` (or rose, or stayed at about)."""
    d = direction(before, after, tol=tol)
    if d == "stayed":
        return f"{name} stayed at about {num(after)} (from {num(before)})"
    return f"{name} {d} from {num(before)} to {num(after)}"


def alignment_tol(before: float, after: float) -> float:
    return RELATIVE_TOL * max(abs(before), abs(after), 1e-12)


def compared(a: float, b: float, *, tol: float) -> str:
    """How ``a`` compares with ``b``: ``"lower than"``, ``"higher than"`` or ``"about the same as"``."""
    d = direction(b, a, tol=tol)
    return {"fell": "lower than", "rose": "higher than", "stayed": "about the same as"}[d]


# --------------------------------------------------------------------------- what the points did


def class_spread(positions: np.ndarray, labels: np.ndarray) -> float:
    """How close class-mates sit: the mean squared distance between two points of one class,
    over the mean squared distance between any two distinct points (0: each class is one spot;
    about 1: classes are mixed). NaN when every point sits in one spot.

    Uses ``mean_{i != j} ||x_i - x_j||^2 = 2 n / (n - 1) * (mean ||x||^2 - ||mean x||^2)``.
    """
    x = np.asarray(positions, dtype=np.float64)

    def pair_mean(rows: np.ndarray) -> tuple[float, int]:
        n = len(rows)
        if n < 2:
            return 0.0, 0
        spread = (rows**2).sum(1).mean() - (rows.mean(0) ** 2).sum()
        return 2.0 * n / (n - 1) * spread, n * (n - 1)

    overall, _ = pair_mean(x)
    if overall < 1e-12:
        return float("nan")
    within = [pair_mean(x[labels == c]) for c in np.unique(labels)]
    pairs = sum(p for _, p in within)
    return float(sum(m * p for m, p in within) / pairs / overall) if pairs else float("nan")


SHAPES = ("collapse", "clusters", "spread", "partial", "little change")


def shape_of(run: ToyRun) -> str:
    """What the points did by the last step, read from its numbers (one of :data:`SHAPES`):

    * ``collapse``: final uniformity above :data:`COLLAPSE_UNIFORMITY` (every point in one spot);
    * ``clusters``: class-mates within :data:`CLUSTER_SPREAD` of the average squared distance
      (:func:`class_spread`), after moving at least 30% of the way from the start's uniformity
      to the uniform distribution's;
    * ``spread``: at least 60% of that way; ``partial``: more than 10%; else ``little change``.
    """
    u0, u1 = run.uniformity[0], run.uniformity[-1]
    if u1 > COLLAPSE_UNIFORMITY:
        return "collapse"
    way = (u0 - u1) / (u0 - run.uniformity_uniform) if u0 > run.uniformity_uniform else 1.0
    spread = class_spread(run.positions[-1], run.labels)
    if len(run.classes) >= 2 and spread < CLUSTER_SPREAD and way > 0.3:
        return "clusters"
    if way >= 0.6:
        return "spread"
    if way > 0.1:
        return "partial"
    return "little change"


def where(run: ToyRun) -> str:
    return "sphere" if run.dim == 3 else "circle"


def shape_text(run: ToyRun) -> str:
    """What the points did, with the numbers that show it."""
    shape = shape_of(run)
    n, k = run.n_points, len(run.classes)
    if shape == "collapse":
        return "every point ended in about one spot (one spot has uniformity 0): a collapse"
    if shape == "clusters":
        pct = 100 * class_spread(run.positions[-1], run.labels)
        return (f"the points gathered in {k} tight clusters, one per class (class-mates sit at {pct:.0f}% of the "
                f"average squared distance between two points)")
    bounds = (f"the best {n} points can do is {num(run.uniformity_optimum)}, the uniform distribution on the "
              f"{where(run)} has {num(run.uniformity_uniform)}")
    if shape == "spread":
        return f"the points spread over the whole {where(run)} ({bounds})"
    if shape == "partial":
        return f"the points spread part of the way ({bounds})"
    return "the points barely moved"


def alignment_text(run: ToyRun) -> str:
    a0, a1 = run.alignment[0], run.alignment[-1]
    d = direction(a0, a1, tol=alignment_tol(a0, a1))
    meaning = {"fell": "the two views of each point moved closer together",
               "rose": "the two views of each point drifted apart",
               "stayed": "the views of a point stayed as close as they started"}[d]
    return f"{change('alignment', a0, a1, tol=alignment_tol(a0, a1))}: {meaning}"


def run_sentences(run: ToyRun, label: str | None = None) -> list[str]:
    """Two sentences on one run: what uniformity did and what that means for the points,
    then what alignment did."""
    u0, u1 = run.uniformity[0], run.uniformity[-1]
    name = label or run.label
    return [f"**{name}**: {change('uniformity', u0, u1, tol=UNIFORMITY_TOL)}: {shape_text(run)}.",
            f"In {len(run.loss) - 1} steps {alignment_text(run)}."]


# --------------------------------------------------------------------------- prediction questions


@dataclass(frozen=True)
class Question:
    text: str
    options: dict[str, str]  # outcome key -> the answer a learner picks


def verdict(question: Question, predicted: str, observed: str, evidence: str) -> tuple[bool, str]:
    """Whether the prediction holds, and a sentence that says so: ``You predicted “…”; the run
    shows …``. ``observed`` is the outcome key read from the run; ``evidence`` its numbers."""
    said = question.options[predicted]
    right = predicted == observed
    text = f"You predicted “{said}”; the run shows {evidence}."
    if right:
        return True, text + " Your prediction holds."
    if observed in question.options:
        return False, text + f" That matches “{question.options[observed]}” instead."
    return False, text + " None of the choices fits it exactly."


# --------------------------------------------------------------------------- lesson 1: alignment and uniformity


def au_lesson_sentences(runs: Mapping[str, ToyRun]) -> list[str]:
    """Lesson 1: ``runs`` keyed ``align``, ``uniform`` and ``align_uniform``; each run's own
    sentences, then what adding the alignment term to uniformity changed."""
    out: list[str] = []
    for key in ("align", "uniform", "align_uniform"):
        if key in runs:
            out += run_sentences(runs[key])
    if "uniform" in runs and "align_uniform" in runs:
        u, b = runs["uniform"], runs["align_uniform"]
        lam = b.config.get("lam", 1.0)
        out.append(
            f"With both terms (λ = {lam:g}) alignment ended at {num(b.alignment[-1])}, "
            f"{compared(b.alignment[-1], u.alignment[-1], tol=alignment_tol(u.alignment[-1], b.alignment[-1]))} "
            f"uniformity alone ({num(u.alignment[-1])}), and uniformity at {num(b.uniformity[-1])} "
            f"({compared(b.uniformity[-1], u.uniformity[-1], tol=UNIFORMITY_TOL)} uniformity alone's "
            f"{num(u.uniformity[-1])}).")
    return out


def au_observed(run: ToyRun) -> tuple[str, str]:
    """Lesson 1's outcome (a :data:`SHAPES` key) and its evidence, for the alignment-only run."""
    return shape_of(run), (f"{shape_text(run)} (uniformity {num(run.uniformity[0])} → {num(run.uniformity[-1])}, "
                           f"alignment {num(run.alignment[0])} → {num(run.alignment[-1])})")


# --------------------------------------------------------------------------- lesson 2: temperature


def temperature_sentences(runs: Sequence[ToyRun]) -> list[str]:
    """Lesson 2: one sentence per run (highest temperature first), then how much each step down
    in temperature changed the final uniformity."""
    ordered = sorted(runs, key=lambda r: -(r.temperature or 0.0))
    out = []
    for r in ordered:
        u0, u1 = r.uniformity[0], r.uniformity[-1]
        out.append(f"**τ = {r.temperature:g}**: {change('uniformity', u0, u1, tol=UNIFORMITY_TOL)} and alignment "
                   f"ended at {num(r.alignment[-1])}: {shape_text(r)}.")
    steps = []
    for a, b in zip(ordered, ordered[1:], strict=False):
        d = b.uniformity[-1] - a.uniformity[-1]
        steps.append(f"from τ = {a.temperature:g} to {b.temperature:g} by {'+' if d > 0 else ''}{num(d)}")
    if steps:
        out.append("Lowering the temperature changed the final uniformity " + "; ".join(steps) + ".")
    return out


def temperature_observed(runs: Sequence[ToyRun]) -> tuple[str, str]:
    """Lesson 2's outcome: what the final uniformity did from the highest temperature to the
    lowest (``falls``, ``rises`` or ``same``), and its evidence."""
    hot = max(runs, key=lambda r: r.temperature or 0.0)
    cold = min(runs, key=lambda r: r.temperature or 0.0)
    d = direction(hot.uniformity[-1], cold.uniformity[-1], tol=UNIFORMITY_TOL)
    key = {"fell": "falls", "rose": "rises", "stayed": "same"}[d]
    words = {"falls": "fell", "rises": "rose", "same": "stayed at about the same value"}[key]
    evidence = (f"the final uniformity {words} from {num(hot.uniformity[-1])} at τ = {hot.temperature:g} "
                f"to {num(cold.uniformity[-1])} at τ = {cold.temperature:g}")
    return key, evidence


# --------------------------------------------------------------------------- lesson 3: dimensional collapse


def alive(spectrum: np.ndarray, *, rel: float = ALIVE) -> int:
    """How many covariance directions carry variance: eigenvalues above ``rel`` times the largest."""
    lam = np.asarray(spectrum, dtype=float)
    return int((lam > rel * lam.max()).sum()) if lam.size and lam.max() > 0 else 0


def cliff(spectrum: np.ndarray) -> tuple[int, float]:
    """The largest drop of the sorted spectrum: ``(k, ratio)`` with ``ratio = λ_k / λ_{k+1}``
    (k counted from 1), over the eigenvalues above 1e-12."""
    lam = np.sort(np.maximum(np.asarray(spectrum, dtype=float), 1e-12))[::-1]
    ratios = lam[:-1] / lam[1:]
    k = int(np.argmax(ratios))
    return k + 1, float(ratios[k])


def collapse_sentences(first: tuple[int, np.ndarray], last: tuple[int, np.ndarray], *,
                       representation: np.ndarray | None = None,
                       rankme: tuple[float, float] | None = None) -> list[str]:
    """Lesson 3: how many embedding directions carry variance at the first and the last
    snapshot (``(epoch, spectrum)`` each), where the last spectrum drops and by how much, how
    many directions the representation keeps, and RankMe's change."""
    (e0, s0), (e1, s1) = first, last
    d = len(s1)
    n0, n1 = alive(s0), alive(s1)
    lam = np.sort(np.asarray(s1, dtype=float))[::-1]
    out = [f"At epoch {e0} the embedding used {n0} of its {d} directions (eigenvalues above 1/{round(1 / ALIVE)} "
           f"of the largest, {num(float(np.max(s0)))})."]
    k, ratio = cliff(s1)
    tail = d - k
    verb = "uses" if n1 != 1 else "uses only"
    sentence = f"At epoch {e1} it {verb} {n1}"
    if tail > 0 and ratio > 10:
        sentence += (f": eigenvalues 1 to {k} lie between {num(lam[k - 1])} and {num(lam[0])}, then the spectrum drops "
                     f"by a factor of {ratio:,.0f} to {num(lam[k])} at eigenvalue {k + 1}")
        sentence += f": the other {tail} directions collapsed." if n1 <= k else "."
    else:
        sentence += ": the spectrum has no cliff (no drop larger than a factor of 10)."
    out.append(sentence)
    if representation is not None:
        r = alive(representation)
        meaning = ("the collapse shows in the embedding first" if r > n1 else
                   "as many as the embedding" if r == n1 else "fewer than the embedding")
        out.append(f"The representation (the encoder's output, before the projector) keeps {r} of its "
                   f"{len(representation)} directions: {meaning}.")
    if rankme is not None:
        out.append(f"RankMe of the embedding (its effective number of directions) "
                   f"{change('', rankme[0], rankme[1], tol=0.25).strip()}.")
    return out


def collapse_observed(last: tuple[int, np.ndarray]) -> tuple[str, str]:
    """Lesson 3's outcome from the last spectrum: ``none`` (at least 7/8 of the directions keep
    their variance), ``half`` (a third to two thirds), ``most`` (two or fewer) or ``other``."""
    e, s = last
    d, n = len(s), alive(s)
    if n >= 7 * d / 8:
        key = "none"
    elif n <= 2:
        key = "most"
    elif d / 3 <= n <= 2 * d / 3:
        key = "half"
    else:
        key = "other"
    return key, f"{n} of {d} directions still carrying variance at epoch {e} ({d - n} collapsed)"


# --------------------------------------------------------------------------- the lessons


@dataclass(frozen=True)
class Lesson:
    title: str
    idea: str  # the idea in a short paragraph (Markdown)
    latex: list[str]  # its formulas
    question: Question
    runs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (label, toy config) of a playground lesson
    train: list[dict[str, Any]] = field(default_factory=list)  # RunConfig fields of each real run a lesson trains
    try_next: list[str] = field(default_factory=list)
    paper: str = ""  # where it comes from (Markdown)


# the start of the playground lessons: 200 points of 4 classes, an encoder onto the sphere
TOY = {"mode": "encoder", "data": "blobs", "dim": 3, "points": 200, "classes": 4, "steps": 300, "seed": 0,
       "noise": 0.05, "lr": 0.02, "batch_size": 0}

ALIGNMENT_UNIFORMITY = Lesson(
    title="Lesson 1 · Alignment and uniformity",
    idea=("A contrastive loss does two things at once (Wang & Isola, 2020). **Alignment** pulls the two augmented "
          "views of a sample together: it is the mean squared distance between them. **Uniformity** pushes all "
          "samples apart over the sphere: the log of the average Gaussian potential between two samples, lowest when "
          "they are spread evenly. Below, a small network maps 200 points of 4 classes onto the sphere; it starts "
          "with every point in a small cap. Three runs from the same start: alignment alone, uniformity alone, and "
          "both."),
    latex=[r"\mathcal{L}_{\text{align}} = \mathbb{E}_{(x, x^+)}\,\lVert f(x) - f(x^+) \rVert_2^{2}",
           r"\mathcal{L}_{\text{uniform}} = \log \mathbb{E}_{x, y}\, e^{-2 \lVert f(x) - f(y) \rVert_2^2}",
           r"\mathcal{L} = \mathcal{L}_{\text{align}} + \lambda\, \mathcal{L}_{\text{uniform}}"],
    question=Question(
        "The network is trained with the **alignment loss alone**: pull the two views of each point together, "
        "nothing else. What happens to the points?",
        {"spread": "They spread out evenly over the sphere",
         "collapse": "They all fall into one spot",
         "clusters": "They gather in one cluster per class",
         "little change": "They barely move"}),
    runs=[("alignment only", {**TOY, "loss": "align"}),
          ("uniformity only", {**TOY, "loss": "uniform"}),
          ("alignment + uniformity (λ = 1)", {**TOY, "loss": "align_uniform", "lam": 1.0})],
    try_next=["In the playground, set λ to 0.1 and to 5: how far do the points spread, and how close do the views "
              "stay?",
              "Switch to **free** mode (the points themselves are the parameters) and train alignment only: with no "
              "network to share, each point is pushed around by its own noise.",
              "Raise the augmentation noise to 0.3 with alignment + uniformity: the classes pull together."],
    paper=("Tongzhou Wang and Phillip Isola, *Understanding Contrastive Representation Learning through Alignment "
           "and Uniformity on the Hypersphere*, ICML 2020 (arXiv:2005.10242)."),
)

TEMPERATURE = Lesson(
    title="Lesson 2 · Temperature",
    idea=("NT-Xent (SimCLR's loss) is a softmax over similarities divided by a **temperature τ**. A small τ "
          "sharpens the softmax: the negatives closest to a point dominate its gradient, so each point is pushed "
          "away from its nearest neighbours. A large τ weighs all negatives almost equally; then it is enough that "
          "the points are balanced around the centre, and similar points may stay together (Wang & Liu, 2021). "
          "Below: the same network and start as in lesson 1, trained with NT-Xent at three temperatures."),
    latex=[r"\ell_i = -\log \frac{e^{\,s(z_i, z_i^+)/\tau}}{\sum_{k \ne i} e^{\,s(z_i, z_k)/\tau}},\qquad "
           r"s(u, v) = \frac{u^\top v}{\lVert u \rVert\,\lVert v \rVert}"],
    question=Question(
        "The temperature goes **down from τ = 2 to τ = 0.05**, all else the same. What happens to the final "
        "uniformity (lower = more evenly spread)?",
        {"falls": "It falls: the points spread more evenly",
         "rises": "It rises: the points bunch together",
         "same": "It barely changes"}),
    runs=[(f"NT-Xent · τ = {t:g}", {**TOY, "loss": "nt_xent", "temperature": t}) for t in (2.0, 0.5, 0.05)],
    try_next=["In the playground, raise the augmentation noise to 0.2 at τ = 0.5 and at τ = 0.05: which keeps the "
              "classes together?",
              "Compare temperatures side by side on **rings** data in 2-D.",
              "Try τ = 5: the uniformity term of NT-Xent becomes almost linear in the similarities."],
    paper=("Feng Wang and Huaping Liu, *Understanding the Behaviour of Contrastive Loss*, CVPR 2021 "
           "(arXiv:2012.09740); the loss: Ting Chen et al., *A Simple Framework for Contrastive Learning of Visual "
           "Representations* (SimCLR), ICML 2020."),
)

DIMENSIONAL_COLLAPSE = Lesson(
    title="Lesson 3 · Dimensional collapse",
    idea=("A contrastive model can avoid collapsing to one point and still **collapse dimensions**: its embeddings "
          "end up in a lower-dimensional subspace, and the lost directions carry no information. Jing et al. (2022) "
          "show it in a toy: inputs x ~ N(0, I₁₆), augmentation noise on the last 8 of the 16 input directions, and "
          "a two-layer linear network trained with NT-Xent. The covariance spectrum of the embeddings (its sorted "
          "eigenvalues) shows the collapse as a cliff. This lesson trains that preset on the lab's worker, as on "
          "the Train page (about 15 s)."),
    latex=[r"C = \frac{1}{N} \sum_i (z_i - \bar z)(z_i - \bar z)^\top,\quad \lambda_1 \ge \dots \ge \lambda_{16}",
           r"\text{a direction has collapsed when } \lambda_k < 10^{-3}\, \lambda_1"],
    question=Question(
        "The augmentation adds noise to **8 of the 16** input directions. After 40 epochs, how many of the 16 "
        "embedding directions have collapsed?",
        {"none": "None: all 16 keep their variance",
         "half": "About half: the noisy directions collapse",
         "most": "Nearly all: only one or two directions survive"}),
    try_next=["On the Train page, train the same preset with **SupCon** on digits: the spectrum concentrates on "
              "about 9 directions (10 classes).",
              "Open the run on **Dimensional Collapse** and switch to the representation space.",
              "Lower the augmentation strength of the preset and compare the cliffs."],
    paper=("Li Jing, Pascal Vincent, Yann LeCun and Yuandong Tian, *Understanding Dimensional Collapse in "
           "Contrastive Self-supervised Learning*, ICLR 2022 (arXiv:2110.09348)."),
)

JING_PRESET = "Jing toy: dimensional collapse"  # trainers.presets: lesson 3 trains its one config
