"""The worker process of a run (``python -m trainers worker RUN``): mark the run, fit its
torch threads to the runs running now, check its teacher, train, and record any failure."""

from __future__ import annotations

import logging
import os
import time
import traceback

from jobs import runner
from jobs import store as st
from jobs.teachers import check_teacher
from trainers.config import RunConfig


def thread_share(store: st.Store) -> int:
    """Torch threads for a worker now: the runner's share for the runs running (a run started
    alone would otherwise keep its threads when a second one starts, and oversubscribe the cores)."""
    return runner.threads_per_worker(max(1, min(len(store.list_runs(status=st.RUNNING)), runner.concurrency())))


def run_worker(store: st.Store, run_id: str) -> int:
    """Entry point of a worker process: mark the run, train, record any failure."""
    import torch

    from trainers.train import train_run

    log_f = open(store.log_path(run_id), "a", buffering=1)

    def log(msg: str) -> None:
        log_f.write(f"{time.strftime('%H:%M:%S')} {msg}\n")

    logging.captureWarnings(True)
    pid = os.getpid()
    rec = store.get_run(run_id)
    if rec.status != st.RUNNING or (rec.pid not in (None, pid)):
        # launched by the scheduler, which marks the run running with our pid first
        store.update_run(run_id, status=st.RUNNING, pid=pid)
    store.update_run(run_id, pid=pid, pid_start=st.process_start_time(pid), boot_id=st.boot_id(), heartbeat=time.time(),
                     started=rec.started or time.time(), reason="")
    log(f"worker {pid} starting run {run_id}")
    try:
        cfg = RunConfig.from_dict(rec.config)
        if cfg.teacher:  # it may have been deleted or resumed since the run was queued
            check_teacher(store, cfg.teacher, cfg)
        threads = cfg.threads or int(os.environ.get("LAB_THREADS", "0") or 0)
        if threads > 0:
            torch.set_num_threads(threads)
        fitted = not cfg.threads and threads > 0  # fitted by the runner: follow the number of running runs
        out = train_run(store, run_id, log=log, threads=(lambda: thread_share(store)) if fitted else None)
        log(f"done: {out}")
        return 0
    except Exception as e:  # a crash: mark the run, keep its data, log the traceback
        log(traceback.format_exc())
        cur = store.get_run(run_id)
        store.update_run(run_id, status=st.FAILED, reason=f"error at epoch {cur.epoch}: {type(e).__name__}: {e} (details in worker.log)",
                         finished=time.time(), pid=None)
        return 1
    finally:
        log_f.close()


def main(store: st.Store, run_id: str) -> int:
    """The ``worker`` command: :func:`run_worker`, and a failure recorded that the worker's own
    handler could not record (a full disk fails its log and its mark too)."""
    try:
        rc = run_worker(store, run_id)
    except Exception as e:
        try:  # a full disk must not turn a log line into a crash
            print(f"worker failed: {type(e).__name__}: {e}", flush=True)
        except OSError:
            pass
        runner.record_failure(store, run_id, e)
        return 1
    if rc != 0:  # run_worker marked it; name a full disk as such
        try:
            rec = store.get_run(run_id)
            if rec.status == st.FAILED and ("StoreFull" in rec.reason or "No space left" in rec.reason
                                            or "disk is full" in rec.reason):
                store.update_run(run_id, reason=st.no_space_reason(store.root))
        except (st.StoreError, KeyError):
            pass
    return rc
