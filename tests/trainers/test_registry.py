"""Every entry of the registry trains: each loss, each dataset with each encoder that reads it,
each distillation kind, built by the loop's own set-up (trainers.train.setup) and stepped once.
And the registry is the one place each thing is said: the config, the CLI and the objectives
read their options, defaults and choices from it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from jobs import store as st
from jobs.cli import main as cli_main
from tests.conftest import FAST
from trainers import registry
from trainers.config import ConfigError, RunConfig
from trainers.objectives import build_objective
from trainers.train import setup, train_run

SMALL = dict(FAST, epochs=1, batch_size=64, hidden_dim=32, rep_dim=16, proj_dim=8)


def _dataset_for(loss: str) -> str:
    return "diabetes" if registry.LOSSES[loss].needs_task == "regression" else "digits"


def _one_step(store, cfg: RunConfig) -> tuple[float, float]:
    """Set the run up as its worker does, take one optimiser step; return (loss, how far the
    encoder's weights moved)."""
    rid = store.create_run(cfg, status=st.RUNNING)
    s = setup(store, rid, log=lambda m: None)
    before = [p.detach().clone() for p in s.model.parameters()]
    idx = torch.arange(s.batch)
    x = torch.cat([s.augment(s.X[idx], s.gens["gen"]) for _ in range(cfg.views)])  # (V*B, F)
    h, z = s.model(x)
    h, z = h.view(cfg.views, s.batch, -1), z.view(cfg.views, s.batch, -1)
    loss = s.objective(z, h, s.Y[idx], idx, x=x.view(cfg.views, s.batch, -1) if s.objective.needs_input else None)
    loss.backward()
    s.opt.step()
    s.objective.after_step()
    moved = sum(float((p.detach() - q).abs().sum()) for p, q in zip(s.model.parameters(), before, strict=True))
    return float(loss.detach()), moved


@pytest.mark.parametrize("loss", sorted(registry.LOSSES))
def test_every_loss_takes_a_training_step(store, loss):
    views = 3 if registry.LOSSES[loss].multiview else 2
    value, moved = _one_step(store, RunConfig(**{**SMALL, "dataset": _dataset_for(loss), "loss": loss, "views": views}))
    assert np.isfinite(value)
    assert moved > 0  # the loss's gradient reached the encoder


@pytest.mark.parametrize(("dataset", "encoder"),
                         [(d, e) for d in sorted(registry.DATASETS) for e in registry.encoders_for_dataset(d)])
def test_every_dataset_trains_with_every_encoder_that_reads_it(store, dataset, encoder):
    spec = registry.DATASETS[dataset]
    loss = "rnc" if spec.task == "regression" else "nt_xent"
    value, moved = _one_step(store, RunConfig(**{**SMALL, "dataset": dataset, "encoder": encoder, "loss": loss,
                                                 "n_samples": 400}))
    assert np.isfinite(value) and moved > 0


@pytest.fixture(scope="module")
def teacher_store(tmp_path_factory):
    store = st.Store(tmp_path_factory.mktemp("teacher") / "store")
    rid = store.create_run(RunConfig(**SMALL), status=st.RUNNING)
    assert train_run(store, rid, log=lambda m: None)["status"] == st.FINISHED
    return store, rid


@pytest.mark.parametrize("kind", sorted(registry.DISTILLERS))
def test_every_distillation_kind_takes_a_training_step(teacher_store, kind):
    store, teacher = teacher_store
    cfg = RunConfig(**{**SMALL, "teacher": teacher, "distill": kind, "rep_dim": 12})  # student narrower than its teacher
    value, moved = _one_step(store, cfg)
    assert np.isfinite(value) and moved > 0


def test_every_code_reference_of_the_registry_resolves():
    refs = [s.objective for s in registry.LOSSES.values()] + [s.fn for s in registry.LOSSES.values() if s.fn]
    refs += [d.source for d in registry.DATASETS.values()] + [e.build for e in registry.ENCODERS.values()]
    for ref in refs:
        assert callable(registry.resolve(ref)), ref


def test_option_defaults_come_from_the_spec(monkeypatch):
    """Changing a default in the registry changes what the objective uses: no other copy."""
    spec = registry.LOSSES["supremix"]
    obj = build_objective("supremix", temperature=0.3, options={}, num_samples=10, rep_dim=4)
    assert obj.kwargs["window"] == spec.options["window"].default
    patched = dataclasses.replace(spec, options={**spec.options,
                                                 "window": dataclasses.replace(spec.options["window"], default=0.25)})
    monkeypatch.setitem(registry.LOSSES, "supremix", patched)
    obj = build_objective("supremix", temperature=0.3, options={}, num_samples=10, rep_dim=4)
    assert obj.kwargs["window"] == 0.25
    assert build_objective("supremix", temperature=0.3, options={"window": 2.0}, num_samples=10, rep_dim=4).kwargs["window"] == 2.0


def test_a_new_loss_spec_is_validated_built_and_offered(monkeypatch):
    """A loss added to the registry alone is accepted by the config with its options checked,
    built by the objectives, and offered for the datasets it can train on."""
    new = registry.LossSpec("nt_xent_copy", "a copy of NT-Xent", 0.2, "selfsup", "trainers.objectives:PairLoss",
                            "trainers.losses:nt_xent",
                            options={"reduction": registry.Rule("reduction", 0, 0, "bool", default=None)})
    monkeypatch.setitem(registry.LOSSES, "nt_xent_copy", new)
    cfg = RunConfig(loss="nt_xent_copy")
    assert cfg.effective_temperature == 0.2
    with pytest.raises(ConfigError, match="nt_xent_copy option reduction must be true or false"):
        RunConfig(loss="nt_xent_copy", loss_options={"reduction": 3})
    assert "nt_xent_copy" in registry.losses_for_dataset("digits")
    z = torch.nn.functional.normalize(torch.randn(2, 8, 4), dim=-1)
    obj = build_objective("nt_xent_copy", temperature=0.2, options={}, num_samples=8, rep_dim=4)
    from trainers.losses import nt_xent

    assert float(obj(z, z, torch.zeros(8), torch.arange(8))) == pytest.approx(float(nt_xent(z[0], z[1], temperature=0.2)))


def test_needs_task_and_distiller_rules_come_from_the_specs():
    with pytest.raises(ConfigError, match="needs a regression dataset"):
        RunConfig(loss="rnc", dataset="digits")
    with pytest.raises(ConfigError, match="cross_entropy needs a classification dataset"):
        RunConfig(loss="cross_entropy", dataset="diabetes")
    with pytest.raises(ConfigError, match="kd distils class probabilities"):
        RunConfig(dataset="diabetes", loss="rnc", teacher="x", distill="kd")
    for kind in registry.DISTILLERS:  # every registry kind is accepted, a kind it lacks is refused with the list
        assert RunConfig(teacher="x", distill=kind).distill == kind
    with pytest.raises(ConfigError, match="unknown distillation loss 'fitnet'; known: .*'rkd'"):
        RunConfig(teacher="x", distill="fitnet")
    assert "kd" not in registry.distillers_for_dataset("diabetes") and "kd" in registry.distillers_for_dataset("digits")
    assert "cross_entropy" not in registry.losses_for_dataset("diabetes")
    assert "rnc" not in registry.losses_for_dataset("digits") and "rnc" in registry.losses_for_dataset("diabetes")


def test_cli_help_lists_every_registry_entry_and_loss_option(capsys):
    with pytest.raises(SystemExit):
        cli_main(["train", "--help"])
    out = capsys.readouterr().out
    for name in [*registry.DATASETS, *registry.ENCODERS, *registry.LOSSES, *registry.DISTILLERS]:
        assert name in out, name
    for loss, opts in registry.loss_options().items():
        for k in opts:
            assert f"{loss}: " in out and k in out, (loss, k)
