"""The best-value rule of the comparison tables."""

from __future__ import annotations

import math

import pytest

from analysis.compare import best_index, best_per_column, metric_goal


@pytest.mark.parametrize(
    ("name", "goal"),
    [("knn_accuracy", "max"), ("linear_accuracy", "max"), ("linear_r2", "max"), ("rank_correlation", "max"),
     ("rankme", "max"), ("alignment", "min"), ("uniformity", "min"), ("knn_mae", "min"), ("linear_mae", "min"),
     ("neighbour_gap", "min"), ("tau_mean", None), ("epoch", None)],
)
def test_metric_goal(name, goal) -> None:
    assert metric_goal(name) == goal


def test_best_index_skips_missing_and_keeps_first_tie() -> None:
    assert best_index([0.2, None, math.nan, 0.9, 0.9], "max") == 3
    assert best_index([0.2, None, math.nan, 0.1, 0.1], "min") == 3
    assert best_index([None, math.nan], "max") is None
    with pytest.raises(ValueError, match="goal"):
        best_index([1.0], "best")


def test_best_per_column_uses_each_metrics_direction() -> None:
    table = {
        "knn_accuracy": [0.8, 0.9, 0.7],
        "alignment": [0.5, 0.9, 0.3],
        "uniformity": [-3.0, -3.8, -2.0],
        "knn_mae": [1.0, None, 0.5],
        "tau_mean": [0.1, 0.2, 0.3],  # no direction: never marked
        "linear_r2": [None, None, None],  # nothing to mark
    }
    assert best_per_column(table) == {"knn_accuracy": 1, "alignment": 2, "uniformity": 1, "knn_mae": 2}
