"""The sphere playground's simulation: what each loss does to the points, in figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis import bounds
from analysis.geometry import alignment, uniformity
from trainers.options import ConfigError
from trainers.toy import (
    CAP,
    ToyConfig,
    simulate,
    toy_inputs,
    uniformity_of_uniform,
    uniformity_optimum,
)


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run(**kw) -> object:
    return simulate(ToyConfig(**kw))


# --------------------------------------------------------------------------- bounds


def test_uniform_distribution_values_match_their_closed_forms_and_a_sample():
    assert uniformity_of_uniform(3) == pytest.approx(math.log((1 - math.exp(-8)) / 8), abs=1e-12)
    assert uniformity_of_uniform(3) == pytest.approx(-2.0798, abs=1e-4)
    assert uniformity_of_uniform(2) == pytest.approx(-1.5750, abs=1e-4)
    rng = np.random.default_rng(0)
    for dim in (2, 3):
        z = rng.standard_normal((4000, dim))
        assert uniformity(z) == pytest.approx(uniformity_of_uniform(dim), abs=0.02)


def test_equally_spaced_points_on_the_circle_reach_the_optimum():
    for n in (100, 200, 500):
        angle = 2 * np.pi * np.arange(n) / n
        z = np.stack([np.cos(angle), np.sin(angle)], 1)
        assert uniformity(z) == pytest.approx(uniformity_optimum(n, 2), abs=1e-9)
    # the N-point optimum lies below the uniform distribution's value and far above the simplex bound
    for dim in (2, 3):
        assert bounds.uniformity_optimum(200) < uniformity_optimum(200, dim) < uniformity_of_uniform(dim)
    assert uniformity_optimum(200, 3) == pytest.approx(-2.1156, abs=1e-4)


# --------------------------------------------------------------------------- what each loss shows


@pytest.mark.parametrize("dim", [2, 3])
def test_uniformity_alone_spreads_the_points_to_the_optimum(dim):
    opt = uniformity_optimum(200, dim)
    free = run(loss="uniform", mode="free", dim=dim)
    assert free.uniformity[0] > -0.5  # they start in a small cap
    # no configuration can go below the optimum; these points end within 0.005 of it, below
    # the uniform distribution's value (better than random points)
    assert opt - 1e-6 <= free.final_uniformity <= opt + 0.005
    assert free.final_uniformity < uniformity_of_uniform(dim)
    # an encoder of 2-D inputs gets close too, limited by its smooth map
    enc = run(loss="uniform", mode="encoder", dim=dim)
    assert enc.uniformity[0] > -0.7
    assert opt - 1e-6 <= enc.final_uniformity <= opt + 0.03


@pytest.mark.parametrize("dim", [2, 3])
def test_alignment_alone_collapses_the_encoder_to_a_point(dim):
    t = run(loss="align", mode="encoder", dim=dim)
    assert t.uniformity[0] < -0.2  # the cap it starts in is spread enough to see the collapse
    assert t.final_uniformity > -1e-3  # log mean exp(-2 |x - y|^2) = 0: every pair at distance 0
    assert t.final_alignment < 1e-4
    final = t.positions[-1]
    assert np.linalg.norm(final - final.mean(0), axis=1).max() < 0.05


@pytest.mark.parametrize("dim", [2, 3])
def test_alignment_plus_uniformity_gives_both(dim):
    t = run(loss="align_uniform", mode="encoder", dim=dim)
    assert t.final_uniformity <= uniformity_optimum(200, dim) + 0.03
    assert t.final_alignment < 0.06
    # uniformity alone ends less aligned: the alignment term is what keeps the views together
    alone = run(loss="uniform", mode="encoder", dim=dim)
    assert t.final_alignment < alone.final_alignment


@pytest.mark.parametrize("mode, gap", [("encoder", 0.1), ("free", 0.02)])
def test_a_lower_temperature_spreads_nt_xent_more(mode, gap):
    cold = run(loss="nt_xent", temperature=0.1, mode=mode)
    warm = run(loss="nt_xent", temperature=1.0, mode=mode)
    assert cold.final_uniformity < warm.final_uniformity - gap


@pytest.mark.parametrize("mode", ["encoder", "free"])
def test_supcon_gathers_each_class(mode):
    t = run(loss="supcon", mode=mode, classes=4)
    p, y = t.positions[-1], t.labels
    d2 = ((p[:, None] - p[None]) ** 2).sum(-1)
    same = (y[:, None] == y[None]) & ~np.eye(len(y), dtype=bool)
    assert d2[same].mean() < 0.01  # each class is (nearly) one point
    assert d2[y[:, None] != y[None]].mean() > 2.0  # and the classes lie far apart (a tetrahedron: 8/3)


@pytest.mark.parametrize("loss", ["nt_xent", "dcl", "supcon", "align", "uniform", "align_uniform"])
@pytest.mark.parametrize("data", ["blobs", "moons", "rings"])
def test_every_loss_lowers_itself_on_every_data_set(loss, data):
    t = run(loss=loss, data=data, steps=60, points=100, batch_size=50)
    assert all(math.isfinite(v) for v in t.loss + t.alignment + t.uniformity)
    assert np.mean(t.loss[-10:]) < np.mean(t.loss[:10])


# --------------------------------------------------------------------------- the trajectory


def test_the_trajectory_records_frames_and_the_metrics_of_every_step():
    cfg = ToyConfig(steps=300, points=200, dim=3)
    t = simulate(cfg)
    assert cfg.interval == 3
    assert t.steps == list(range(0, 301, 3))
    assert t.positions.shape == (101, 200, 3) and t.positions.dtype == np.float32
    assert np.allclose(np.linalg.norm(t.positions, axis=2), 1.0, atol=1e-5)
    assert len(t.loss) == len(t.alignment) == len(t.uniformity) == 301
    assert t.inputs.shape == (200, 2) and t.labels.shape == (200,)
    assert np.bincount(t.labels).tolist() == [50, 50, 50, 50]
    # the recorded uniformity is analysis.geometry's, of the recorded positions
    for k in (0, 50, 100):
        assert t.uniformity[t.steps[k]] == pytest.approx(uniformity(t.positions[k]), abs=1e-6)
    # the untrained encoder maps every point near e_1
    angles = np.arccos(np.clip(t.positions[0][:, 0], -1, 1))
    assert np.sqrt((angles**2).mean()) == pytest.approx(CAP, rel=0.15) and angles.max() < math.pi / 2
    assert t.seconds > 0


def test_free_mode_starts_in_the_cap_and_views_are_noisy_positions():
    t = run(loss="uniform", mode="free", dim=3, noise=0.1, steps=5)
    angles = np.arccos(np.clip(t.positions[0][:, 0], -1, 1))
    assert np.sqrt((angles**2).mean()) == pytest.approx(CAP, rel=0.15)
    assert t.inputs is None
    # two views of a point differ by noise of sd 0.1 in each of the two tangent directions: E|z1 - z2|^2 ~ 4 * 0.01
    assert t.alignment[0] == pytest.approx(0.04, rel=0.2)
    same = run(loss="uniform", mode="free", dim=3, noise=0.0, steps=5)
    assert same.alignment == [0.0] * 6


def test_snapshot_interval_and_last_step():
    t = run(steps=10, snapshot_every=4)
    assert t.steps == [0, 4, 8, 10]
    # automatic: every (steps // 100)-th step, so at least 100 frames and fewer than 200
    assert [ToyConfig(steps=s).interval for s in (50, 150, 250, 300, 1000, 5000)] == [1, 1, 2, 3, 10, 50]
    t = run(steps=250, points=100, loss="align")
    assert t.steps == [*range(0, 251, 2)] and len(t.positions) == 126


def test_alignment_metric_is_that_of_the_views():
    # noise 0: both views are the clean input, so alignment is 0 at every step
    t = run(noise=0.0, steps=20)
    assert t.alignment == [0.0] * 21
    assert alignment(t.positions[0], t.positions[0]) == 0.0


def test_inputs_are_seeded_standardised_and_balanced():
    for data in ("blobs", "moons", "rings"):
        x, y = toy_inputs(data, 200, 5, seed=3)
        assert x.shape == (200, 2) and x.dtype == np.float32
        assert np.allclose(x.mean(0), 0, atol=1e-5) and np.sqrt((x**2).mean()) == pytest.approx(1.0, abs=1e-5)
        assert np.bincount(y).tolist() == [40] * 5
        assert np.array_equal(x, toy_inputs(data, 200, 5, seed=3)[0])
        assert not np.array_equal(x, toy_inputs(data, 200, 5, seed=4)[0])
    # rings: class k sits at radius proportional to k + 1
    x, y = toy_inputs("rings", 300, 3, seed=0)
    r = np.linalg.norm(x - x.mean(0), axis=1)
    means = [r[y == k].mean() for k in range(3)]
    assert means[0] < means[1] < means[2]
    assert means[2] / means[0] == pytest.approx(3.0, rel=0.1)


@pytest.mark.parametrize("mode", ["encoder", "free"])
def test_same_seed_same_trajectory(mode):
    kw = dict(loss="nt_xent", mode=mode, steps=40, points=120, batch_size=40, seed=7)
    a, b = run(**kw), run(**kw)
    assert np.array_equal(a.positions, b.positions)
    assert a.loss == b.loss and a.alignment == b.alignment and a.uniformity == b.uniformity
    c = run(**{**kw, "seed": 8})
    assert not np.array_equal(a.positions, c.positions)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("kw, message", [
    ({"loss": "infonce"}, 'loss must be one of nt_xent, dcl, supcon, align, uniform, align_uniform, got "infonce" (text)'),
    ({"mode": "fixed"}, 'mode must be one of encoder, free, got "fixed"'),
    ({"data": "spiral"}, 'data must be one of blobs, moons, rings, got "spiral"'),
    ({"dim": 4}, "dim: dimension must be 2 (the circle) or 3 (the sphere), got 4"),
    ({"points": 50}, "points: number of points must be an integer between 100 and 500, got 50"),
    ({"points": 200.0}, "write 200 (an integer, no decimal point)"),
    ({"temperature": 0}, "temperature must be > 0"),
    ({"lr": "0.1"}, "write 0.1 without quotes"),
    ({"lr": float("nan")}, "write a finite number"),
    ({"noise": -0.1}, "noise: augmentation noise must be a number in [0, 5], got -0.1"),
    ({"lam": 1000}, "lam: uniformity weight must be a number in [0, 100]"),
    ({"classes": 1}, "classes: number of classes must be an integer between 2 and 10, got 1"),
    ({"steps": 0}, "steps must be an integer between 1 and 5000, got 0"),
    ({"seed": -1}, "seed must be an integer between 0"),
    ({"batch_size": 1}, "a contrastive loss needs negatives"),
    ({"batch_size": 300, "points": 200}, "between 2 and the number of points (200), got 300"),
    ({"snapshot_every": 400, "steps": 300}, "between 1 and the number of steps (300), got 400"),
])
def test_bad_values_say_what_to_write(kw, message):
    with pytest.raises(ConfigError) as e:
        ToyConfig(**kw)
    assert message in str(e.value)


def test_from_dict_refuses_unknown_fields_and_round_trips():
    with pytest.raises(ConfigError, match="unknown toy field.* tau; known: loss, temperature"):
        ToyConfig.from_dict({"tau": 0.1})
    with pytest.raises(ConfigError, match="must be an object"):
        ToyConfig.from_dict([1])
    cfg = ToyConfig(loss="dcl", dim=2, lr=0.05, points=300)
    assert ToyConfig.from_dict(cfg.to_dict()) == cfg
    assert isinstance(ToyConfig(lr=1).lr, float)
    assert cfg.effective_temperature == 0.1 and ToyConfig().effective_temperature == 0.5
    assert ToyConfig(temperature=0.2).effective_temperature == 0.2


def test_the_written_out_adam_matches_torch_optim_adam():
    import torch

    from trainers.toy import _Adam

    g = torch.Generator().manual_seed(0)
    start = [torch.randn(40, generator=g), torch.randn(5, 3, generator=g)]
    mine = [t.clone() for t in start]
    ref = [t.clone().requires_grad_(True) for t in start]
    ours, theirs = _Adam(mine, 0.02), torch.optim.Adam(ref, lr=0.02)
    for _ in range(25):
        grads = [torch.randn(t.shape, generator=g) for t in start]
        ours.step(tuple(grads))
        for p, gr in zip(ref, grads, strict=True):
            p.grad = gr.clone()
        theirs.step()
    for a, b, s in zip(mine, ref, start, strict=True):
        assert torch.allclose(a, b.detach(), rtol=0, atol=1e-7)
        assert not torch.allclose(a, s)  # it moved
