"""Noise views relative to each embedding's norm (``noise_scale = "relative"``): the formula as a
naive loop, the invariants it implies, and the config field that selects it."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from trainers import registry
from trainers.config import ConfigError, RunConfig
from trainers.losses import noise_view
from trainers.losses.noise import NOISE_SCALES

DT = torch.float64


def naive_noise_view(e: torch.Tensor, eps: float, u: torch.Tensor, scale: str) -> torch.Tensor:
    """e'_i = e_i + sign(e_i) * r_i * u_i / ||u_i||, r_i = eps (absolute) or eps * ||e_i|| (relative),
    one row and one coordinate at a time."""
    out = e.clone()
    for i in range(e.shape[0]):
        e_norm = math.sqrt(sum(float(x) ** 2 for x in e[i]))
        u_norm = math.sqrt(sum(float(x) ** 2 for x in u[i]))
        r = eps * e_norm if scale == "relative" else eps
        for j in range(e.shape[1]):
            s = (float(e[i, j]) > 0) - (float(e[i, j]) < 0)
            out[i, j] = float(e[i, j]) + s * r * float(u[i, j]) / u_norm
    return out


@pytest.mark.parametrize("scale", ["absolute", "relative"])
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.7])
def test_noise_view_matches_the_formula_as_a_loop(scale, eps):
    g = torch.Generator().manual_seed(3)
    e = torch.randn(12, 6, generator=g, dtype=DT) * torch.linspace(0.1, 20.0, 12, dtype=DT)[:, None]  # norms 0.2 .. 50
    e[0, 2] = 0.0  # a zero coordinate gets no noise
    u = torch.rand(e.shape, generator=torch.Generator().manual_seed(9), dtype=DT)  # the draws noise_view makes
    out = noise_view(e, eps, generator=torch.Generator().manual_seed(9), scale=scale)
    assert_close(out, naive_noise_view(e, eps, u, scale))


def test_relative_noise_has_norm_eps_times_the_rows_norm_and_scales_with_it():
    g = torch.Generator().manual_seed(0)
    e = torch.randn(40, 16, generator=g, dtype=DT) * torch.logspace(-2, 2, 40, dtype=DT)[:, None]
    out = noise_view(e, 0.3, generator=torch.Generator().manual_seed(1), scale="relative")
    assert_close((out - e).norm(dim=1), 0.3 * e.norm(dim=1))
    assert torch.equal(torch.sign(out), torch.sign(e))  # same orthant
    # the noise-to-signal ratio does not depend on the embeddings' size: c e -> c e'
    big = noise_view(8.0 * e, 0.3, generator=torch.Generator().manual_seed(1), scale="relative")
    assert_close(big, 8.0 * out)
    # absolute noise does not follow: its norm stays eps whatever the size
    ab = noise_view(8.0 * e, 0.3, generator=torch.Generator().manual_seed(1), scale="absolute")
    assert_close((ab - 8.0 * e).norm(dim=1), torch.full((40,), 0.3, dtype=DT))


def test_relative_noise_is_a_constant_for_autograd():
    e = torch.randn(5, 4, dtype=DT, requires_grad=True)
    out = noise_view(e, 0.5, generator=torch.Generator().manual_seed(2), scale="relative")
    out.sum().backward()
    assert torch.equal(e.grad, torch.ones_like(e))  # the identity: the norm in eps ||e|| is not differentiated


def test_noise_view_refuses_an_unknown_scale():
    with pytest.raises(ValueError, match="scale must be 'absolute' or 'relative', got 'percent'"):
        noise_view(torch.ones(2, 3), 0.1, scale="percent")


def test_the_registry_and_the_loss_name_the_same_scales():
    assert tuple(registry.NOISE_SCALES) == NOISE_SCALES


def test_config_noise_scale_default_round_trip_and_messages():
    assert RunConfig().noise_scale == "absolute"
    cfg = RunConfig.from_dict({"noise_eps": 0.2, "noise_scale": "relative"})
    assert RunConfig.from_json(cfg.to_json()).noise_scale == "relative"
    with pytest.raises(ConfigError) as bad:
        RunConfig.from_dict({"noise_scale": "percent"})
    msg = str(bad.value)
    assert msg.startswith("noise_scale must be 'absolute' or 'relative'") and msg.endswith('got "percent" (text)')
    assert "eps x ||z||" in msg  # says what relative means
    with pytest.raises(ConfigError, match=r"noise_scale must be text \('absolute' or 'relative'\), got 1"):
        RunConfig.from_dict({"noise_scale": 1})
    with pytest.raises(ConfigError, match="noise_scale must be"):
        RunConfig.from_dict({"noise_scale": "Relative"})  # names are exact


def test_the_training_loop_uses_the_configured_scale(store, monkeypatch):
    """A run with noise_scale "relative" draws its noise views with that scale."""
    from jobs import store as st
    from trainers import train
    from trainers.config import RunConfig
    from trainers.losses.noise import noise_view

    scales = []

    def spy(e, eps, *, generator=None, scale="absolute"):
        scales.append(scale)
        return noise_view(e, eps, generator=generator, scale=scale)

    monkeypatch.setattr(train, "noise_view", spy)
    rid = store.create_run(RunConfig(epochs=1, noise_eps=0.1, noise_scale="relative", hidden_dim=32, rep_dim=16,
                                     proj_dim=8, threads=1), status=st.RUNNING)
    train.train_run(store, rid, log=lambda m: None)
    assert scales and set(scales) == {"relative"}
