"""Which run is best on each metric: the direction of every metric the lab reports.

Used by the Compare and Ordinality pages to mark the best value per column of a table
of final metrics. Higher is better for accuracies, R^2, rank correlations and effective
ranks; lower is better for alignment, uniformity, errors (MAE) and the neighbour target
gap. A metric not listed here has no direction and is never marked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = ["HIGHER_IS_BETTER", "LOWER_IS_BETTER", "metric_goal", "best_index", "best_per_column",
           "config_differences"]

HIGHER_IS_BETTER = frozenset({
    "knn_accuracy", "knn_accuracy_emb", "linear_accuracy", "linear_r2",
    "rank_correlation", "rank_correlation_emb", "rankme", "rankme_emb",
    "erank_cov_rep", "erank_cov_emb",
})  # fmt: skip
LOWER_IS_BETTER = frozenset({
    "alignment", "uniformity", "uniformity_clean", "knn_mae", "linear_mae", "neighbour_gap",
})  # fmt: skip


def metric_goal(name: str) -> str | None:
    """``"max"``, ``"min"`` or ``None`` (no direction) for a metric key of a snapshot.

    Accuracies, R^2, rank correlation and RankMe: max. Alignment, uniformity, MAE and
    the neighbour target gap: min. Names ending in ``_mae`` or ``_accuracy`` follow
    the rule of their family.
    """
    if name in HIGHER_IS_BETTER or name.endswith("_accuracy"):
        return "max"
    if name in LOWER_IS_BETTER or name.endswith("_mae"):
        return "min"
    return None


def best_index(values: Sequence[float | None], goal: str) -> int | None:
    """Position of the best finite value (``goal`` "max" or "min"); first one on ties.

    ``None`` and NaN entries are skipped; returns ``None`` when no value is finite.
    """
    if goal not in ("max", "min"):
        raise ValueError(f"goal must be 'max' or 'min'; got {goal!r}.")
    best: int | None = None
    for i, v in enumerate(values):
        if v is None or not math.isfinite(float(v)):
            continue
        if best is None or (float(v) > float(values[best]) if goal == "max" else float(v) < float(values[best])):  # type: ignore[arg-type]
            best = i
    return best


def best_per_column(table: Mapping[str, Sequence[float | None]]) -> dict[str, int]:
    """For each metric column with a direction, the row position of its best value.

    Parameters
    ----------
    table : mapping metric key -> one value per run (None / NaN where missing)

    Returns
    -------
    dict metric key -> row position; columns without a direction (see
    :func:`metric_goal`), or without any finite value, are left out.
    """
    out: dict[str, int] = {}
    for name, values in table.items():
        goal = metric_goal(name)
        if goal is None:
            continue
        i = best_index(list(values), goal)
        if i is not None:
            out[name] = i
    return out


def config_differences(configs: Sequence[Mapping[str, object]], *,
                       ignore: frozenset[str] = frozenset({"name", "group", "teacher", "threads", "device"})
                       ) -> dict[str, list[object]]:
    """The settings that differ between runs: key -> one value per config (``None`` where a
    config lacks the key), for every key whose values are not all equal, in the order of
    the first config's keys. Tells apart runs whose names are alike (a sweep's runs). Settings
    that do not change what is learned (threads, device) and names are ignored."""
    keys = list(dict.fromkeys(k for c in configs for k in c if k not in ignore))
    out: dict[str, list[object]] = {}
    for k in keys:
        vals = [c.get(k) for c in configs]
        if any(v != vals[0] for v in vals[1:]):
            out[k] = vals
    return out
