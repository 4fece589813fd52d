"""``python -m trainers baseline``: the probes of a snapshot on a dataset's raw input.

    python -m trainers baseline --dataset shapes --n-samples 3000 --json

What any representation of the data should beat: on the held-out split, the label's kNN
(k = 20, cosine) and linear probes, and, for a dataset with factors of variation (shapes), the
kNN probe of every factor (accuracy of a class factor, R^2 of a numeric one), computed on the
input rows themselves (``trainers.evaluate.raw_probes``). No store, no training.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from trainers import registry
from trainers.config import NUMBERS, ConfigError, RunConfig, check_value

# the config fields that shape a dataset (a spec's options; its augmentation switches aside)
DATA_FIELDS = tuple(dict.fromkeys(f for d in registry.DATASETS.values() for f in d.options if not f.startswith("aug_")))
THREADS = NUMBERS["threads"]


def add_baseline_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``baseline`` command to ``subparsers`` (of ``python -m trainers``); returns its parser."""
    p = subparsers.add_parser(
        "baseline", help="the probes on a dataset's raw input (no training, no store)",
        description="The held-out probes of a snapshot (label kNN and linear probes; the factor probes of a "
                    "dataset with factors) computed on the raw input rows: the baseline a representation should beat.")
    p.add_argument("--dataset", required=True, help=f"dataset name: {', '.join(registry.DATASETS)}")
    for f in DATA_FIELDS:
        rule = NUMBERS[f]
        takes = ", ".join(n for n, d in registry.DATASETS.items() if f in d.options)
        p.add_argument(f"--{f.replace('_', '-')}", dest=f, type=int if rule.kind == "int" else float, default=None,
                       help=f"{rule.label}: {rule.describe()} (datasets: {takes}; default: {RunConfig().to_dict()[f]})")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def config_from_args(a: argparse.Namespace) -> RunConfig:
    """The configuration whose data the flags describe; raises ConfigError for an unknown dataset,
    a field the dataset does not take, or a value out of its range."""
    registry.check_name("dataset", a.dataset, registry.DATASETS)
    spec = registry.DATASETS[a.dataset]
    given = {f: getattr(a, f) for f in DATA_FIELDS if getattr(a, f, None) is not None}
    foreign = [f for f in given if f not in spec.options]
    if foreign:
        shaped = ", ".join(f for f in spec.options if not f.startswith("aug_")) or "none"
        raise ConfigError(f"dataset {a.dataset!r} does not take {', '.join(foreign)}; its options: {shaped}")
    loss = "rnc" if spec.task == "regression" else "nt_xent"
    return RunConfig.from_dict({"dataset": a.dataset, "loss": loss, "encoder": registry.encoders_for_dataset(a.dataset)[0],
                                **given})


def run_baseline(a: argparse.Namespace) -> int:
    """Run the ``baseline`` command: 0 on success, 2 (one message on stderr) for a bad flag."""
    try:
        cfg = config_from_args(a)
        threads = check_value("threads", a.threads, THREADS)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import torch

    from trainers import data, evaluate

    if threads:
        torch.set_num_threads(threads)
    t0 = time.monotonic()
    ds = data.load(cfg)
    out: dict[str, Any] = {"dataset": cfg.dataset, "task": ds.task,
                           "options": {f: getattr(cfg, f) for f in registry.DATASETS[cfg.dataset].options
                                       if not f.startswith("aug_")},
                           **evaluate.raw_probes(ds)}
    out["seconds"] = round(time.monotonic() - t0, 3)
    if a.json:
        print(json.dumps(out))
        return 0
    print(f"raw-input probes of {cfg.dataset} ({out['n_features']} features, {out['n_train']} training and "
          f"{out['n_eval']} held-out samples):")
    for k, v in out.items():
        if k in ("dataset", "task", "n_features", "n_train", "n_eval", "seconds"):
            continue
        if isinstance(v, dict):
            print(f"  {k}:")
            for name, x in v.items():
                print(f"    {name}: {x:.4g}" if isinstance(x, float) else f"    {name}: {x}")
        else:
            print(f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}")
    return 0
