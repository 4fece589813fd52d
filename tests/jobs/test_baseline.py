"""``python -m trainers baseline``: the probes of a snapshot on a dataset's raw input, through a
parser built by add_baseline_parser."""

from __future__ import annotations

import argparse
import json
import re

import pytest

from analysis import probes
from jobs.baseline import add_baseline_parser, run_baseline
from trainers import data
from trainers.config import RunConfig


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    p = argparse.ArgumentParser(prog="python -m trainers")
    add_baseline_parser(p.add_subparsers(dest="cmd", required=True))
    code = run_baseline(p.parse_args(["baseline", *argv]))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_shapes_baseline_prints_the_raw_pixel_probes(capsys):
    code, out, _ = _run(["--dataset", "shapes", "--n-samples", "600", "--json"], capsys)
    assert code == 0
    res = json.loads(out)
    d = data.load(RunConfig(dataset="shapes", encoder="cnn_rgb", n_samples=600))
    assert (res["n_train"], res["n_eval"], res["n_features"]) == (len(d.x_train), len(d.x_test), 3 * 20 * 20)
    assert res["options"] == {"n_samples": 600, "n_shapes": 6, "imbalance_ratio": 1.0}
    # the figures are the probes of the raw rows
    assert res["knn_accuracy"] == pytest.approx(probes.knn_accuracy(d.x_train, d.y_train, d.x_test, d.y_test))
    assert res["linear_accuracy"] == pytest.approx(
        probes.linear_probe_accuracy(d.x_train, d.y_train, d.x_test, d.y_test))
    tr, te = d.index_train, d.index_test
    colour = d.factors["colour"]
    assert res["factor_probes"]["colour"] == pytest.approx(
        probes.knn_accuracy(d.x_train, colour[tr], d.x_test, colour[te]))
    scale = d.factors["scale"]
    assert res["factor_probes"]["scale"] == pytest.approx(
        probes.knn_regression_r2(d.x_train, scale[tr], d.x_test, scale[te]))
    assert list(res["factor_probes"]) == list(d.factors)
    # raw pixels read the colour, not the shape
    assert res["factor_probes"]["colour"] > 0.7 > 0.4 > res["knn_accuracy"]


def test_the_dataset_options_shape_the_data(capsys):
    code, out, _ = _run(["--dataset", "shapes", "--n-samples", "300", "--n-shapes", "3", "--json"], capsys)
    res = json.loads(out)
    assert code == 0 and res["options"]["n_shapes"] == 3 and res["n_train"] + res["n_eval"] == 300


def test_regression_and_digits_baselines(capsys):
    code, out, _ = _run(["--dataset", "diabetes", "--few-samples", "100", "--json"], capsys)
    res = json.loads(out)
    assert code == 0 and res["task"] == "regression" and res["n_train"] == 100
    assert {"knn_mae", "knn_r2", "linear_mae", "linear_r2"} <= set(res) and "factor_probes" not in res
    code, out, _ = _run(["--dataset", "digits"], capsys)  # words, not JSON
    assert code == 0 and "raw-input probes of digits (64 features" in out
    acc = float(next(line for line in out.splitlines() if "knn_accuracy" in line).split(":")[1])
    d = data.load(RunConfig())
    assert acc == pytest.approx(probes.knn_accuracy(d.x_train, d.y_train, d.x_test, d.y_test), abs=1e-4)
    assert 0.9 < acc <= 1.0


@pytest.mark.parametrize(("argv", "message"), [
    (["--dataset", "mnist"], "unknown dataset 'mnist'; known datasets: .*shapes"),
    (["--dataset", "digits", "--n-shapes", "4"], "dataset 'digits' does not take n_shapes; its options: imbalance_ratio"),
    (["--dataset", "shapes", "--n-samples", "5"], "n_samples: number of samples must be an integer in \\[100, 200000\\]"),
    (["--dataset", "shapes", "--threads", "-1"], "threads must be"),
])
def test_bad_flags_exit_2_with_one_message(capsys, argv, message):
    code, out, err = _run(argv, capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err


def test_help_lists_the_dataset_fields():
    p = argparse.ArgumentParser(prog="python -m trainers")
    sub = p.add_subparsers(dest="cmd")
    text = add_baseline_parser(sub).format_help()
    for flag in ("--dataset", "--n-samples", "--n-shapes", "--imbalance-ratio", "--few-samples", "--json"):
        assert flag in text
    assert "--aug-colour" not in text  # augmentations do not change the raw input
