"""What a representation keeps of each factor of variation: the factor probes of snapshots,
laid out per space and per factor, next to the same probes on the raw input.

A snapshot of a dataset with factors (the shapes world) holds, in its metrics, the held-out
kNN probes (k = 20, cosine) of the label (``knn_accuracy`` on the representation,
``knn_accuracy_emb`` on the projector output) and of every factor (``factor_probes`` and
``factor_probes_embedding``): the accuracy of a class factor, the R^2 of a numeric one.
``python -m trainers baseline --json`` gives the same probes on the raw input rows
(``knn_accuracy``, ``factor_probes``). The functions here read those mappings; they compute
no probe themselves.

A *fingerprint* is ``{space: {factor: score}}`` with the spaces :data:`SPACES` and the label
under the name :data:`LABEL`, first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

LABEL = "label"  # the label's kNN accuracy, as a factor among the others
SPACES = ("rep", "emb")  # representation (encoder output), projector output
_LABEL_KEY = {"rep": "knn_accuracy", "emb": "knn_accuracy_emb"}
_FACTOR_KEY = {"rep": "factor_probes", "emb": "factor_probes_embedding"}


def has_factor_probes(metrics: Mapping[str, Any]) -> bool:
    """Whether a snapshot's metrics hold factor probes (datasets with factors of variation)."""
    probes = metrics.get("factor_probes")
    return isinstance(probes, Mapping) and len(probes) > 0


def _score(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def fingerprint(metrics: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """The probes of one snapshot, ``{space: {factor: score}}``: the label first (its kNN
    accuracy), then the factors in the order the snapshot lists them. A value the metrics
    lack is NaN. Empty for a snapshot without factor probes."""
    if not has_factor_probes(metrics):
        return {}
    out: dict[str, dict[str, float]] = {}
    for space in SPACES:
        probes = metrics.get(_FACTOR_KEY[space])
        probes = probes if isinstance(probes, Mapping) else {}
        row = {LABEL: _score(metrics.get(_LABEL_KEY[space]))}
        for name in metrics["factor_probes"]:
            row[str(name)] = _score(probes.get(name))
        out[space] = row
    return out


def baseline_scores(baseline: Mapping[str, Any]) -> dict[str, float]:
    """The raw-input probes of ``python -m trainers baseline --json`` as ``{factor: score}``:
    the label's kNN accuracy first, then each factor. Empty when it has no factor probes."""
    if not has_factor_probes(baseline):
        return {}
    return {LABEL: _score(baseline.get("knn_accuracy")),
            **{str(k): _score(v) for k, v in baseline["factor_probes"].items()}}


def factor_order(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The factors of several fingerprint rows (``{factor: score}``), each once, in the order
    they first appear, the label first."""
    names: dict[str, None] = {LABEL: None}
    for row in rows:
        names.update(dict.fromkeys(str(k) for k in row))
    return list(names)


def over_epochs(snapshots: Sequence[tuple[int, Mapping[str, Any]]]) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
    """The probes of a run's snapshots (``(epoch, metrics)`` pairs, in any order) over epochs.

    Returns ``(epochs, series)``: ``epochs`` (E,) ascending, of the snapshots with factor probes;
    ``series[space][factor]`` (E,) the score at each of those epochs (NaN where a snapshot
    lacks that factor)."""
    fps = sorted(((int(e), fingerprint(m)) for e, m in snapshots), key=lambda t: t[0])
    fps = [(e, fp) for e, fp in fps if fp]
    epochs = np.array([e for e, _ in fps], dtype=np.int64)
    names = factor_order(fp[s] for _, fp in fps for s in SPACES)
    series = {space: {name: np.array([fp[space].get(name, np.nan) for _, fp in fps], dtype=np.float64)
                      for name in names}
              for space in SPACES}
    return epochs, series


def change_from_baseline(scores: Mapping[str, float], baseline: Mapping[str, float]) -> dict[str, float]:
    """``scores[f] - baseline[f]`` for each factor of ``scores`` (NaN where the baseline has none):
    above zero, the space makes the factor easier to read by its neighbours than the raw input
    does; below zero, it has discarded some of it."""
    return {k: float(v) - float(baseline.get(k, np.nan)) for k, v in scores.items()}


def projector_losses(fp: Mapping[str, Mapping[str, float]], *, margin: float = 0.1) -> list[tuple[str, float, float]]:
    """The factors that the projector output reads worse than the representation by more than
    ``margin`` (an accuracy or an R^2), as ``(factor, representation score, projector score)``,
    the largest drop first. Empty when the fingerprint has no spaces."""
    if not fp or any(s not in fp for s in SPACES):
        return []
    rep, emb = fp["rep"], fp["emb"]
    out = [(k, float(rep[k]), float(emb[k])) for k in rep
           if k in emb and np.isfinite(rep[k]) and np.isfinite(emb[k]) and rep[k] - emb[k] > margin]
    return sorted(out, key=lambda t: t[2] - t[1])
