"""Command line: the same code as the app, headless, into the same store.

    python -m trainers train --dataset digits --loss nt_xent --epochs 50 --json
    python -m trainers train --loss dcl --epochs 20 --seeds 0,1,2 [--detach] [--json]
    python -m trainers list | cancel RUN | resume RUN [--from-scratch] | delete RUN
    python -m trainers doctor [--repair] [--json]
    python -m trainers import FILE [--labels FILE] [--label-column NAME] [--view2 FILE] [--json]
    python -m trainers toy --loss nt_xent --temperature 0.5 --dim 3 --points 200 --steps 300 --json
    python -m trainers export RUN [--epoch E] --format {parquet,csv,npy,tensorboard,mlflow} --out DIR

A store problem (full disk, read-only or damaged store) exits with status 1 and one
message that says what to do; a bad flag or run id exits with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import typing
from pathlib import Path

from trainers import registry
from trainers.config import ConfigError, RunConfig, describe


def _catalogue() -> str:
    lines = ["datasets:"]
    lines += [f"  {n:<18} {d.description}" for n, d in registry.DATASETS.items()]
    lines += ["encoders:"]
    lines += [f"  {n:<18} {e.description}" for n, e in registry.ENCODERS.items()]
    lines += ["losses:"]
    lines += [f"  {n:<18} {s.description} (default temperature {s.temperature})" for n, s in registry.LOSSES.items()]
    lines += ["distillation losses (--distill, with --teacher RUN_ID):"]
    lines += [f"  {n:<18} {d.description}" for n, d in registry.DISTILLERS.items()]
    lines += ["loss options (--loss-option KEY=VALUE):"]
    for n, opts in registry.loss_options().items():
        for k, r in opts.items():
            default = "" if r.default is None else f"; default {json.dumps(r.default)}"
            lines.append(f"  {n + ': ' + k:<30} {r.label} ({r.describe()}{default})")
    return "\n".join(lines)


_FIELD_HELP = {
    "dataset": "dataset name (see the list below)",
    "encoder": "encoder name",
    "loss": "loss name",
    "temperature": "temperature (default: the loss's own)",
    "views": "views per sample (2..8; more than 2 for multi-view losses)",
    "snapshot_every": "'pow2' (epochs 0,1,2,4,...,last) or an epoch interval",
    "teacher": "id of a finished run in this store to distil from",
    "distill": f"distillation loss: {', '.join(registry.DISTILLERS)}",
    "task_weight": "weight of the task loss when distilling",
    "label_fraction": "fraction of training samples whose labels the task loss may use",
    "accum_steps": "micro-batches per optimiser step (gradient accumulation)",
}


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(RunConfig)
    for f in dataclasses.fields(RunConfig):
        if f.name in ("loss_options",):
            continue
        t = hints[f.name]
        typ = {int: int, float: float, str: str}.get(t, float if "float" in str(t) else str)
        default = f.default
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=typ, default=None,
                       help=f"{_FIELD_HELP.get(f.name, f.name.replace('_', ' '))} (default: {default})")
    p.add_argument("--loss-option", action="append", default=[], metavar="KEY=VALUE",
                   help="extra loss option, e.g. --loss-option window=0.5 (repeatable)")
    p.add_argument("--config", help="a JSON file with configuration fields (flags override it)")


def _config_from_args(a: argparse.Namespace) -> RunConfig:
    d: dict = {}
    if a.config:
        try:
            with open(a.config) as f:
                d = json.load(f)
        except (OSError, ValueError, RecursionError) as e:  # ValueError: not JSON, or not UTF-8
            raise ConfigError(f"cannot read --config {a.config}: {e}") from None
        if not isinstance(d, dict):
            raise ConfigError(f"--config {a.config} must hold a JSON object of configuration fields, such as "
                              f'{{"loss": "dcl", "epochs": 20}}; it holds {describe(d)}')
    for f in dataclasses.fields(RunConfig):
        v = getattr(a, f.name, None)
        if v is not None:
            d[f.name] = v
    if a.loss_option:
        opts = d.get("loss_options", {})
        if not isinstance(opts, dict):
            raise ConfigError(f"loss_options in --config must be an object of option names and values, got {describe(opts)}")
        opts = dict(opts)
        for kv in a.loss_option:
            if "=" not in kv:
                raise ConfigError(f"--loss-option takes KEY=VALUE (got {kv!r})")
            k, v = kv.split("=", 1)
            try:
                opts[k] = json.loads(v)
            except json.JSONDecodeError:
                opts[k] = v
        d["loss_options"] = opts
    return RunConfig.from_dict(d)


PUBLIC_COMMANDS = ("train", "list", "cancel", "resume", "delete", "doctor", "import", "export", "toy", "baseline",
                   "sweep", "scheduler")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m trainers",
        description="Embedding Geometry Lab: train contrastive / distilled models into the lab store.",
        epilog=_catalogue(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--store", help="store folder (default: $LAB_STORE or ./lab_store)")
    # the metavar lists the public commands: the internal `worker` has no help line and no place in it
    sub = p.add_subparsers(dest="cmd", required=True, metavar="{" + ",".join(PUBLIC_COMMANDS) + "}")
    t = sub.add_parser("train", help="train one run in the foreground", epilog=_catalogue(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_config_flags(t)
    t.add_argument("--json", action="store_true", help="print one JSON summary object as the last line")
    t.add_argument("--seeds", metavar="LIST",
                   help="train the configuration once per seed, as one group in the background workers: "
                        "a list such as 0,1,2 or a range 0-4; waits for the runs and prints each run and the "
                        "mean ± sd of its metrics over the seeds")
    t.add_argument("--detach", action="store_true",
                   help="with --seeds: queue the runs and return at once (follow them with `list` or in the app)")
    sub.add_parser("list", help="list runs")
    for name in ("cancel", "resume", "delete"):
        c = sub.add_parser(name, help=f"{name} a run")
        c.add_argument("run_id")
        if name == "resume":
            c.add_argument("--from-scratch", action="store_true",
                           help="start again from epoch 0 when the run has no checkpoint (discards its history and snapshots)")
    d = sub.add_parser("doctor", help="check the store (database, run folders, snapshots); --repair fixes what it can")
    d.add_argument("--repair", action="store_true", help="rebuild a damaged database, index or remove unknown run folders, "
                   "drop damaged snapshots, remove leftover temporary files")
    d.add_argument("--json", action="store_true", help="print the findings as one JSON object")
    from jobs.baseline import add_baseline_parser
    from jobs.export import add_export_parser
    from jobs.importer import add_import_parser
    from jobs.sweep import add_sweep_parser
    from jobs.toy_cli import add_toy_parser

    add_import_parser(sub)
    add_export_parser(sub)
    add_toy_parser(sub)
    add_baseline_parser(sub)
    add_sweep_parser(sub)
    sc = sub.add_parser("scheduler", help="run the scheduler (started on demand by the app)")
    sc.add_argument("--store", dest="sched_store")
    sc.add_argument("--idle-exit", type=float, default=None)
    w = sub.add_parser("worker")
    w.add_argument("run_id")
    a = p.parse_args(argv)

    from jobs import store as st

    root = a.store or getattr(a, "sched_store", None)
    if a.cmd == "baseline":  # probes of the raw input: no store
        from jobs.baseline import run_baseline

        return run_baseline(a)
    if a.cmd == "sweep":  # opens its own store: its --store, else the global --store
        from jobs.sweep import run_sweep

        return run_sweep(a)
    if a.cmd == "toy":  # the sphere playground: no store
        from jobs.toy_cli import run_toy

        return run_toy(a)
    if a.cmd == "doctor":
        return _doctor(root, repair=a.repair, as_json=a.json)
    try:
        return _run(a, st.Store(root))
    except st.StoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def _doctor(root: str | None, *, repair: bool, as_json: bool) -> int:
    from jobs import store as st

    findings = st.doctor(root, repair=repair)
    left = [f for f in findings if f.level == "error" and not f.repaired]
    if as_json:
        where = Path(root).expanduser().resolve() if root else st.default_root()
        print(json.dumps({"store": str(where),
                          "healthy": not findings, "errors_left": len(left),
                          "findings": [f.to_dict() for f in findings]}))
    elif not findings:
        print("the store is healthy: database, run folders and snapshots check out")
    else:
        for f in findings:
            tag = "repaired" if f.repaired else f.level
            print(f"{tag}: {f.what}\n    -> {f.fix}")
        print(f"{len(findings)} findings, {len(left)} errors left" + ("" if repair or not left else
                                                                       "; `--repair` fixes what it can"))
    if not left:
        from jobs import runner

        runner.wake_scheduler(st.Store(root))  # e.g. maps of re-indexed runs
    return 1 if left else 0


def _run(a: argparse.Namespace, store) -> int:
    from jobs import runner
    from jobs import store as st
    from jobs.store import boot_id, process_start_time
    from jobs.teachers import check_teacher

    if a.cmd == "train":
        try:
            cfg = _config_from_args(a)
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if cfg.teacher:  # refuse a teacher that cannot teach before creating the run
            try:
                check_teacher(store, cfg.teacher, cfg)
            except ConfigError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
        if a.seeds is not None:
            return _train_seeds(a, store, cfg)
        if a.detach:
            print("error: --detach goes with --seeds (a single run trains in the foreground)", file=sys.stderr)
            return 2
        if cfg.threads == 0 and "LAB_THREADS" not in os.environ:
            cfg = cfg.replace(threads=os.cpu_count() or 1)
        from trainers.train import train_run

        run_id = store.create_run(cfg, status=st.RUNNING)  # on failure: no row, no folder
        store.update_run(run_id, pid=os.getpid(), pid_start=process_start_time(os.getpid()), boot_id=boot_id(),
                         started=time.time(), heartbeat=time.time())
        log = (lambda m: print(m, file=sys.stderr)) if a.json else print
        try:
            out = train_run(store, run_id, log=log)
        except KeyboardInterrupt:
            try:
                store.update_run(run_id, status=st.CANCELLED, reason="interrupted (Ctrl-C)", finished=time.time(), pid=None)
            except st.StoreError:
                pass  # reap marks it once the store can be written
            print("interrupted; the run is kept as cancelled and can be resumed", file=sys.stderr)
            return 130
        except Exception as e:
            runner.record_failure(store, run_id, e)
            err = st.translate_error(e, store.root)
            if isinstance(err, st.StoreError):
                print(f"error: run {run_id} failed: {err}", file=sys.stderr)
            else:
                print(f"error: run {run_id} failed: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        if a.json:
            print(json.dumps(out))
        else:
            print(f"run {run_id}: {out['status']} in {out['seconds']:.1f} s")
            for k, v in out.items():
                if k not in ("run_id", "status", "seconds"):
                    print(f"  {k}: {v}")
        return 0 if out["status"] == st.FINISHED else 3
    if a.cmd == "list":
        runner.reap(store)
        for r in store.list_runs():
            m = r.metrics
            acc = m.get("knn_accuracy")
            acc_s = f"knn={acc:.3f}" if isinstance(acc, (int, float)) else ""
            print(f"{r.id}  {r.status:<9} {r.epoch:>4}/{r.total_epochs:<4} {r.name:<30} {acc_s} {r.reason}")
        health = store.health()
        if health["message"]:
            print(f"warning: {health['message']}", file=sys.stderr)
        runner.wake_scheduler(store)
        return 0
    if a.cmd in ("cancel", "resume", "delete"):
        try:
            if a.cmd == "cancel":
                print(runner.cancel(store, a.run_id))
            elif a.cmd == "resume":
                runner.resume(store, a.run_id, from_scratch=a.from_scratch)
                print("queued")
            else:
                runner.reap(store)
                store.delete_run(a.run_id)
                print("deleted")
        except st.StoreError:
            raise
        except (KeyError, ValueError, RuntimeError) as e:
            print(f"error: {e.args[0] if isinstance(e, KeyError) and e.args else e}", file=sys.stderr)
            return 2
        runner.wake_scheduler(store)
        return 0
    if a.cmd == "import":
        from jobs.importer import run_import

        return run_import(a, store)
    if a.cmd == "export":
        from jobs.export import run_export

        return run_export(a, store)
    if a.cmd == "scheduler":
        kw = {} if a.idle_exit is None else {"idle_exit": a.idle_exit}
        runner.Scheduler(store, **kw).serve()
        return 0
    if a.cmd == "worker":
        from jobs import worker

        return worker.main(store, a.run_id)
    return 2


SEEDS_POLL_SECONDS = 1.0  # how often `train --seeds` reads the store while it waits


def _train_seeds(a: argparse.Namespace, store, cfg: RunConfig) -> int:
    """``train --seeds``: the configuration once per seed, as one group queued for the
    scheduler's workers (``trainers.presets.over_seeds``, ``runner.submit_group``). Waits until
    every run has ended (Ctrl-C stops waiting, not the runs), then prints each run and the
    mean ± sd of its final metrics; ``--detach`` returns once they are queued. A bad seed list
    creates no run. Exit status: 0 when every run finished (or, detached, was queued), 2 for a
    bad seed list, 3 when some run ended otherwise."""
    import secrets

    from analysis.seeds import aggregate, parse_seeds
    from jobs import runner
    from jobs import store as st
    from trainers.presets import over_seeds

    try:
        seeds = parse_seeds(a.seeds)
    except ValueError as e:
        print(f"error: --seeds {a.seeds!r}: {e}", file=sys.stderr)
        return 2
    if a.seed is not None:
        print("error: give --seed (one run) or --seeds (one run per seed), not both", file=sys.stderr)
        return 2
    group = cfg.group or f"{cfg.display_name} · seeds {a.seeds.strip()} · {secrets.token_hex(2)}"
    try:
        configs = over_seeds([cfg.replace(group=group)], seeds)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ids = runner.submit_group(store, configs)
    log = (lambda m: print(m, file=sys.stderr)) if a.json else print
    log(f"queued {len(ids)} runs as group {group!r}: " + ", ".join(f"seed {c.seed} -> {i}" for c, i in zip(configs, ids,
                                                                                                        strict=True)))
    if not a.detach:
        log("waiting for them to end (Ctrl-C stops waiting; the runs keep training in the background)")
        done: set[str] = set()
        try:
            while len(done) < len(ids):
                runner.reap(store)
                for r in store.list_runs(group=group):
                    if r.id in ids and r.id not in done and not r.active:
                        done.add(r.id)
                        log(f"  {r.id} (seed {r.config.get('seed')}): {r.status} at epoch {r.epoch}/{r.total_epochs}"
                            + (f", {r.reason}" if r.reason else ""))
                if len(done) < len(ids):
                    runner.ensure_scheduler(store)
                    time.sleep(SEEDS_POLL_SECONDS)
        except KeyboardInterrupt:
            print("stopped waiting; the runs keep training: follow them with `python -m trainers list`",
                  file=sys.stderr)
            return 130
    runs = [store.get_run(i) for i in ids]
    finished = [r for r in runs if r.status == st.FINISHED]
    summary = aggregate([r.metrics for r in finished])
    if a.json:
        print(json.dumps({
            "group": group, "seeds": seeds,
            "runs": [{"run_id": r.id, "name": r.name, "seed": r.config.get("seed"), "status": r.status,
                      "epoch": r.epoch, "reason": r.reason, "metrics": r.metrics} for r in runs],
            "summary": {k: {"mean": v.mean, "sd": None if v.single_seed else v.sd, "n": v.n}
                        for k, v in summary.items()},
        }))
    else:
        for r in runs:
            acc = r.metrics.get("knn_accuracy")
            print(f"run {r.id}  seed {r.config.get('seed')}  {r.status}" + (f"  knn={acc:.3f}" if isinstance(acc, float)
                                                                             else ""))
        if summary:
            print(f"over the {len(finished)} finished seed(s), mean ± sd (n - 1):")
            for k, v in summary.items():
                print(f"  {k}: {v.text(4)}")
    if a.detach:
        return 0
    return 0 if len(finished) == len(runs) else 3


if __name__ == "__main__":
    sys.exit(main())
