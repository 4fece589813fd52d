"""Presets: every config is a valid RunConfig; the claim presets are sweeps that state the claim
docs/claims.md reports on; a sweep expands the Train form into its runs (per-run fields from the
preset, the rest from the form); the claims benchmark (bench/claims_methods.py) runs end to end on
smoke settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from trainers import registry
from trainers.config import ConfigError, RunConfig
from trainers.presets import PRESETS, expand, get_preset, varied_fields

ROOT = Path(__file__).resolve().parents[2]
CLAIMS_DOC = ROOT / "docs" / "claims.md"  # one table row per claim, the claim in its first cell
CLAIM_PRESETS = [p for p in PRESETS if p.name.startswith("Claim ·")]


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_every_preset_config_is_a_valid_run_config(preset):
    assert preset.configs, "a preset needs at least one config"
    for over in preset.configs:
        cfg = RunConfig.from_dict(dict(over))  # raises ConfigError on a bad field or value
        # the run is the one the preset describes: validation keeps every value as written
        assert {k: cfg.to_dict()[k] for k in over} == over


def test_preset_names_are_unique_and_found():
    names = [p.name for p in PRESETS]
    assert len(names) == len(set(names))
    for n in names:
        assert get_preset(n).name == n
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("no such preset")


def test_there_is_a_claim_preset_for_each_method_with_a_claim():
    names = " ".join(p.name for p in CLAIM_PRESETS)
    for needle in ("DCL", "MV-DHEL", "iSogCLR", "SupReMix", "noise"):
        assert needle in names


def _words(text: str) -> str:
    return " ".join(text.split())


def _reported_in(claim: str, doc: str) -> bool:
    """Whether ``doc`` states ``claim`` (whitespace and a final full stop aside): whole, or as
    two claims split at one of its " and "s (docs/claims.md gives each part its own row)."""
    claim = _words(claim).removesuffix(".")
    parts = claim.split(" and ")
    return claim in doc or any(" and ".join(parts[:i]) in doc and " and ".join(parts[i:]) in doc
                               for i in range(1, len(parts)))


@pytest.mark.parametrize("preset", CLAIM_PRESETS, ids=lambda p: p.name)
def test_claim_presets_are_sweeps_that_state_the_claim_the_docs_report(preset):
    assert preset.is_sweep and len(preset.configs) > 1
    assert preset.claim.strip(), "a claim preset states the claim it reproduces"
    # the Train page, the benchmark and docs/claims.md state the same claim (the file is part of
    # the repository: a missing file fails the test)
    assert _reported_in(preset.claim, _words(CLAIMS_DOC.read_text())), preset.claim
    # every run of a sweep is complete: loss, dataset and temperature never come from another run
    for over in preset.configs:
        assert {"loss", "dataset", "temperature", "epochs", "batch_size", "name"} <= set(over)
    assert len({over["name"] for over in preset.configs}) == len(preset.configs)


def test_claims_benchmark_quick_runs_end_to_end_and_prints_a_table():
    res = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "claims_methods.py"), "--quick", "--claim", "noise", "--jobs", "1", "--no-save"],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    assert "Claim · noise views eps sweep" in out
    assert f"claim: {get_preset('Claim · noise views eps sweep').claim}" in out
    assert "uniformity" in out and "kNN acc" in out
    assert "verdict:" in out


def _form(preset, **edits):
    """What the Train form holds for ``preset`` (its first run), with ``edits``."""
    base = {**RunConfig().to_dict(), **preset.configs[0]}
    if base["temperature"] is None:
        base["temperature"] = registry.LOSSES[base["loss"]].temperature
    return {**base, **edits}


def test_varied_fields_are_the_fields_that_differ_between_runs():
    assert varied_fields(get_preset("Claim · DCL vs NT-Xent across batch sizes")) == ["loss", "batch_size", "name"]
    assert varied_fields(get_preset("Claim · noise views eps sweep")) == ["noise_eps", "name"]
    # the loss varies and no run sets a temperature: each run takes its loss's default, so it varies too
    assert varied_fields(get_preset("Compare: NT-Xent vs DCL vs SupCon (digits)")) == ["loss", "temperature", "name"]
    # a temperature that every run sets to the same value is shared
    assert "temperature" not in varied_fields(get_preset("Claim · DCL vs NT-Xent across batch sizes"))
    for p in PRESETS:
        assert (varied_fields(p) == []) == (not p.is_sweep), p.name


def test_expand_applies_edits_of_shared_fields_to_every_run_of_a_sweep():
    p = get_preset("Claim · DCL vs NT-Xent across batch sizes")
    form = _form(p, epochs=3, seed=7, temperature=0.2, batch_size=999, name="edited")
    runs = expand(p, form, group="g · 1")
    assert len(runs) == len(p.configs) == 8
    assert {(c.epochs, c.seed, c.temperature, c.group) for c in runs} == {(3, 7, 0.2, "g · 1")}
    # the fields the preset varies come from the preset, not from the form
    assert [c.batch_size for c in runs] == [32, 32, 64, 64, 128, 128, 256, 256]
    assert [c.loss for c in runs] == ["nt_xent", "dcl"] * 4
    assert [c.name for c in runs] == [o["name"] for o in p.configs]


def test_expand_gives_each_loss_its_default_temperature_when_the_preset_sets_none():
    p = get_preset("Compare: NT-Xent vs DCL vs SupCon (digits)")
    runs = expand(p, _form(p, temperature=0.9, epochs=5))
    assert [c.temperature for c in runs] == [registry.LOSSES[c.loss].temperature for c in runs]
    assert [c.epochs for c in runs] == [5, 5, 5]


def test_expand_launches_a_single_run_preset_as_the_form_says():
    p = get_preset("Digits · DCL")
    (run,) = expand(p, _form(p, loss="nt_xent", epochs=2))
    assert (run.loss, run.epochs, run.group) == ("nt_xent", 2, "")


def test_expand_keeps_group_teacher_references_and_shares_the_epochs():
    p = get_preset("Distillation: KD vs alone with 10% labels")
    teacher, alone, kd, sim = expand(p, _form(p, epochs=4, teacher="someid"), group="g")
    assert (teacher.teacher, alone.teacher, kd.teacher, sim.teacher) == ("", "", "@0", "@0")
    assert (teacher.hidden_dim, kd.hidden_dim, kd.label_fraction, kd.distill) == (512, 32, 0.1, "kd")
    assert {c.epochs for c in (teacher, alone, kd, sim)} == {4}


def test_expand_says_which_run_cannot_run():
    p = get_preset("Compare: NT-Xent vs DCL vs SupCon (digits)")
    with pytest.raises(ConfigError, match=r"run 1 of 3 \(NT-Xent\): .*views"):
        expand(p, _form(p, views=3))
