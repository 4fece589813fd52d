"""The sphere playground's command, its one-shot child process and its warm server."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jobs.toy_cli import (
    ToyServer,
    add_toy_parser,
    decode,
    run_toy,
    simulate_in_subprocess,
    trajectory_dict,
)
from trainers.options import ConfigError
from trainers.toy import ToyConfig, simulate, uniformity_of_uniform, uniformity_optimum

ROOT = Path(__file__).resolve().parents[2]


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m trainers")
    add_toy_parser(p.add_subparsers(dest="cmd", required=True))
    return p.parse_args(["toy", *argv])


@pytest.fixture
def restore_threads():
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_json_holds_every_step_and_the_final_figures(capsys, restore_threads):
    rc = run_toy(parse("--loss", "uniform", "--mode", "free", "--dim", "3", "--points", "200", "--steps", "80",
                       "--seed", "0", "--lr", "0.05", "--json"))
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    for k in ("loss", "alignment", "uniformity"):
        assert len(out[k]) == 81, k
    assert out["final_uniformity"] == out["uniformity"][-1] and out["final_alignment"] == out["alignment"][-1]
    assert out["uniformity_optimum"] == uniformity_optimum(200, 3)
    assert out["uniformity_uniform"] == uniformity_of_uniform(3)
    assert out["uniformity"][0] > -0.5 and out["final_uniformity"] < -2.0  # it spread out
    assert out["loss"][-1] < out["loss"][0]
    assert out["seconds"] > 0 and out["config"]["lr"] == 0.05
    assert "positions_b64" not in out  # only with --positions


def test_flags_reach_the_config_and_the_result_matches_the_function(capsys, restore_threads):
    rc = run_toy(parse("--loss", "nt_xent", "--temperature", "0.2", "--dim", "2", "--points", "120", "--steps", "30",
                       "--mode", "encoder", "--seed", "3", "--data", "moons", "--noise", "0.1", "--lr", "0.03",
                       "--classes", "3", "--batch-size", "60", "--json", "--positions"))
    assert rc == 0
    out = decode(json.loads(capsys.readouterr().out))
    cfg = ToyConfig(loss="nt_xent", temperature=0.2, dim=2, points=120, steps=30, mode="encoder", seed=3, data="moons",
                    noise=0.1, lr=0.03, classes=3, batch_size=60)
    assert out["config"] == cfg.to_dict()
    ref = simulate(cfg)
    assert np.array_equal(out["positions"], ref.positions) and out["positions"].dtype == np.float32
    assert out["loss"] == ref.loss and out["steps"] == ref.steps
    assert np.array_equal(out["labels"], ref.labels) and np.array_equal(out["inputs"], ref.inputs)


def test_text_summary(capsys, restore_threads):
    assert run_toy(parse("--loss", "align", "--steps", "20", "--points", "100")) == 0
    text = capsys.readouterr().out
    assert "align: 20 steps of 100 points on the sphere (encoder mode)" in text
    assert "uniformity" in text and "optimum -2.1" in text


@pytest.mark.parametrize("argv, message", [
    (("--loss", "infonce"), 'loss must be one of nt_xent, dcl, supcon, align, uniform, align_uniform, got "infonce"'),
    (("--temperature", "0"), "temperature must be > 0"),
    (("--dim", "4"), "dim: dimension must be 2 (the circle) or 3 (the sphere), got 4"),
    (("--points", "20"), "points: number of points must be an integer between 100 and 500, got 20"),
    (("--mode", "fixed"), 'mode must be one of encoder, free, got "fixed"'),
    (("--data", "spiral"), 'data must be one of blobs, moons, rings, got "spiral"'),
    (("--steps", "0"), "steps must be an integer between 1 and 5000, got 0"),
    (("--lr", "nan"), "write a finite number"),
    (("--threads", "0"), "threads must be an integer between 1 and 256, got 0"),
])
def test_bad_values_exit_2_with_one_message(capsys, argv, message):
    assert run_toy(parse(*argv, "--json")) == 2
    err = capsys.readouterr()
    assert err.out == ""
    lines = err.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err.err


def test_a_value_of_the_wrong_type_exits_2_from_the_parser(capsys):
    with pytest.raises(SystemExit) as e:
        parse("--points", "many")
    assert e.value.code == 2
    assert "argument --points: invalid int value: 'many'" in capsys.readouterr().err


def test_trajectory_dict_round_trips_through_json():
    t = simulate(ToyConfig(mode="free", steps=12, points=100, snapshot_every=5))
    back = decode(json.loads(json.dumps(trajectory_dict(t))))
    assert np.array_equal(back["positions"], t.positions) and back["positions"].shape == (4, 100, 3)
    assert back["steps"] == [0, 5, 10, 12] and back["inputs"] is None
    assert back["uniformity"] == t.uniformity


# --------------------------------------------------------------------------- child processes


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def _kill(pid: int | None) -> None:
    if pid is not None and _alive(pid):
        os.kill(pid, signal.SIGKILL)


def test_the_module_loads_without_torch():
    code = "import sys, jobs.toy_cli, trainers.toy; print('torch' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"


def test_simulate_in_subprocess_returns_the_trajectory(restore_threads):
    cfg = {"loss": "dcl", "dim": 3, "points": 100, "steps": 25, "seed": 5, "mode": "free"}
    out = simulate_in_subprocess(cfg, timeout=120)
    ref = simulate(ToyConfig(**cfg))
    assert np.array_equal(out["positions"], ref.positions)
    assert out["loss"] == ref.loss and out["uniformity"] == ref.uniformity
    assert out["final_uniformity"] == ref.final_uniformity


def test_simulate_in_subprocess_refuses_a_bad_config_and_a_timeout():
    with pytest.raises(ConfigError, match="points: number of points"):
        simulate_in_subprocess({"points": 5})
    with pytest.raises(ConfigError, match="unknown toy field"):
        simulate_in_subprocess({"tau": 0.1})
    with pytest.raises(TimeoutError, match="longer than 0.05 s"):
        simulate_in_subprocess({"steps": 100}, timeout=0.05)


@pytest.fixture(scope="module")
def server():
    s = ToyServer()
    s.start()
    pids = [s.pid]
    yield s, pids
    s.stop()
    for pid in pids:
        _kill(pid)


def test_the_server_answers_requests_like_the_function(server, restore_threads):
    s, _ = server
    assert s.running and _alive(s.pid) and s.start_seconds > 0
    pid = s.pid
    for cfg in ({"loss": "nt_xent", "steps": 20, "points": 100},
                {"loss": "supcon", "dim": 2, "steps": 15, "points": 150, "mode": "free", "seed": 2}):
        out = s.request(cfg)
        ref = simulate(ToyConfig(**cfg))
        assert np.array_equal(out["positions"], ref.positions)
        assert out["loss"] == ref.loss and out["alignment"] == ref.alignment
        assert out["uniformity_optimum"] == uniformity_optimum(ref.config.points, ref.config.dim)
    assert s.pid == pid  # one warm process served both


def test_the_server_refuses_a_bad_config_and_stays_up(server):
    s, _ = server
    with pytest.raises(ConfigError, match="loss must be one of"):
        s.request({"loss": "infonce"})
    assert s.running
    assert s.request({"steps": 3, "points": 100})["positions"].shape == (4, 100, 3)


def test_a_request_that_times_out_stops_the_child_and_the_next_one_starts_another(server):
    s, pids = server
    old = s.pid
    with pytest.raises(TimeoutError, match="no answer within"):
        s.request({"steps": 3000, "points": 500}, timeout=0.2)
    assert not s.running and not _alive(old)
    assert s.request({"steps": 2, "points": 100})["loss"]  # started again
    pids.append(s.pid)
    assert s.pid != old and s.running


def test_stop_ends_the_child():
    s, pid = ToyServer(), None
    try:
        s.start()
        pid = s.pid
        assert _alive(pid)
        s.stop()
        assert not s.running and s.pid is None and not _alive(pid)
    finally:
        s.stop()
        _kill(pid)
