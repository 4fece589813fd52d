"""Runs over seeds: grouping by configuration, mean ± sd of the final metrics, and the paired
difference of two configurations with its Student-t interval (by hand and against scipy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis.seeds import (
    aggregate,
    configuration_key,
    group_by_configuration,
    numeric_metrics,
    paired_difference,
    parse_seeds,
    strip_seed_suffix,
    summarise,
    summarise_by_epoch,
)

BASE = {"dataset": "digits", "loss": "nt_xent", "epochs": 4, "temperature": 0.5, "teacher": "", "threads": 0}


def test_summary_by_hand() -> None:
    # 0.90, 0.92, 0.97: mean 2.79 / 3 = 0.93; squared deviations 0.0009 + 0.0001 + 0.0016 = 0.0026;
    # sd = sqrt(0.0026 / (3 - 1)) = sqrt(0.0013)
    s = summarise([0.90, 0.92, 0.97])
    assert s.n == 3 and not s.single_seed
    assert s.mean == pytest.approx(0.93, abs=1e-12)
    assert s.sd == pytest.approx(math.sqrt(0.0013), abs=1e-12)
    assert s.sd == pytest.approx(0.0360555127546, abs=1e-12)
    assert s.text() == "0.930 ± 0.036"


def test_summary_of_one_seed_has_no_spread() -> None:
    s = summarise([0.8])
    assert s.single_seed and s.mean == 0.8 and math.isnan(s.sd)
    assert s.text() == "0.800 (one seed)"
    with pytest.raises(ValueError, match="at least one"):
        summarise([])
    with pytest.raises(ValueError, match="finite"):
        summarise([1.0, math.nan])


def test_paired_difference_by_hand() -> None:
    a = {0: 0.90, 1: 0.92, 2: 0.97}
    b = {2: 0.89, 0: 0.85, 1: 0.90, 5: 0.50}  # seed 5 has no partner: left out
    d = paired_difference(a, b)
    # d = 0.05, 0.02, 0.08: mean 0.05; deviations 0, -0.03, 0.03; sd = sqrt(0.0018 / 2) = 0.03
    # Student's t with 2 degrees of freedom has the closed-form quantile t_p = (2p - 1) sqrt(2 / (4p(1 - p))):
    # t_{0.975, 2} = 0.95 sqrt(2 / 0.0975) = 4.3026527...; half width = t · 0.03 / sqrt(3)
    t = 0.95 * math.sqrt(2 / (4 * 0.975 * 0.025))
    assert t == pytest.approx(4.30265273, abs=1e-8)
    half = t * 0.03 / math.sqrt(3)
    assert d.seeds == (0, 1, 2) and d.n == 3 and not d.single_seed
    assert d.mean == pytest.approx(0.05, abs=1e-12)
    assert d.sd == pytest.approx(0.03, abs=1e-12)
    assert (d.low, d.high) == (pytest.approx(0.05 - half, abs=1e-12), pytest.approx(0.05 + half, abs=1e-12))
    assert d.low == pytest.approx(-0.0245241, abs=1e-6)
    assert d.text() == "+0.050 [95% CI -0.025, +0.125] over 3 seeds"


@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.99])
@pytest.mark.parametrize("n", [2, 3, 7])
def test_paired_difference_matches_scipy_ttest_rel(n: int, confidence: float) -> None:
    rng = np.random.default_rng(n)
    xa, xb = rng.normal(0.9, 0.02, n), rng.normal(0.88, 0.02, n)
    d = paired_difference(dict(enumerate(xa)), dict(enumerate(xb)), confidence=confidence)
    ci = stats.ttest_rel(xa, xb).confidence_interval(confidence)
    assert d.low == pytest.approx(ci.low, rel=1e-10) and d.high == pytest.approx(ci.high, rel=1e-10)
    assert d.mean == pytest.approx(np.mean(xa - xb)) and d.sd == pytest.approx(np.std(xa - xb, ddof=1))


def test_paired_difference_of_one_seed_is_marked() -> None:
    d = paired_difference({3: 0.9, 4: 0.8}, {3: 0.85})
    assert d.single_seed and d.n == 1 and d.seeds == (3,)
    assert d.mean == pytest.approx(0.05) and math.isnan(d.low) and math.isnan(d.high)
    assert d.text() == "+0.050 (one seed: no error bar)"
    with pytest.raises(ValueError, match="no shared seed"):
        paired_difference({0: 1.0}, {1: 1.0})
    with pytest.raises(ValueError, match="between 0 and 1"):
        paired_difference({0: 1.0, 1: 2.0}, {0: 1.0, 1: 1.0}, confidence=95)


def test_configuration_ignores_seed_name_group_only() -> None:
    a = {**BASE, "seed": 0, "name": "x · seed 0", "group": "g1", "threads": 4}
    b = {**BASE, "seed": 1, "name": "other", "group": "g2"}
    assert configuration_key(a) == configuration_key(b)
    assert configuration_key(a) != configuration_key({**b, "temperature": 0.2})
    assert configuration_key(a) != configuration_key({**b, "loss_options": {"window": 0.5}})


def test_group_by_configuration_sorts_by_seed_and_keeps_first_seen_order() -> None:
    configs = {
        "r1": {**BASE, "seed": 2}, "r2": {**BASE, "seed": 0, "loss": "dcl"}, "r3": {**BASE, "seed": 0},
        "r4": {**BASE, "seed": 1}, "r5": {**BASE, "seed": 1, "loss": "dcl"}, "r6": {**BASE, "epochs": 9},
    }
    groups = group_by_configuration(configs)
    assert [(g.run_ids, g.seeds) for g in groups] == [
        (("r3", "r4", "r1"), (0, 1, 2)), (("r2", "r5"), (0, 1)), (("r6",), (None,)),
    ]
    assert [g.n for g in groups] == [3, 2, 1]


def test_students_of_each_seeds_teacher_share_a_configuration() -> None:
    teacher = {**BASE, "loss": "supcon"}
    configs = {"t0": {**teacher, "seed": 0}, "t1": {**teacher, "seed": 1},
               "s0": {**BASE, "seed": 0, "teacher": "t0", "distill": "kd"},
               "s1": {**BASE, "seed": 1, "teacher": "t1", "distill": "kd"},
               "x": {**BASE, "seed": 1, "teacher": "other-run", "distill": "kd"}}
    groups = group_by_configuration(configs)
    assert [g.run_ids for g in groups] == [("t0", "t1"), ("s0", "s1"), ("x",)]


def test_numeric_metrics_flattens_factor_probes_and_drops_the_rest() -> None:
    m = {"knn_accuracy": 0.9, "epoch": 4, "note": "x", "flag": True, "missing": None, "bad": math.nan,
         "factor_probes": {"colour": 0.7, "position": 0.2}}
    assert numeric_metrics(m) == {"knn_accuracy": 0.9, "factor_probes.colour": 0.7, "factor_probes.position": 0.2}


def test_aggregate_over_seeds() -> None:
    runs = [{"knn_accuracy": 0.90, "alignment": 0.6, "factor_probes": {"colour": 0.5}},
            {"knn_accuracy": 0.92, "alignment": 0.7, "factor_probes": {"colour": 0.7}},
            {"knn_accuracy": 0.97, "alignment": 0.8}]
    agg = aggregate(runs)
    assert list(agg) == ["knn_accuracy", "alignment", "factor_probes.colour"]
    assert agg["knn_accuracy"].mean == pytest.approx(0.93) and agg["knn_accuracy"].sd == pytest.approx(math.sqrt(0.0013))
    assert agg["alignment"].mean == pytest.approx(0.7) and agg["alignment"].sd == pytest.approx(0.1)  # sqrt(0.02 / 2)
    # sd of 0.5, 0.7 with n - 1 = 1: sqrt((0.1² + 0.1²) / 1) = sqrt(0.02)
    assert agg["factor_probes.colour"].n == 2 and agg["factor_probes.colour"].sd == pytest.approx(math.sqrt(0.02))


def test_strip_seed_suffix() -> None:
    assert strip_seed_suffix("NT-Xent · seed 12") == "NT-Xent"
    assert strip_seed_suffix("seed 3 study") == "seed 3 study"


def test_summarise_by_epoch_counts_the_seeds_of_each_epoch() -> None:
    # seed 0 and seed 1 at epochs 0, 2; seed 2 still training (epoch 0 only); a NaN is left out
    by = summarise_by_epoch([{0: 0.1, 2: 0.8}, {0: 0.3, 2: 0.9, 4: math.nan}, {0: 0.5}])
    assert list(by) == [0, 2]
    assert by[0].n == 3 and by[0].mean == pytest.approx(0.3) and by[0].sd == pytest.approx(0.2)  # sqrt(0.08 / 2)
    assert by[2].n == 2 and by[2].mean == pytest.approx(0.85) and by[2].sd == pytest.approx(math.sqrt(0.005))


@pytest.mark.parametrize(("text", "seeds"), [("0,1,2", [0, 1, 2]), (" 3 5-7 ", [3, 5, 6, 7]), ("9", [9]),
                                             ("2;0", [2, 0])])
def test_parse_seeds(text: str, seeds: list[int]) -> None:
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(("text", "message"), [
    ("", "no seeds"), ("a", "not a whole number"), ("-1", "not a whole number"), ("1.5", "not a whole number"),
    ("1,1", "seed 1 is given twice"), ("0-2,2", "seed 2 is given twice"), ("5-2", "runs backwards"),
    ("0-200", "too many seeds"), ("4294967296", "too large"),
])
def test_parse_seeds_refuses_with_a_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_seeds(text)
