"""bench/claims_shapes.py decides each claim per seed: held on every seed, fragile on some, not held on
none; checked on made-up final metrics (no training)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import claims_shapes as cs  # noqa: E402

RAW = {"knn_accuracy": 0.327, "factor_probes": {"colour": 1.0}}


def _run(name: str, seed: int, shape: float, shape_emb: float, colour: float, colour_emb: float) -> dict:
    return {"config": {"name": name}, "seed": seed, "status": "finished", "extra": {},
            "metrics": {"knn_accuracy": shape, "knn_accuracy_emb": shape_emb, "factor_probes": {"colour": colour},
                        "factor_probes_embedding": {"colour": colour_emb}}}


def test_verdict_words():
    assert cs.verdict([True, True]) == "held"
    assert cs.verdict([True, False]) == "fragile"
    assert cs.verdict([False, False]) == "not held"


def test_colour_claims_are_decided_per_seed():
    seeds = (0, 1, 2)
    runs = []
    for s in seeds:
        runs.append(_run("crop + colour", s, 0.43, 0.47, 0.87, 0.70 if s != 2 else 0.90))  # seed 2: proj keeps more colour
        runs.append(_run("crop only", s, 0.20 if s != 1 else 0.45, 0.2, 0.99, 0.99))  # seed 1: crop only is not worse
    text, rows = cs.analyse_colour(cs.Runs(runs, seeds), RAW)
    assert [r.held.split(" (")[0] for r in rows] == ["fragile", "fragile"]
    assert "2/3 seeds: ✓✗✓" in rows[0].held and "2/3 seeds: ✓✓✗" in rows[1].held
    assert "0.230 / -0.020 / 0.230" in text  # the per-seed shape gains
    assert "raw pixels: shape kNN 0.327, colour kNN 1.000" == rows[0].baseline
    md = cs.markdown(rows, seeds)
    assert md.count("\n| ") == 2 and "`python bench/claims_shapes.py --seeds 0,1,2,3,4 --claim colour`" in md


def test_a_missing_seed_counts_against_the_claim():
    runs = [_run("crop + colour", 0, 0.43, 0.47, 0.87, 0.70), _run("crop only", 0, 0.2, 0.2, 0.99, 0.99)]
    _, rows = cs.analyse_colour(cs.Runs(runs, (0, 1)), RAW)  # seed 1 never ran
    assert rows[0].held.startswith("fragile (1/2 seeds")


@pytest.mark.parametrize("text", ["", "0,0", "a,b"])
def test_bad_seed_lists_are_refused(text):
    with pytest.raises(Exception, match="seeds"):
        cs.parse_seeds(text)
    assert cs.parse_seeds("0,1,2,3,4") == (0, 1, 2, 3, 4)


def test_isogclr_claims_are_decided_per_seed():
    """Temperatures ordered by class frequency on seeds 0 and 1 only; a kNN gain on seed 2 only."""
    seeds = (0, 1, 2)
    runs = []
    for s, (rho, head, tail, gain) in enumerate([(0.6, 0.47, 0.40, -0.01), (0.5, 0.46, 0.41, 0.0), (-0.1, 0.45, 0.46, 0.02)]):
        runs.append({"config": {"name": "isogclr · imbalance 10"}, "seed": s, "status": "finished",
                     "metrics": {"knn_accuracy": 0.40 + gain, "factor_probes": {"colour": 0.9}},
                     "extra": {"tau_freq_spearman": rho, "tau_head": head, "tau_tail": tail}})
        runs.append({"config": {"name": "sogclr · imbalance 10"}, "seed": s, "status": "finished",
                     "metrics": {"knn_accuracy": 0.40, "factor_probes": {"colour": 0.9}}, "extra": {}})
    text, rows = cs.analyse_isogclr(cs.Runs(runs, seeds), RAW)
    assert rows[0].held == "fragile (2/3 seeds: ✓✓✗)"
    assert rows[1].held == "fragile (1/3 seeds: ✗✗✓)"
    assert "Spearman(class frequency, tau_i) 0.60 / 0.50 / -0.10" in text
