"""The Runs view's helpers: the runs picked for the views after the table's ticks changed, a
run's latest metrics as text, the end of its worker log, and runs that differ only by seed
grouped by configuration with the mean ± sd of their metrics (the Compare view uses these
groups too)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.compare import config_differences
from analysis.seeds import (
    Summary,
    aggregate,
    configuration,
    group_by_configuration,
    strip_seed_suffix,
)
from jobs import store as stmod

LOG_LINES = 30  # lines of a worker log shown


def merge_selection(before: Sequence[str], ticked: Sequence[str], listed: Sequence[str]) -> list[str]:
    """The runs picked for the views once the table's ticks are ``ticked``: the earlier choice
    ``before`` in its order, new ticks at the end; runs not ``listed`` in the table (hidden by
    its group filter) stay chosen."""
    shown = set(listed)
    return ([i for i in before if i in ticked] + [i for i in ticked if i not in before]
            + [i for i in before if i not in shown])


def metrics_table(metrics: Mapping[str, Any]) -> dict[str, list[str]]:
    """A run's metrics as two text columns, numbers with four significant digits."""
    return {"metric": list(metrics),
            "value": [f"{v:.4g}" if isinstance(v, float) else str(v) for v in metrics.values()]}


def log_tail(path: Path, lines: int = LOG_LINES) -> str:
    """The last ``lines`` lines of a worker log (undecodable bytes replaced), "(empty)" when it has none."""
    return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-lines:]) or "(empty)"


# the Runs table's metric columns, as the seed table shows them: metric key -> header
SEED_COLUMNS = {"knn_accuracy": "kNN acc", "linear_accuracy": "linear acc", "alignment": "alignment",
                "uniformity": "uniformity", "rankme": "RankMe"}
DONE = (stmod.FINISHED, stmod.IMPORTED)  # runs whose metrics are final


@dataclass(frozen=True)
class ConfigRuns:
    """The runs of one configuration (they differ only by seed, name and group), by seed."""

    label: str  # as typed (escape it to show it): the first run's name without " · seed S", made unique
    runs: tuple[stmod.RunRecord, ...]

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def seeds(self) -> list[int | None]:
        return [r.config.get("seed") for r in self.runs]


def config_groups(runs: Sequence[stmod.RunRecord], *, teachers: Sequence[stmod.RunRecord] = ()) -> list[ConfigRuns]:
    """``runs`` grouped by configuration (``analysis.seeds.group_by_configuration``), in the order
    of each group's first run; ``teachers``: other runs a student may name as its teacher, so the
    students of one configuration taught by each seed's own teacher group together. Each group's
    label is its first run's name without the seed suffix; labels that several groups share get
    the settings in which those groups differ ("nt_xent on digits · epochs 4")."""
    by_id = {r.id: r for r in runs}
    known = {r.id: r.config for r in teachers}
    groups = group_by_configuration({r.id: r.config for r in runs}, teachers={**known, **{i: r.config for i, r in by_id.items()}})
    members = [tuple(by_id[i] for i in g.run_ids) for g in groups]
    labels = [strip_seed_suffix(m[0].name) or m[0].name for m in members]
    for label in {x for x in labels if labels.count(x) > 1}:
        same = [k for k, x in enumerate(labels) if x == label]
        differs = config_differences([configuration(members[k][0].config, teachers=known) for k in same])
        for j, k in enumerate(same):
            parts = [f"{name} {_setting(vals[j])}" for name, vals in differs.items()]
            labels[k] = f"{label} · {', '.join(parts)}" if parts else f"{label} · configuration {j + 1}"
    return [ConfigRuns(lab, m) for lab, m in zip(labels, members, strict=True)]


def _setting(v: object) -> str:
    return "–" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def seed_list(seeds: Sequence[int | None]) -> str:
    """"0, 1, 2" ("–" for a run without a seed)."""
    return ", ".join("–" if s is None else str(s) for s in seeds)


def seed_summaries(groups: Sequence[ConfigRuns], metrics: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Summary]]:
    """Each group's numeric metrics over its runs (``metrics``: run id -> that run's metrics) as
    mean, sd and n (``analysis.seeds.aggregate``)."""
    return [aggregate([metrics.get(r.id, {}) for r in g.runs]) for g in groups]


def seed_table(groups: Sequence[ConfigRuns], metrics: Mapping[str, Mapping[str, Any]],
               columns: Mapping[str, str]) -> pd.DataFrame:
    """One row per configuration: its label, the number of seeds, which seeds, then each metric
    of ``columns`` (metric key -> header) as "mean ± sd" over the seeds ("mean (one seed)" for
    one, "–" where no run has it). Columns no group has are left out."""
    summaries = seed_summaries(groups, metrics)
    shown = [k for k in columns if any(k in s for s in summaries)]
    return pd.DataFrame({
        "configuration": [g.label for g in groups],
        "n seeds": [g.n for g in groups],
        "seeds": [seed_list(g.seeds) for g in groups],
        **{columns[k]: [s[k].text() if k in s else "–" for s in summaries] for k in shown},
    })


def repeated_over_seeds(runs: Sequence[stmod.RunRecord], *, teachers: Sequence[stmod.RunRecord] = ()) -> list[ConfigRuns]:
    """The configurations of ``runs`` that two or more finished (or imported) runs share: runs
    that differ only by seed. Runs still training, failed or cancelled are left out."""
    done = [r for r in runs if r.status in DONE and r.metrics]
    return [g for g in config_groups(done, teachers=teachers) if g.n > 1]
