"""The warm worker (``python -m jobs.warm --store ROOT``): a worker process started before it
has a run, so that a run handed to it skips the process start and the import of torch.

It imports torch and the training loop, loads the default dataset, makes an optimiser (the
first one imports torch._dynamo: seconds) and takes one snapshot of an untrained model (the
probes' and spectra's first calls), then blocks reading one line from stdin:
``RUN_ID THREADS``. It sends its output to the run's log and trains the run exactly as a cold
worker does (:func:`jobs.worker.main`), then exits. End of input (the scheduler stopped or
died) before a run arrives: it exits at once. While it waits it sleeps in the read."""

from __future__ import annotations

import argparse
import os
import sys


def warm_up() -> None:
    """Import what a worker needs and touch the default run's data and model once."""
    import torch

    from trainers import data as data_mod
    from trainers import (
        evaluate,
        train,  # noqa: F401  (imported for its imports)
    )
    from trainers.config import RunConfig
    from trainers.encoders import build_encoder

    cfg = RunConfig()
    ds = data_mod.load(cfg)
    model = build_encoder(cfg.encoder, ds.n_features, hidden_dim=cfg.hidden_dim, rep_dim=cfg.rep_dim,
                          proj_dim=cfg.proj_dim)
    torch.optim.Adam(model.parameters(), lr=cfg.lr)  # the first optimiser imports torch._dynamo: seconds
    evaluate.snapshot(model, ds, device=torch.device("cpu"), aug_strength=cfg.aug_strength)  # probes, spectra


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jobs.warm")
    p.add_argument("--store", required=True)
    a = p.parse_args(argv)
    try:
        warm_up()
    except Exception as e:  # a cold worker will do: say why, and wait for the run all the same
        print(f"warm-up failed: {type(e).__name__}: {e}", flush=True)
    print(f"warm worker {os.getpid()} ready", flush=True)
    line = sys.stdin.readline().split()
    if len(line) != 2:  # end of input: nothing to run
        return 0
    run_id, threads = line[0], line[1]
    from jobs import store as st
    from jobs import worker

    store = st.Store(a.store)
    fd = os.open(store.log_path(run_id), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sys.stdout.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.environ["LAB_THREADS"] = threads
    return worker.main(store, run_id)


if __name__ == "__main__":
    sys.exit(main())
