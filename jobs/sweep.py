"""``python -m trainers sweep``: a preset's group of runs over seeds, on the local workers or a
Ray cluster, waited for, with each run's final metrics.

    python -m trainers sweep --preset "Digits · DCL" --seeds 0,1,2 --backend ray --json

The preset's runs are expanded as the Train page does (its first run's values fill the form;
a sweep sets its varied fields per run), ``--set FIELD=VALUE`` changes a field of every run
(``--set epochs=5``), and the group is repeated once per seed (``trainers.presets.over_seeds``)
and queued (``runner.submit_group``: a student waits for its teacher). The scheduler runs with
the chosen backend (docs/scaling.md). A progress bar goes to stderr while the runs train;
the result goes to stdout: one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from typing import Any

from trainers.config import ConfigError, RunConfig
from trainers.presets import PRESETS, Preset, expand, get_preset, over_seeds

POLL_SECONDS = 0.5  # how often the wait reads the store
BAR_WIDTH = 30


def add_sweep_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``sweep`` command to ``subparsers`` (of ``python -m trainers``); returns its parser."""
    p = subparsers.add_parser(
        "sweep", help="run a preset's group over seeds (on this machine or a Ray cluster) and print the final metrics",
        description="Queue a preset's runs once per seed as one group, wait for them with a progress bar on stderr, "
                    "and print each run's final metrics. Backends: local worker processes (the default), or a Ray "
                    "cluster (--backend ray, or $RAY_ADDRESS set; docs/scaling.md).")
    p.add_argument("--preset", required=True, metavar="NAME",
                   help="the preset's name, or a part of it that names one preset (case ignored); "
                        "`--preset list` prints the names")
    p.add_argument("--seeds", default="0", metavar="LIST", help="seeds: a list such as 0,1,2 or a range 0-4 (default: 0)")
    p.add_argument("--backend", choices=("local", "ray"), default=None,
                   help="where the runs train: local (worker processes on this machine) or ray (the cluster at "
                        "$RAY_ADDRESS, else the one `ray start --head` started here); default: $LAB_BACKEND, else "
                        "ray when $RAY_ADDRESS is set, else local")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="set a config field of every run, e.g. --set epochs=5 --set threads=1 (JSON values)")
    p.add_argument("--json", action="store_true", help="print one JSON object (the group, each run and its metrics)")
    p.add_argument("--store", dest="sweep_store", default=None, help="store folder (default: $LAB_STORE or ./lab_store)")
    return p


def find_preset(name: str) -> Preset:
    """The preset called ``name``, else the one preset whose name contains it (case ignored)."""
    try:
        return get_preset(name)
    except ValueError:
        pass
    hits = [p for p in PRESETS if name.strip().lower() in p.name.lower()] if name.strip() else []
    if len(hits) == 1:
        return hits[0]
    known = "\n  ".join(p.name for p in PRESETS)
    if hits:
        raise ValueError(f"preset {name!r} matches {len(hits)} presets: " + "; ".join(p.name for p in hits)
                         + ". Give more of the name")
    raise ValueError(f"no preset called {name!r}; the presets:\n  {known}")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["epochs=5", "loss=dcl"]`` -> ``{"epochs": 5, "loss": "dcl"}`` (values read as JSON, else text)."""
    fields = set(RunConfig().to_dict())
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: write FIELD=VALUE, e.g. epochs=5")
        k, v = item.split("=", 1)
        k = k.strip().replace("-", "_")
        if k not in fields:
            raise ValueError(f"--set {item!r}: {k!r} is not a config field; the fields: {', '.join(sorted(fields))}")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def sweep_configs(preset: Preset, seeds: list[int], overrides: dict[str, Any], group: str) -> list[RunConfig]:
    """The runs of ``preset`` over ``seeds``: the preset's first run fills the form (as on the
    Train page), ``overrides`` change every run. Raises ConfigError / ValueError."""
    from trainers import registry

    form = {**RunConfig().to_dict(), **preset.configs[0], **overrides}
    if form.get("temperature") is None:
        form["temperature"] = registry.LOSSES[form["loss"]].temperature
    configs = expand(preset, form, group=group)
    if overrides:
        configs = [RunConfig.from_dict({**c.to_dict(), **overrides}) for c in configs]
    return over_seeds(configs, seeds)


def _backend_problem(backend: str) -> str:
    """Why ``backend`` cannot run here ("" when it can)."""
    from jobs import runner

    if backend not in runner.BACKENDS:
        return f"unknown backend {backend!r} ($LAB_BACKEND): use local or ray"
    if backend == "ray":
        from jobs.ray_backend import ray_available

        if not ray_available():
            return "the ray backend needs Ray: pip install '.[ray]' (or pip install ray)"
    return ""


def progress_bar(runs: list[Any]) -> tuple[str, tuple[int, int, int]]:
    """The bar of a group's runs (an ended run counts whole) and what it shows in whole steps
    (filled cells, ended runs, running runs: a line is printed off a terminal when they change)."""
    done = sum(1 for r in runs if not r.active)
    frac = sum(1.0 if not r.active else r.progress for r in runs) / max(1, len(runs))
    fill = int(frac * BAR_WIDTH)
    running = sum(1 for r in runs if r.status == "running")
    text = (f"[{'#' * fill}{'-' * (BAR_WIDTH - fill)}] {frac * 100:5.1f}%  {done}/{len(runs)} ended, "
            f"{running} running, {len(runs) - done - running} queued")
    return text, (fill, done, running)


def wait_for_group(store: Any, ids: list[str], *, out: Any = None, poll: float = POLL_SECONDS) -> None:
    """Wait until every run of ``ids`` has ended, drawing a progress bar on ``out`` (redrawn in
    place on a terminal; elsewhere a line each time it moves) and a line per ended run."""
    from jobs import runner

    out = out if out is not None else sys.stderr
    tty = hasattr(out, "isatty") and out.isatty()
    told: set[str] = set()
    last: tuple[int, int, int] | None = None
    while True:
        runner.reap(store)
        runs = [store.get_run(i) for i in ids]
        for r in runs:
            if not r.active and r.id not in told:
                told.add(r.id)
                where = f" on {r.backend} {r.node}".rstrip() if r.backend else ""
                line = (f"{r.id} ({r.name}): {r.status} at epoch {r.epoch}/{r.total_epochs}{where}"
                        + (f", {r.reason}" if r.reason else ""))
                out.write(("\r\033[K" if tty else "") + line + "\n")
        text, key = progress_bar(runs)
        if tty:
            out.write("\r\033[K" + text)
        elif key != last:
            out.write(text + "\n")
        last = key
        out.flush()
        if len(told) == len(ids):
            if tty:
                out.write("\n")
            return
        runner.ensure_scheduler(store)
        time.sleep(poll)


def run_sweep(a: argparse.Namespace) -> int:
    """Run the ``sweep`` command: 0 when every run finished, 2 for a bad flag (one message on
    stderr, nothing queued), 3 when some run ended otherwise, 130 when the wait was interrupted
    (the runs keep training)."""
    from analysis.seeds import aggregate, parse_seeds
    from jobs import runner
    from jobs import store as st

    if a.preset.strip().lower() == "list":
        for p in PRESETS:
            print(f"{p.name}  ({len(p.configs)} run{'s' if len(p.configs) > 1 else ''})")
        return 0
    try:
        preset = find_preset(a.preset)
        seeds = parse_seeds(a.seeds)
        overrides = parse_overrides(a.overrides)
        group = f"{preset.name} · seeds {','.join(map(str, seeds))} · {secrets.token_hex(2)}"
        configs = sweep_configs(preset, seeds, overrides, group)
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    root = getattr(a, "sweep_store", None) or getattr(a, "store", None)
    try:
        store = st.Store(root)
        backend = a.backend or runner.chosen_backend(store)  # $LAB_BACKEND, the store's setting, $RAY_ADDRESS
        problem = _backend_problem(backend)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
        other = runner.scheduler_backend(store)
        if other is not None and other != backend:
            print(f"error: a scheduler with the {other} backend is running for the store at {store.root}; the "
                  f"{backend} backend needs its own: wait until it has no runs and exits (after "
                  f"$LAB_SCHEDULER_IDLE s idle), or stop it (its process id is in {store.root / 'scheduler.pid'})",
                  file=sys.stderr)
            return 2
        ids = runner.submit_group(store, configs, start=False)
        runner.ensure_scheduler(store, backend=backend)
    except (st.StoreError, ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2 if isinstance(e, (ConfigError, ValueError)) and not isinstance(e, st.StoreError) else 1
    print(f"queued {len(ids)} runs of {preset.name!r} over seeds {','.join(map(str, seeds))} on the {backend} backend "
          f"as group {group!r}", file=sys.stderr)
    t0 = time.monotonic()
    try:
        wait_for_group(store, ids)
    except KeyboardInterrupt:
        print("\nstopped waiting; the runs keep training: follow them with `python -m trainers list`", file=sys.stderr)
        return 130
    runs = [store.get_run(i) for i in ids]
    finished = [r for r in runs if r.status == st.FINISHED]
    summary = aggregate([r.metrics for r in finished])
    result = {
        "group": group, "preset": preset.name, "backend": backend, "seeds": seeds,
        "seconds": round(time.monotonic() - t0, 2),
        "runs": [{"run_id": r.id, "name": r.name, "seed": r.config.get("seed"), "status": r.status, "epoch": r.epoch,
                  "reason": r.reason, "backend": r.backend, "node": r.node, "seconds": round(r.seconds, 3),
                  "metrics": r.metrics} for r in runs],
        "summary": {k: {"mean": v.mean, "sd": None if v.single_seed else v.sd, "n": v.n} for k, v in summary.items()},
    }
    if a.json:
        print(json.dumps(result))
    else:
        for r in runs:
            acc = r.metrics.get("knn_accuracy")
            print(f"run {r.id}  seed {r.config.get('seed')}  {r.status}  {r.name}"
                  + (f"  knn={acc:.4f}" if isinstance(acc, float) else ""))
        if summary:
            print(f"over the {len(finished)} finished run(s), mean ± sd (n - 1):")
            for k, v in summary.items():
                print(f"  {k}: {v.text(4)}")
    return 0 if len(finished) == len(runs) else 3


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.sweep ...``: the sweep command on its own."""
    p = argparse.ArgumentParser(prog="python -m jobs.sweep")
    sub = p.add_subparsers(dest="cmd", required=True)
    add_sweep_parser(sub)
    return run_sweep(p.parse_args(["sweep", *(argv if argv is not None else sys.argv[1:])]))


if __name__ == "__main__":
    sys.exit(main())
