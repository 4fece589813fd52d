"""Lessons 4 to 8 without the app: their runs are valid configurations of the lab's presets,
their figures carry the numbers they are given, and their sentences and verdicts read the
direction of every comparison off the numbers."""

from __future__ import annotations

import json
import math

import numpy as np
import plotly.io as pio
import pytest

from analysis.lesson_numbers import TauClasses
from trainers.presets import get_preset
from trainers.toy import ToyConfig
from ui import lessons as L
from ui import lessons_more as M
from ui.learn import epoch_lines_figure, probe_bars_figure, tau_class_figure
from ui.learn_widgets import lesson_configs


def spec(fig) -> dict:
    return json.loads(pio.to_json(fig))


def arr(v) -> np.ndarray:
    if isinstance(v, dict) and "bdata" in v:
        import base64

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).astype(float)
    return np.asarray(v, dtype=float)


def test_every_lesson_run_is_a_valid_configuration_from_the_presets():
    for _, cfg in M.DCL_BATCH.runs:
        ToyConfig(**cfg)
    assert [cfg["batch_size"] for _, cfg in M.DCL_BATCH.runs] == [8, 8, 0, 0]
    (iso,) = lesson_configs(M.ISOGCLR)
    assert (iso.loss, iso.imbalance_ratio, iso.temperature) == ("isogclr", 10.0, 0.5)
    assert sorted(c.loss for c in lesson_configs(M.REGRESSION)) == sorted(M.REG_LOSSES)
    msd = lesson_configs(M.DISTILLATION)
    preset = get_preset(M.MSD_PRESET).configs
    assert [c.loss_options for c in msd] == [p["loss_options"] for p in preset]
    assert [M.run_key(c.to_dict()) for c in msd] == list(M.MSD_KEYS)
    assert {c.epochs for c in msd} == {M.MSD_EPOCHS}
    shapes = lesson_configs(M.SHORTCUTS)
    assert [c.aug_colour for c in shapes] == [p["aug_colour"] for p in get_preset(M.SHAPES_PRESET).configs]
    assert [M.run_key(c.to_dict()) for c in shapes] == list(M.SHAPES_KEYS)
    assert {(c.n_samples, c.epochs) for c in shapes} == {(1500, 30)}
    for lesson in (M.DCL_BATCH, M.ISOGCLR, M.REGRESSION, M.DISTILLATION, M.SHORTCUTS):
        assert lesson.try_next and lesson.paper and lesson.latex
        assert len(lesson.question.options) >= 3


def test_the_figures_carry_the_numbers_they_are_given():
    fig = spec(tau_class_figure([3, 1, 2], [50, 20, 5], [0.52, 0.47, 0.41], [0.01, 0.02, 0.03], tau0=0.5, epoch=20))
    (bars,) = fig["data"]
    assert list(bars["x"]) == ["class 3<br>50 samples", "class 1<br>20 samples", "class 2<br>5 samples"]
    assert arr(bars["y"]) == pytest.approx([0.52, 0.47, 0.41])
    assert fig["layout"]["shapes"][0]["y0"] == 0.5
    lines = [{"name": "RnC", "epochs": [0, 2], "values": [0.1, 0.6], "colour": "#1f77b4"},
             {"name": "L1", "epochs": [0, 2], "values": [0.2, 0.5], "colour": "#d62728", "dash": "dot"}]
    fig = spec(epoch_lines_figure(lines, title="t", yaxis="ρ", reference=(math.log(256), "log K")))
    assert [t["name"] for t in fig["data"]] == ["RnC", "L1"]
    assert fig["data"][1]["line"]["dash"] == "dot" and arr(fig["data"][0]["y"]) == pytest.approx([0.1, 0.6])
    assert fig["layout"]["shapes"][0]["y0"] == pytest.approx(math.log(256))
    probes = [("crop only", "#1f77b4", {"colour": 0.98, "x": -0.05}, {"colour": 0.99, "x": -0.04})]
    fig = spec(probe_bars_figure(probes))
    assert [t["name"] for t in fig["data"]] == ["crop only · representation", "crop only · projector output"]
    assert list(fig["data"][0]["x"]) == ["colour (accuracy)", "x position (R²)"]
    assert arr(fig["data"][1]["y"]) == pytest.approx([0.99, -0.04])
    assert fig["layout"]["yaxis"]["range"][0] < -0.05  # a negative R² stays in view


def test_metric_lines_skip_snapshots_without_the_metric():
    snaps = [{"epoch": 0, "metrics": {"a": 1.0}}, {"epoch": 1, "metrics": {}}, {"epoch": 2, "metrics": {"a": 3.0}}]
    (line,) = M.metric_lines([("run", "#000", snaps), ("empty", "#111", [])], "a", suffix=" · x", dash="dot")
    assert line == {"name": "run · x", "legendgroup": "run", "colour": "#000", "dash": "dot", "epochs": [0, 2],
                    "values": [1.0, 3.0]}


def _tau(corr: float, means=(0.52, 0.5, 0.49, 0.47, 0.45, 0.44)) -> TauClasses:
    return TauClasses(classes=np.arange(6), counts=np.array([60, 40, 25, 15, 9, 6]), means=np.array(means),
                      stds=np.full(6, 0.01), correlation=corr, low=0.4, high=0.55)


def test_isogclr_sentences_and_verdict_follow_the_correlation():
    t = _tau(0.63)
    text = M.isogclr_sentences(t, tau0=0.5, epoch=20)
    assert text[0] == "All 155 training samples started at τ = 0.5; at epoch 20 their temperatures range from 0.40 to 0.55."
    assert text[1] == ("The 3 most frequent classes (class (samples): 0 (60), 1 (40), 2 (25)) end with a mean τ_i of "
                       "0.50, higher than the 3 rarest (3 (15), 4 (9), 5 (6)), 0.45.")
    assert text[2] == ("The Spearman correlation between a sample's class size and its τ_i is +0.63 (±1: a strict "
                       "order): the larger a sample's class, the larger its temperature.")
    assert M.isogclr_observed(t)[0] == "frequent"
    assert M.isogclr_observed(_tau(-0.4))[0] == "rare"
    assert M.isogclr_observed(_tau(0.05))[0] == "same"
    assert M.isogclr_observed(_tau(math.nan))[0] == "same"
    ok, said = L.verdict(M.ISOGCLR.question, "rare", *M.isogclr_observed(t))
    assert not ok and said.endswith("That matches “Samples of the frequent classes” instead.")


def _reg(rnc=0.72, supremix=0.61, binned=0.56, l1=0.69) -> dict:
    return {k: {"rank_correlation": v, "rank_correlation_emb": v - 0.1, "knn_mae": 13.0, "linear_mae": 19.0}
            for k, v in zip(M.REG_LOSSES, (binned, supremix, rnc, l1), strict=True)}


def test_regression_sentences_rank_the_losses_and_the_verdict_names_the_best():
    text = M.regression_sentences(_reg(), epoch=50)
    assert text[0] == ("At epoch 50, ordered by rank correlation of the representation: **RnC** ρ = 0.720; "
                       "**L1 regression** ρ = 0.690; **SupReMix** ρ = 0.610; **SupCon on 10 angle bins** ρ = 0.560.")
    assert text[-1] == "RnC's representation is more ordered than SupCon's on bins by +0.160 in ρ."
    assert M.regression_observed(_reg()) == ("rnc", "RnC with ρ = 0.720")
    assert M.regression_observed(_reg(rnc=0.70, l1=0.71)) == ("l1", "L1 regression with ρ = 0.710 (only 0.010 above RnC)")


def _msd(h: float, hmean: float) -> dict:
    return {"teacher_entropy": h, "teacher_mean_entropy": hmean, "entropy_max": math.log(256)}


def test_msd_states_read_collapse_from_the_entropies():
    assert M.msd_state(_msd(5.49, 5.54)) == "uniform"
    assert M.msd_state(_msd(0.13, 0.66)) == "one"
    assert M.msd_state(_msd(2.16, 4.31)) == "healthy"
    final = {"centring": _msd(5.49, 5.54), "sharpening": _msd(0.13, 0.66), "both": _msd(2.16, 4.31)}
    first = {"centring": _msd(4.06, 4.06), "sharpening": _msd(1.56, 1.60), "both": _msd(1.56, 1.60)}
    text = M.msd_sentences(final, first, epoch=60)
    assert text[0].startswith("The teacher has K = 256 outputs (entropy from 0, one output, to log K = 5.55, uniform).")
    assert text[1] == ("**centring only**: the entropy per input rose from 4.06 to 5.49 (about 242 outputs per input), "
                       "the mean distribution's entropy is 5.54 (about 255 outputs in use): every input is spread "
                       "evenly over nearly all outputs: collapse to uniform.")
    assert "the entropy per input fell from 1.56 to 0.13 (about 1 output per input)" in text[2]
    assert text[2].endswith("the inputs crowd onto a few outputs: collapse towards one output.")
    assert text[3].endswith("each input is confident and the inputs use different outputs.")
    assert M.msd_observed(final) == ("uniform", "the centring-only teacher's entropy per input at 5.49 of a maximum "
                                                "of 5.55 (about 242 of 256 outputs per input)")


def _shapes(colour_acc=0.28, crop_acc=0.19, colour_emb=0.86, crop_emb=0.98) -> dict:
    def m(acc, rep, emb):
        return {"knn_accuracy": acc, "factor_probes": {"colour": rep, "background": 0.94},
                "factor_probes_embedding": {"colour": emb, "background": 0.85}}
    return {"colour": m(colour_acc, 0.94, colour_emb), "crop": m(crop_acc, 0.98, crop_emb)}


def test_shapes_sentences_and_verdict_compare_the_two_runs():
    text = M.shapes_sentences(_shapes(), epoch=30)
    assert text[0] == ("At epoch 30 a kNN probe reads the shape from the representation with accuracy 0.280 after "
                       "crop + colour and 0.190 after crops only (chance: 0.167).")
    assert text[1].startswith("**crop + colour**: the colour is read with accuracy 0.940 from the representation and "
                              "0.860 from the projector output (a drop of 0.080)")
    assert "(about the same)" in text[2]
    assert text[3].startswith("The projector output keeps less colour with colour distortion (0.860) than with crops "
                              "alone (0.980): the distortion taught the head to ignore colour")
    assert M.shapes_sentences(_shapes(colour_emb=0.975), epoch=30)[3].endswith("the head did not learn to drop colour.")
    assert M.shapes_observed(_shapes())[0] == "worse"
    assert M.shapes_observed(_shapes(crop_acc=0.35))[0] == "better"
    assert M.shapes_observed(_shapes(crop_acc=0.29))[0] == "same"


def test_dcl_verdict_reads_which_loss_spread_further():
    class Run:  # only what dcl_observed reads
        def __init__(self, u):
            self.uniformity = [-0.3, u]
    runs = {"nt_xent_small": Run(-1.69), "dcl_small": Run(-1.89)}
    assert M.dcl_observed(runs) == ("dcl", "a final uniformity of -1.89 for DCL and -1.69 for NT-Xent with batches of "
                                           "8 points (lower = more evenly spread)")
    assert M.dcl_observed({**runs, "dcl_small": Run(-1.5)})[0] == "nt_xent"
    assert M.dcl_observed({**runs, "dcl_small": Run(-1.71)})[0] == "same"
    assert M.pct(0.254) == "25%" and M.pct(0.0104) == "1.0%" and M.pct(0.0004) == "0.04%"
    share = M.share_of(np.array([0.1, 0.2, 0.3, 0.4]), 8)
    assert share.mean == pytest.approx(0.25) and share.q10 == pytest.approx(np.percentile([0.9, 0.8, 0.7, 0.6], 10))
