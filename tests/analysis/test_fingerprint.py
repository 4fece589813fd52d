"""analysis.fingerprint: the probes of snapshots laid out per space and factor, on metrics with
known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis import fingerprint as fp

METRICS = {
    "knn_accuracy": 0.9, "knn_accuracy_emb": 0.8,
    "factor_probes": {"colour": 1.0, "x": 0.5, "scale": -0.1},
    "factor_probes_embedding": {"colour": 0.2, "x": 0.45, "scale": 0.3},
}


def test_a_fingerprint_puts_the_label_first_then_the_factors_in_order():
    out = fp.fingerprint(METRICS)
    assert list(out) == ["rep", "emb"]
    assert out["rep"] == {"label": 0.9, "colour": 1.0, "x": 0.5, "scale": -0.1}
    assert out["emb"] == {"label": 0.8, "colour": 0.2, "x": 0.45, "scale": 0.3}
    assert list(out["emb"]) == ["label", "colour", "x", "scale"]


def test_no_factor_probes_no_fingerprint_and_missing_values_are_nan():
    assert fp.fingerprint({"knn_accuracy": 0.9}) == {}
    assert fp.fingerprint({"knn_accuracy": 0.9, "factor_probes": {}}) == {}
    assert not fp.has_factor_probes({"factor_probes": None})
    out = fp.fingerprint({"factor_probes": {"x": 0.5}})  # no label probe, no projector probes
    assert math.isnan(out["rep"]["label"]) and out["rep"]["x"] == 0.5
    assert math.isnan(out["emb"]["x"])


def test_baseline_scores_read_the_baseline_command_output():
    raw = {"knn_accuracy": 0.33, "linear_accuracy": 0.2, "factor_probes": {"colour": 1.0, "x": 0.9}}
    assert fp.baseline_scores(raw) == {"label": 0.33, "colour": 1.0, "x": 0.9}
    assert fp.baseline_scores({"knn_accuracy": 0.5}) == {}


def test_factor_order_is_the_union_in_first_seen_order_with_the_label_first():
    assert fp.factor_order([{"x": 1, "label": 0}, {"colour": 1, "x": 2}, {}]) == ["label", "x", "colour"]
    assert fp.factor_order([]) == ["label"]


def test_over_epochs_sorts_the_snapshots_and_skips_those_without_probes():
    later = {**METRICS, "knn_accuracy": 0.95, "factor_probes": {**METRICS["factor_probes"], "x": 0.7}}
    epochs, series = fp.over_epochs([(4, later), (0, METRICS), (2, {"knn_accuracy": 0.1})])
    assert epochs.tolist() == [0, 4]
    np.testing.assert_allclose(series["rep"]["label"], [0.9, 0.95])
    np.testing.assert_allclose(series["rep"]["x"], [0.5, 0.7])
    np.testing.assert_allclose(series["emb"]["colour"], [0.2, 0.2])
    assert list(series["rep"]) == ["label", "colour", "x", "scale"]
    empty_epochs, empty = fp.over_epochs([(0, {"knn_accuracy": 0.5})])
    assert len(empty_epochs) == 0 and list(empty["rep"]) == ["label"] and len(empty["rep"]["label"]) == 0


def test_change_from_baseline_is_the_difference_nan_where_no_baseline():
    out = fp.change_from_baseline({"label": 0.9, "colour": 0.4, "noise": 0.0}, {"label": 0.3, "colour": 1.0})
    assert out["label"] == pytest.approx(0.6) and out["colour"] == pytest.approx(-0.6)
    assert math.isnan(out["noise"])


def test_projector_losses_name_the_factors_the_projector_reads_worse():
    out = fp.projector_losses(fp.fingerprint(METRICS))
    assert out == [("colour", 1.0, 0.2)]  # x drops by 0.05 (under the margin); scale rises
    assert [f for f, _, _ in fp.projector_losses(fp.fingerprint(METRICS), margin=0.01)] == ["colour", "label", "x"]
    assert fp.projector_losses({}) == []
