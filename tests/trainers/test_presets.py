"""Presets: every config is a valid RunConfig; the claim presets are sweeps that name their claim;
the claims benchmark (bench/claims_methods.py) runs end to end on smoke settings."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainers.config import RunConfig
from trainers.presets import PRESETS, get_preset

ROOT = Path(__file__).resolve().parents[2]
METHODS = ROOT.parent / "shared" / "METHODS.md"
CLAIM_PRESETS = [p for p in PRESETS if p.name.startswith("Claim ·")]


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_every_preset_config_is_a_valid_run_config(preset):
    assert preset.configs, "a preset needs at least one config"
    for over in preset.configs:
        cfg = RunConfig.from_dict(dict(over))  # raises ConfigError on a bad field or value
        assert cfg.epochs >= 1


def test_preset_names_are_unique_and_found():
    names = [p.name for p in PRESETS]
    assert len(names) == len(set(names))
    for n in names:
        assert get_preset(n).name == n
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("no such preset")


def test_there_is_a_claim_preset_for_each_method_of_issue_3():
    names = " ".join(p.name for p in CLAIM_PRESETS)
    for needle in ("DCL", "MV-DHEL", "iSogCLR", "SupReMix", "noise"):
        assert needle in names


@pytest.mark.parametrize("preset", CLAIM_PRESETS, ids=lambda p: p.name)
def test_claim_presets_are_sweeps_that_name_their_claim(preset):
    assert preset.is_sweep and len(preset.configs) > 1
    assert preset.claim.strip(), "a claim preset states the METHODS.md claim it reproduces"
    if METHODS.exists():  # the claim is quoted from METHODS.md (whitespace aside)
        text = " ".join(METHODS.read_text().split())
        assert " ".join(preset.claim.split()) in text
    # every run of a sweep is complete: loss, dataset and temperature never come from another run
    for over in preset.configs:
        assert {"loss", "dataset", "temperature", "epochs", "batch_size", "name"} <= set(over)
    assert len({over["name"] for over in preset.configs}) == len(preset.configs)


def test_claims_benchmark_quick_runs_end_to_end_and_prints_a_table():
    t0 = time.monotonic()
    res = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "claims_methods.py"), "--quick", "--claim", "noise", "--jobs", "1", "--no-save"],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    assert "Claim · noise views eps sweep" in out
    assert "uniformity" in out and "kNN acc" in out
    assert "verdict:" in out
    assert time.monotonic() - t0 < 240
