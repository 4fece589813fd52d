"""RunConfig.from_dict is total: generated inputs (dicts with known and unknown keys and any
JSON values, and values that are not dicts) give either a config whose fields all have their
types and finite values in range, or a ConfigError with a message. Nothing else is raised."""

from __future__ import annotations

import dataclasses
import json
import math
import typing

from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from trainers import registry
from trainers.config import DISTILL_KINDS, LOSS_OPTIONS, ConfigError, RunConfig

# The ranges a valid config lives in, written out here independently of trainers/config.py.
INTS = {"epochs": (1, 2000), "batch_size": (2, 8192), "seed": (0, 2**32 - 1), "views": (2, 8), "hidden_dim": (2, 4096),
        "rep_dim": (2, 4096), "proj_dim": (2, 4096), "n_classes": (2, 100), "data_dim": (2, 1024),
        "n_samples": (100, 200_000), "few_samples": (0, 200_000), "accum_steps": (1, 256), "threads": (0, 4096)}
FLOATS = {"lr": (1e-6, 10.0), "weight_decay": (0.0, 10.0), "aug_strength": (0.0, 5.0), "noise_eps": (0.0, 100.0),
          "imbalance_ratio": (1.0, 1000.0), "distill_weight": (0.0, 1000.0), "task_weight": (0.0, 1000.0),
          "label_fraction": (1e-300, 1.0)}
TEXTS = ("dataset", "encoder", "loss", "name", "group", "teacher", "distill", "device", "snapshot_every")
FIELDS = [f.name for f in dataclasses.fields(RunConfig)]
HINTS = typing.get_type_hints(RunConfig)
OPTION_NAMES = sorted({k for opts in LOSS_OPTIONS.values() for k in opts})

json_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
                | st.text(max_size=8))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


def _near(lo: float, hi: float, integer: bool) -> st.SearchStrategy:
    """Values in and just outside [lo, hi], so that accepted configs are reached often."""
    if integer:
        return st.integers(int(lo) - 2, int(hi) + 2) | st.integers(int(lo), min(int(hi), int(lo) + 300))
    return (st.floats(lo, hi) | st.integers(int(math.ceil(lo)), int(hi)) | st.floats(lo - 1, hi * 2 + 1)
            | st.sampled_from([math.nan, math.inf, -0.0]))


PLAUSIBLE: dict[str, st.SearchStrategy] = {
    **{f: _near(lo, min(hi, 5000), True) for f, (lo, hi) in INTS.items()},
    **{f: _near(lo, hi, False) for f, (lo, hi) in FLOATS.items()},
    "temperature": st.none() | _near(1e-3, 100.0, False),
    "dataset": st.sampled_from([*registry.DATASETS, "mnist"]),
    "encoder": st.sampled_from([*registry.ENCODERS, "vit"]),
    "loss": st.sampled_from([*registry.LOSSES, "triplet"]),
    "name": st.text(max_size=10),
    "group": st.text(max_size=5),
    "teacher": st.sampled_from(["", "@0", "@x", "abc"]),
    "distill": st.sampled_from([*DISTILL_KINDS, "fitnet"]),
    "device": st.sampled_from(["auto", "cpu", "cuda", "mps", "tpu"]),
    "snapshot_every": st.sampled_from(["pow2", "1", "5", "0", "-1", "x", "9999"]),
    "loss_options": st.dictionaries(st.sampled_from([*OPTION_NAMES, "", "bogus"]),
                                    json_scalars | st.floats(0.0, 2.0) | st.integers(0, 300), max_size=3),
}

config_dicts = st.builds(
    lambda known, unknown: {**unknown, **known},
    st.fixed_dictionaries({}, optional={f: PLAUSIBLE.get(f, json_values) | json_values for f in FIELDS}),
    st.dictionaries(st.text(max_size=6), json_values, max_size=2) | st.just({}),
)


def _assert_valid(cfg: RunConfig) -> None:
    for f in FIELDS:
        v = getattr(cfg, f)
        if f in TEXTS:
            assert type(v) is str, (f, v)
        elif f in INTS:
            lo, hi = INTS[f]
            assert type(v) is int and lo <= v <= hi, (f, v)
        elif f in FLOATS:
            lo, hi = FLOATS[f]
            assert type(v) is float and math.isfinite(v) and lo <= v <= hi, (f, v)
        elif f == "temperature":
            assert v is None or (type(v) is float and 1e-3 <= v <= 100), v
        elif f == "loss_options":
            assert type(v) is dict and set(v) <= set(LOSS_OPTIONS.get(cfg.loss, {})), v
            for k, x in v.items():
                assert k and type(x) in (bool, int, float) and (type(x) is bool or math.isfinite(x)), (k, x)
        else:  # a field without a range written here: its annotated type, finite
            want = HINTS[f]
            assert type(v) is want and (want is not float or math.isfinite(v)), (f, v)
    assert cfg.few_samples != 1
    assert cfg.snapshot_every == "pow2" or 1 <= int(cfg.snapshot_every) <= 2000
    assert cfg.dataset in registry.DATASETS and cfg.encoder in registry.ENCODERS and cfg.loss in registry.LOSSES
    assert RunConfig.from_json(cfg.to_json()) == cfg  # finite values survive the JSON round trip
    json.dumps(cfg.to_dict(), allow_nan=False)


def _check(given_value: object) -> bool:
    try:
        cfg = RunConfig.from_dict(given_value)  # type: ignore[arg-type]
    except ConfigError as e:
        assert str(e).strip()
        return False
    _assert_valid(cfg)
    return True


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(config_dicts)
def test_any_config_dict_is_valid_or_refused_with_a_config_error(d):
    _check(d)


@FUZZ
@given(json_values)
def test_any_json_value_is_valid_or_refused_with_a_config_error(v):
    accepted = _check(v)
    assert accepted == (v == {})  # only the empty object (all defaults) is a config among these


def test_the_generator_reaches_accepted_configs_with_several_fields_set():
    """The fuzz above also exercises the accepted side: a config with several fields set and no
    unknown key is found among the generated ones (and passes every check of _assert_valid)."""
    found = find(config_dicts, lambda d: len(d) >= 3 and set(d) <= set(FIELDS) and _check(d),
                 settings=settings(max_examples=6000, deadline=None, database=None))
    assert len(found) >= 3
