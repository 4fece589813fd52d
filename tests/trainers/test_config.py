import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trainers import data, registry
from trainers.config import BUNDLED_TRAIN_CLASS_SIZES, LOSS_OPTIONS, ConfigError, RunConfig
from trainers.objectives import build_objective
from trainers.presets import PRESETS

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_valid_and_roundtrip():
    c = RunConfig()
    assert c.effective_temperature == registry.LOSSES["nt_xent"].temperature
    assert RunConfig.from_json(c.to_json()) == c


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"temperature": -1.0}, "temperature must be > 0"),
        ({"batch_size": 1}, "batch size must be at least 2"),
        ({"dataset": "mnist_xl"}, "unknown dataset 'mnist_xl'; known datasets: "),
        ({"loss": "triplet"}, "unknown loss 'triplet'; known losses: "),
        ({"encoder": "vit"}, "unknown encoder 'vit'"),
        ({"lr": 0.0}, "learning rate must be > 0"),
        ({"epochs": 10**6}, "epochs must be between 1 and"),
        ({"epochs": 0}, "epochs must be between 1 and"),
        ({"views": 4}, "uses exactly 2 views"),
        ({"loss": "rnc"}, "needs a regression dataset"),
        ({"dataset": "wine", "encoder": "cnn"}, "cannot read dataset 'wine'"),
    ],
)
def test_bad_configs_are_refused_with_a_message(changes, fragment):
    with pytest.raises(ConfigError) as e:
        RunConfig(**changes)
    assert fragment in str(e.value)


def test_unknown_loss_lists_known_ones():
    with pytest.raises(ValueError) as e:
        RunConfig(loss="nope")
    for name in ("nt_xent", "dcl", "supcon"):
        assert name in str(e.value)


def test_unknown_field_is_named():
    with pytest.raises(ConfigError, match="unknown configuration field"):
        RunConfig.from_dict({"epochz": 3})


def test_snapshot_schedule_pow2_and_last():
    assert RunConfig(epochs=50).snapshot_epochs() == [0, 1, 2, 4, 8, 16, 32, 50]
    assert RunConfig(epochs=8).snapshot_epochs() == [0, 1, 2, 4, 8]
    assert RunConfig(epochs=10, snapshot_every="5").snapshot_epochs() == [0, 5, 10]


# --------------------------------------------------------------------------- total validation of user input

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "given, field, fragment",
    [
        # values of the wrong JSON type: a ConfigError that names the field, never a TypeError or AttributeError
        ([{"loss": "dcl"}], "configuration", "must be a JSON object of fields"),
        ("dcl", "configuration", "got \"dcl\" (text)"),
        (None, "configuration", "got null"),
        ({"dataset": ["digits"]}, "dataset", "must be text, got [\"digits\"] (a list)"),
        ({"loss": {"name": "dcl"}}, "loss", "must be text"),
        ({"lr": "0.1"}, "lr", "got \"0.1\" (text): write 0.1 without quotes"),
        ({"epochs": "20"}, "epochs", "write 20 without quotes"),
        ({"temperature": "warm"}, "temperature", "got \"warm\" (text): write a number"),
        ({"teacher": None}, "teacher", "must be text (a run id"),
        ({"name": {"a": 1}}, "name", "must be text"),
        ({"snapshot_every": 5}, "snapshot_every", "write \"5\" in quotes"),
        ({"loss_options": [1, 2]}, "loss_options", "must be an object"),
        ({"epochs": True}, "epochs", "not true or false"),
        ({"epochs": 50.0}, "epochs", "write 50 (an integer, no decimal point)"),
        ({"batch_size": 12.5}, "batch_size", "write a whole number"),
        ({"views": [2]}, "views", "write a single number"),
        # values of the right type that cannot run
        ({"seed": -1}, "seed", "an integer between 0 and 4294967295"),
        ({"seed": 2**64}, "seed", "got 18446744073709551616"),
        ({"weight_decay": NAN}, "weight_decay", "got nan: write a finite number"),
        ({"lr": INF}, "lr", "write a finite number"),
        ({"lr": 1e300}, "lr", "between 1e-06 and 10"),
        ({"lr": 10**400}, "lr", "an integer of 401 digits"),
        ({"temperature": 1e-30}, "temperature", "between 0.001 and 100"),
        ({"temperature": -INF}, "temperature", "finite"),
        ({"aug_strength": NAN}, "aug_strength", "finite"),
        ({"noise_eps": 1e9}, "noise_eps", "in [0, 100]"),
        ({"few_samples": 1}, "few_samples", "0 (all) or at least 2"),
        ({"label_fraction": NAN}, "label_fraction", "finite"),
        ({"threads": -1}, "threads", "an integer in [0, 4096]"),
        ({"snapshot_every": "0"}, "snapshot_every", "'pow2' or an epoch interval"),
        ({"snapshot_every": " 5"}, "snapshot_every", "'pow2' or an epoch interval"),
        ({"device": "tpu"}, "device", "device must be one of auto, cpu, cuda, mps"),
        # loss options: names and values checked against what the loss reads
        ({"loss_options": {"window": 0.5}}, "window", "unknown nt_xent option(s) window: nt_xent takes no options"),
        ({"loss_options": {"": 1}}, "loss option", "non-empty text, got \"\""),
        ({"loss": "isogclr", "loss_options": {"tau_min": 2}}, "tau_min", "tau_min (2) must be <= tau_max (1)"),
        ({"loss": "isogclr", "loss_options": {"tau_min": 0.6}}, "tau_min",
         "temperature (0.5), which must lie in [tau_min, tau_max] = [0.6, 1]"),
        ({"loss": "isogclr", "loss_options": {"gamma": 0}}, "gamma", "isogclr option gamma must be a number in (0, 1]"),
        ({"loss": "isogclr", "loss_options": {"rho": "0.4"}}, "rho", "write 0.4 without quotes"),
        ({"loss": "sogclr", "loss_options": {"tau_min": 0.1}}, "tau_min", "unknown sogclr option(s) tau_min; known: gamma"),
        ({"loss": "sogclr", "temperature": 0.005}, "temperature", "at least 0.012 for sogclr"),
        ({"dataset": "diabetes", "loss": "supremix", "loss_options": {"window": 0}}, "window", "must be a number in (0, 100]"),
        ({"dataset": "diabetes", "loss": "supremix", "loss_options": {"distance_weight": "false"}}, "distance_weight",
         "must be true or false, got \"false\" (text): write true or false, without quotes"),
        ({"dataset": "diabetes", "loss": "supcon_binned", "loss_options": {"bins": 1}}, "bins", "an integer in [2, 100]"),
        ({"loss": "dclw", "loss_options": {"sigma": NAN}}, "sigma", "finite"),
        ({"loss": "msd", "loss_options": {"teacher_temp": 0}}, "teacher_temp", "a number in [0.001, 100]"),
        # combinations that cannot run
        ({"dataset": "gmm_sphere", "n_classes": 100, "imbalance_ratio": 1000}, "imbalance_ratio",
         "smallest class of 24 / 1000 = 0.024 training samples"),
        ({"dataset": "gmm_sphere", "n_classes": 100, "n_samples": 100}, "n_samples",
         "leaves 0 training samples in its smallest class"),
        ({"imbalance_ratio": 500.0}, "imbalance_ratio", "digits has 146 in its largest training class"),
    ],
)
def test_bad_input_is_refused_with_a_config_error_naming_the_field(given, field, fragment):
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict(given)
    msg = str(e.value)
    assert field in msg and fragment in msg, msg
    assert isinstance(e.value, ValueError)  # callers that catch ValueError keep working


def test_integers_are_accepted_for_number_fields_and_stored_as_floats():
    c = RunConfig.from_dict({"lr": 1, "temperature": 1, "weight_decay": 0, "loss": "dclw", "loss_options": {"sigma": 1}})
    assert (c.lr, c.temperature, c.weight_decay, c.loss_options["sigma"]) == (1.0, 1.0, 0.0, 1.0)
    assert all(type(v) is float for v in (c.lr, c.temperature, c.weight_decay, c.loss_options["sigma"]))
    assert RunConfig.from_json(c.to_json()) == c


def test_unknown_option_lists_the_known_ones():
    with pytest.raises(ConfigError) as e:
        RunConfig(loss="isogclr", loss_options={"tau": 0.5})
    assert "unknown isogclr option(s) tau; known: beta, eta, gamma, rho, tau_max, tau_min" in str(e.value)


@pytest.mark.parametrize("loss", sorted(LOSS_OPTIONS))
def test_each_loss_accepts_its_documented_options_at_their_defaults(loss):
    ds = "diabetes" if registry.LOSSES[loss].task == "regression" else "digits"
    opts = {k: (r.default if r.default is not None else 0.1) for k, r in LOSS_OPTIONS[loss].items()}
    c = RunConfig.from_dict({"dataset": ds, "loss": loss, "loss_options": opts})
    assert c.loss_options == opts
    if loss != "msd":  # msd's objective needs a model (tests/trainers/test_distill.py builds it)
        obj = build_objective(loss, temperature=c.effective_temperature, options=c.loss_options, num_samples=64, rep_dim=8,
                              train_targets=np.linspace(0.0, 1.0, 64))
        assert obj.options == opts


@pytest.mark.parametrize("ds", sorted(BUNDLED_TRAIN_CLASS_SIZES))
def test_bundled_class_sizes_match_the_loaded_training_split(ds):
    d = data.load(RunConfig(dataset=ds))
    assert tuple(np.bincount(d.y_train).tolist()) == BUNDLED_TRAIN_CLASS_SIZES[ds]


@pytest.mark.parametrize("n, c, ratio", [(1000, 3, 1.0), (200, 100, 1.0), (3000, 100, 24.0), (999, 7, 50.0)])
def test_class_size_rule_matches_the_loaded_data_at_the_boundary(n, c, ratio):
    cfg = RunConfig(dataset="gmm_sphere", n_samples=n, n_classes=c, imbalance_ratio=ratio)
    counts = np.bincount(data.load(cfg).y_train, minlength=c)
    assert counts.min() >= 1  # accepted configs give every class a training sample
    with pytest.raises(ConfigError, match="smallest class"):
        RunConfig(dataset="gmm_sphere", n_samples=n, n_classes=c, imbalance_ratio=counts.max() + 1.0)
    if n == 200:
        with pytest.raises(ConfigError, match="use n_samples of at least 200"):
            RunConfig(dataset="gmm_sphere", n_samples=199, n_classes=c)


def test_cuda_is_refused_on_input_when_this_machine_has_none(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="device 'cuda' is not available on this machine"):
        RunConfig.from_dict({"device": "cuda"})
    assert RunConfig(device="cuda").device == "cuda"  # a saved config stays readable anywhere
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert RunConfig.from_dict({"device": "cuda"}).device == "cuda"


def test_importing_config_does_not_import_torch_or_numpy():
    code = "import sys, trainers.config; print(sorted({'torch', 'numpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_every_preset_validates_alone_and_over_the_form_defaults(preset):
    form = RunConfig().to_dict()
    for over in preset.configs:
        alone = RunConfig.from_dict(dict(over))
        merged = RunConfig.from_dict({**form, **over})
        assert alone == merged and RunConfig.from_json(alone.to_json()) == alone


@pytest.mark.parametrize(
    "config_text, flags, fragment",
    [
        ('[{"loss": "dcl"}]', [], "must hold a JSON object of configuration fields"),
        ('[{"loss": "dcl"}]', ["--epochs", "3"], "must hold a JSON object of configuration fields"),
        ('{"lr": "0.1"}', [], "write 0.1 without quotes"),
        ('{"teacher": null}', [], "teacher must be text"),
        ('{"loss_options": [1]}', ["--loss-option", "sigma=0.5"], "loss_options in --config must be an object"),
        ('{"loss_options": {"window": 0.5}}', [], "unknown nt_xent option(s) window"),
        ("\xff\xfe not utf-8", [], "cannot read --config"),
    ],
)
def test_cli_config_file_errors_exit_2_with_a_message(tmp_path, capsys, config_text, flags, fragment):
    from jobs.cli import main

    path = tmp_path / "config.json"
    path.write_bytes(config_text.encode("latin-1"))
    code = main(["--store", str(tmp_path / "store"), "train", "--config", str(path), *flags])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and "Traceback" not in err, err


def test_cli_loss_option_flags_are_checked(tmp_path, capsys):
    from jobs.cli import main

    code = main(["--store", str(tmp_path), "train", "--loss", "isogclr", "--loss-option", "tau_min=2"])
    assert code == 2 and "tau_min (2) must be <= tau_max (1)" in capsys.readouterr().err
    code = main(["--store", str(tmp_path), "train", "--loss-option", "=1"])
    assert code == 2 and "loss option names must be non-empty text" in capsys.readouterr().err
