"""Runs repeated over seeds: which runs share a configuration, the mean and spread of their
final metrics, and the paired difference of two configurations over the seeds they share.

A result of one seed is one draw: the mean over seeds says what a configuration does, the
standard deviation how much a reseeding moves it. Two configurations run with the same seeds
are compared seed by seed (a paired comparison): the seed fixes the initialisation, the batch
order and the augmentations of both, so the differences d_s = a_s - b_s vary less than the
runs do. With n shared seeds,

    mean d  = (1/n) Σ_s d_s
    sd d    = sqrt( Σ_s (d_s - mean d)² / (n - 1) )                      (Bessel's n - 1)
    95 % CI = mean d ± t_{0.975, n-1} · sd d / sqrt(n)                   (Student's t)

the interval of a paired t-test (``scipy.stats.ttest_rel(a, b).confidence_interval()``).
One seed gives a value with no spread and no interval: it is marked ``single_seed``.

Pure functions of plain data (configs as mappings, metrics as mappings): no streamlit, no
torch. ``scipy.stats`` is imported only where a t quantile is needed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["NOT_CONFIGURATION", "SeedGroup", "Summary", "PairedDifference", "configuration", "configuration_key",
           "group_by_configuration", "numeric_metrics", "summarise", "aggregate", "paired_difference",
           "strip_seed_suffix", "parse_seeds", "MAX_SEEDS", "summarise_by_epoch"]

# fields that do not make a configuration: the seed, labels, and where or how fast it ran
NOT_CONFIGURATION = frozenset({"seed", "name", "group", "threads", "device", "checkpoint_seconds"})

_SEED_SUFFIX = re.compile(r"\s*·\s*seed\s+-?\d+\s*$")
MAX_SEEDS = 100  # seeds one launch may ask for
_MAX_SEED = 2**32 - 1  # the largest seed a run takes (trainers.config's rule)


def parse_seeds(text: str) -> list[int]:
    """The seeds of a text such as ``"0,1,2"``, ``"0 1 2"`` or ``"0-4"`` (a range, both ends
    included), in the order written.

    Raises ``ValueError`` with a message a person can act on: an empty list, a part that is not
    a whole number from 0 to 2**32 - 1 or a range of them, a seed given twice, more than
    :data:`MAX_SEEDS` seeds."""
    parts = [p for p in re.split(r"[,\s;]+", str(text).strip()) if p]
    if not parts:
        raise ValueError("no seeds: give at least one, e.g. 0,1,2 or 0-4")
    seeds: list[int] = []
    for part in parts:
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if m is None:
            raise ValueError(f"seed {part!r} is not a whole number from 0 to {_MAX_SEED} or a range such as 0-4; "
                             "separate seeds with commas, e.g. 0,1,2")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise ValueError(f"range {part!r} runs backwards: write the smaller seed first, e.g. {hi}-{lo}")
        if hi > _MAX_SEED:
            raise ValueError(f"seed {hi} is too large: seeds are whole numbers from 0 to {_MAX_SEED}")
        if hi - lo + 1 + len(seeds) > MAX_SEEDS:
            raise ValueError(f"too many seeds: at most {MAX_SEEDS} in one launch")
        seeds.extend(range(lo, hi + 1))
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise ValueError(f"seed {', '.join(map(str, twice))} is given twice: each seed once")
    return seeds


def strip_seed_suffix(name: str) -> str:
    """A run's name without the " · seed S" that ``trainers.presets.over_seeds`` appends."""
    return _SEED_SUFFIX.sub("", name)


def configuration(config: Mapping[str, Any], *, teachers: Mapping[str, Mapping[str, Any]] | None = None
                  ) -> dict[str, Any]:
    """``config`` without the fields of :data:`NOT_CONFIGURATION`.

    A ``teacher`` that names a run of ``teachers`` (run id -> its config) is replaced by that
    teacher's own configuration: the students of one configuration, each taught by the teacher
    of its own seed, have different teacher ids but the same configuration."""
    return _configuration(config, teachers or {}, depth=0)


def _configuration(config: Mapping[str, Any], teachers: Mapping[str, Mapping[str, Any]], *, depth: int) -> dict[str, Any]:
    out = {k: v for k, v in config.items() if k not in NOT_CONFIGURATION}
    t = out.get("teacher")
    if isinstance(t, str) and t in teachers and depth < 8:  # a chain of teachers, never a loop
        out["teacher"] = {"configuration": _configuration(teachers[t], teachers, depth=depth + 1)}
    return out


def configuration_key(config: Mapping[str, Any], *, teachers: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """A text key equal for two configs exactly when they differ only in seed, name, group
    (and the fields of :data:`NOT_CONFIGURATION`)."""
    return json.dumps(configuration(config, teachers=teachers), sort_keys=True, default=str)


@dataclass(frozen=True)
class SeedGroup:
    """Runs of one configuration. ``run_ids`` and ``seeds`` are in the order of the seeds
    (runs without a seed last, in their given order)."""

    key: str  # configuration_key of its runs
    run_ids: tuple[str, ...]
    seeds: tuple[int | None, ...]  # the seed of each run (None: its config has none)

    @property
    def n(self) -> int:
        return len(self.run_ids)


def group_by_configuration(configs: Mapping[str, Mapping[str, Any]], *,
                           teachers: Mapping[str, Mapping[str, Any]] | None = None) -> list[SeedGroup]:
    """Group runs (``configs``: run id -> config) that differ only by seed (and name, group,
    ids). Groups in the order of their first run in ``configs``; within a group, runs sorted by
    seed. ``teachers``: run id -> config of the runs a student may name as its teacher
    (defaults to ``configs`` itself)."""
    known = dict(configs) if teachers is None else {**configs, **teachers}
    order: dict[str, list[str]] = {}
    for rid, cfg in configs.items():
        order.setdefault(configuration_key(cfg, teachers=known), []).append(rid)
    groups = []
    for key, ids in order.items():
        seeds = [_seed(configs[i]) for i in ids]
        ranked = sorted(range(len(ids)), key=lambda j: (seeds[j] is None, seeds[j] if seeds[j] is not None else 0, j))
        groups.append(SeedGroup(key, tuple(ids[j] for j in ranked), tuple(seeds[j] for j in ranked)))
    return groups


def _seed(config: Mapping[str, Any]) -> int | None:
    s = config.get("seed")
    return int(s) if isinstance(s, (int, float)) and not isinstance(s, bool) else None


def numeric_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of a run's final metrics; a nested mapping of numbers (such as
    ``factor_probes``: factor -> score) becomes one entry per key, ``"factor_probes.colour"``.
    Booleans, text, None and NaN are left out; ``epoch`` too (it is not a result)."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if k == "epoch":
            continue
        if isinstance(v, Mapping):
            for sub, x in numeric_metrics(v).items():
                out[f"{k}.{sub}"] = x
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v)):
            out[k] = float(v)
    return out


@dataclass(frozen=True)
class Summary:
    """A metric over the seeds of one configuration."""

    mean: float
    sd: float  # sample standard deviation (n - 1); NaN for one seed
    n: int

    @property
    def single_seed(self) -> bool:
        return self.n == 1

    def text(self, digits: int = 3) -> str:
        """"0.912 ± 0.004" (mean ± sd), or "0.912 (one seed)"."""
        if self.single_seed:
            return f"{self.mean:.{digits}f} (one seed)"
        return f"{self.mean:.{digits}f} ± {self.sd:.{digits}f}"


def summarise(values: Sequence[float]) -> Summary:
    """Mean, sample standard deviation (n - 1 in the denominator) and count of ``values``.

    Raises ``ValueError`` for no values or a value that is not finite."""
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("no values to summarise: a metric needs at least one run")
    if not all(math.isfinite(x) for x in xs):
        raise ValueError(f"values must be finite; got {xs}")
    n = len(xs)
    mean = math.fsum(xs) / n
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else math.nan
    return Summary(mean, sd, n)


def aggregate(metrics: Sequence[Mapping[str, Any]]) -> dict[str, Summary]:
    """Each numeric final metric (see :func:`numeric_metrics`) of a configuration's runs
    (``metrics``: one mapping per seed) as mean, sd and n over the runs that have it, in the
    order of first appearance."""
    values: dict[str, list[float]] = {}
    for m in metrics:
        for k, v in numeric_metrics(m).items():
            values.setdefault(k, []).append(v)
    return {k: summarise(v) for k, v in values.items()}


def summarise_by_epoch(series: Sequence[Mapping[int, float]]) -> dict[int, Summary]:
    """A metric over epochs for the seeds of one configuration (``series``: one mapping epoch ->
    value per seed): mean, sd and n at each epoch that at least one seed has, by epoch. Values
    that are not finite numbers are left out; n says how many seeds each epoch holds (a seed
    still training has fewer epochs)."""
    values: dict[int, list[float]] = {}
    for one in series:
        for e, v in one.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v)):
                values.setdefault(int(e), []).append(float(v))
    return {e: summarise(values[e]) for e in sorted(values)}


@dataclass(frozen=True)
class PairedDifference:
    """a - b over the seeds both configurations ran."""

    mean: float
    sd: float  # sample sd of the per-seed differences (n - 1); NaN for one seed
    n: int
    low: float  # the confidence interval of the mean difference (Student's t); NaN for one seed
    high: float
    seeds: tuple[int, ...]  # the shared seeds, sorted
    confidence: float = 0.95

    @property
    def single_seed(self) -> bool:
        return self.n == 1

    def text(self, digits: int = 3) -> str:
        """"+0.012 [95% CI -0.003, +0.027] over 3 seeds", or "+0.012 (one seed: no error bar)"."""
        if self.single_seed:
            return f"{self.mean:+.{digits}f} (one seed: no error bar)"
        return (f"{self.mean:+.{digits}f} [{self.confidence:.0%} CI {self.low:+.{digits}f}, {self.high:+.{digits}f}] "
                f"over {self.n} seeds")


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], *, confidence: float = 0.95) -> PairedDifference:
    """The difference a - b of one metric over the seeds both have (``a``, ``b``: seed -> value).

    mean and sd (n - 1) of d_s = a_s - b_s, and the Student-t interval
    mean ± t_{(1+confidence)/2, n-1} · sd / sqrt(n), which equals
    ``scipy.stats.ttest_rel(a, b).confidence_interval(confidence)``. With one shared seed the
    sd and interval are NaN and ``single_seed`` is set. Raises ``ValueError`` when the two
    share no seed or ``confidence`` is not in (0, 1)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1; got {confidence}")
    shared = sorted(set(a) & set(b))
    if not shared:
        raise ValueError(f"no shared seed: one configuration ran seeds {sorted(a)}, the other {sorted(b)}")
    d = summarise([float(a[s]) - float(b[s]) for s in shared])
    if d.n == 1:
        return PairedDifference(d.mean, math.nan, 1, math.nan, math.nan, tuple(shared), confidence)
    from scipy import stats

    half = float(stats.t.ppf((1 + confidence) / 2, d.n - 1)) * d.sd / math.sqrt(d.n)
    return PairedDifference(d.mean, d.sd, d.n, d.mean - half, d.mean + half, tuple(shared), confidence)
