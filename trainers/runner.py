"""The job runner: a queue of runs, worker processes detached from the app, cancel,
resume, and detection of workers that died.

One scheduler process per store (``python -m trainers scheduler``, started on demand
by :func:`ensure_scheduler`, single by a file lock) starts queued runs as detached
worker processes up to a concurrency limit, reaps the ones that exit, marks the ones
that died, and, on a thread of its own, computes the UMAP maps of new snapshots (so
numba stays warm in one long-lived process). It exits after a while with nothing to
do; any page or CLI call starts it again. Workers and the scheduler run in their own
sessions, so they survive page reloads and a restart of the Streamlit server.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from trainers import store as st
from trainers.config import RunConfig
from trainers.train import boot_id, process_start_time

IDLE_EXIT_SECONDS = float(os.environ.get("LAB_SCHEDULER_IDLE", "600"))
TICK_SECONDS = 0.25
PROJECTION_POLL_SECONDS = 0.05  # idle projection thread: how often it looks for new snapshots (one indexed query)


def default_concurrency() -> int:
    """Runs at once: one per core up to 4 (each worker's threads: :func:`threads_per_worker`)."""
    return max(1, min(4, os.cpu_count() or 1))


def concurrency() -> int:
    try:
        return max(1, int(os.environ.get("LAB_CONCURRENCY", "0"))) if os.environ.get("LAB_CONCURRENCY") else default_concurrency()
    except ValueError:
        return default_concurrency()


def threads_per_worker(n_concurrent: int | None = None) -> int:
    """Torch threads of each of ``n_concurrent`` workers: the cores but one, shared evenly, at least 1.

    One core is left to the scheduler's UMAP thread and the app: a multi-threaded OpenMP team
    that shares its cores with another busy thread stalls at every barrier. Measured on 2
    cores (bench/bench_concurrency.py, docs/benchmarks.md): while the maps of its snapshots
    are computed a run trains at 82 steps/s with 1 thread and at 36 with 2; two runs reach
    177 steps/s together with 1 thread each and 6 to 60 with 2 each. Alone on an idle machine
    2 threads would give 111 steps/s instead of 90. Workers fitted by the runner follow the
    number of running runs as it changes (trainers.train).
    """
    n = n_concurrent or concurrency()
    cores = os.cpu_count() or 1
    return max(1, (cores - 1) // n)


# -- liveness ---------------------------------------------------------------------------
def pid_alive(pid: int | None, start: str | None = None) -> bool:
    """True if ``pid`` runs (not a zombie) and, when given, started at ``start``."""
    if not pid:
        return False
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.exists() and Path("/proc/self/stat").exists():
        try:
            rest = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return False
        if rest[0] in ("Z", "X"):
            return False
        return start is None or rest[19] == start
    try:  # not Linux
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def reap(store: st.Store) -> list[str]:
    """Mark running runs whose worker is gone; return their ids. Safe from any process."""
    marked = []
    me = boot_id()
    for rec in store.list_runs(status=st.RUNNING):
        if rec.boot_id and rec.boot_id != me:
            reason = f"the machine restarted while this run was at epoch {rec.epoch}; data kept, resume continues from the last checkpoint"
        elif rec.pid and not pid_alive(rec.pid, rec.pid_start):
            reason = f"worker process {rec.pid} died (killed or crashed) at epoch {rec.epoch}; data kept, resume continues from the last checkpoint"
        elif rec.pid is None and rec.started and time.time() - (rec.heartbeat or rec.started) > 60:
            reason = f"worker never reported (no process) at epoch {rec.epoch}"
        else:
            continue
        if store.transition(rec.id, (st.RUNNING,), status=st.FAILED, reason=reason, finished=time.time(), pid=None):
            marked.append(rec.id)
    return marked


# -- user actions -----------------------------------------------------------------------
def submit(store: st.Store, config: RunConfig, *, start: bool = True) -> str:
    """Queue a run; make sure the scheduler will start it. Returns the run id."""
    run_id = store.create_run(config, status=st.QUEUED)
    if start:
        ensure_scheduler(store)
    return run_id


def submit_group(store: st.Store, configs: list[RunConfig], *, start: bool = True) -> list[str]:
    """Queue several runs in order; a teacher reference "@k" becomes the id of run k of this
    list (the scheduler starts a student once its teacher has finished). Returns the ids."""
    from trainers.distill import resolve_group_refs

    ids: list[str | None] = [None] * len(configs)
    for i in range(len(configs)):
        ids[i] = store.create_run(resolve_group_refs(configs, ids, i), status=st.QUEUED)
    if start:
        ensure_scheduler(store)
    return [i for i in ids if i is not None]


def cancel(store: st.Store, run_id: str) -> str:
    """Cancel a queued run at once, or ask a running worker to stop (it checkpoints first)."""
    if store.transition(run_id, (st.QUEUED,), status=st.CANCELLED, reason="cancelled before it started", finished=time.time()):
        return st.CANCELLED
    rec = store.get_run(run_id)
    if rec.status == st.RUNNING:
        store.update_run(run_id, cancel_requested=1)
        return "cancelling"
    return rec.status


def resume(store: st.Store, run_id: str, *, start: bool = True) -> None:
    """Queue a cancelled, failed or diverged run again; it continues from its checkpoint."""
    rec = store.get_run(run_id)
    if rec.status not in st.RESUMABLE:
        raise ValueError(f"run {run_id} is {rec.status}; only {', '.join(st.RESUMABLE)} runs can be resumed")
    store.transition(run_id, st.RESUMABLE, status=st.QUEUED, resume=1, cancel_requested=0, reason="", finished=None)
    if start:
        ensure_scheduler(store)


def _worker_env(store: st.Store, threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env[st.ENV_VAR] = str(store.root)
    env["LAB_THREADS"] = str(threads)
    env.setdefault("OMP_NUM_THREADS", str(threads))
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def launch_worker(store: st.Store, run_id: str, *, threads: int | None = None) -> subprocess.Popen:
    """Start a detached worker for a queued run and mark it running with the worker's pid."""
    threads = threads or threads_per_worker()
    log = open(store.log_path(run_id), "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainers", "worker", run_id],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_worker_env(store, threads),
        cwd=str(Path(__file__).resolve().parent.parent),
        start_new_session=True,
    )
    log.close()
    store.update_run(run_id, status=st.RUNNING, pid=proc.pid, pid_start=process_start_time(proc.pid), boot_id=boot_id(),
                     heartbeat=time.time(), started=time.time(), cancel_requested=0)
    return proc


# -- the scheduler ----------------------------------------------------------------------
def _lock_path(store: st.Store) -> Path:
    return store.root / "scheduler.lock"


def scheduler_running(store: st.Store) -> bool:
    with open(_lock_path(store), "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def ensure_scheduler(store: st.Store) -> bool:
    """Start the scheduler for this store unless one runs. Returns True if one was started."""
    if scheduler_running(store):
        return False
    # spawn through a short-lived parent so the scheduler is re-parented (no zombie here)
    code = (
        "import subprocess, sys; subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, "
        "stdout=open(sys.argv[-1] + '/scheduler.log', 'ab'), stderr=subprocess.STDOUT, start_new_session=True)"
    )
    argv = [sys.executable, "-m", "trainers", "scheduler", "--store", str(store.root)]
    subprocess.run([sys.executable, "-c", code, *argv], env=_worker_env(store, 1), cwd=str(Path(__file__).resolve().parent.parent),
                   check=False, timeout=30)
    return True


class Scheduler:
    """The loop of ``python -m trainers scheduler``."""

    def __init__(self, store: st.Store, *, idle_exit: float = IDLE_EXIT_SECONDS, umap: bool = True) -> None:
        self.store = store
        self.idle_exit = idle_exit
        self.procs: dict[str, subprocess.Popen] = {}
        self.stop = threading.Event()
        self.umap = umap and os.environ.get("LAB_UMAP", "1") != "0"
        self.proj_busy = threading.Event()

    def tick(self) -> bool:
        """One scheduling pass; return True if anything is queued, running or pending."""
        s = self.store
        # workers that exited: the worker marks its own run; a signal death is marked here
        for run_id, p in list(self.procs.items()):
            rc = p.poll()
            if rc is None:
                continue
            del self.procs[run_id]
            rec = s.get_run(run_id)
            if rec.status == st.RUNNING:
                how = f"killed by signal {-rc}" if rc < 0 else f"exited with code {rc}"
                s.transition(run_id, (st.RUNNING,), status=st.FAILED, pid=None, finished=time.time(),
                             reason=f"worker {how} at epoch {rec.epoch}; data kept, resume continues from the last checkpoint")
        reap(s)
        # escalate cancels that a worker ignores for 15 s
        for rec in s.list_runs(status=st.RUNNING):
            if rec.cancel_requested and rec.pid and rec.heartbeat and time.time() - rec.heartbeat > 15:
                try:
                    os.kill(rec.pid, signal.SIGTERM)
                except OSError:
                    pass
        running = s.list_runs(status=st.RUNNING)
        queued = sorted(s.list_runs(status=st.QUEUED), key=lambda r: r.created)
        from trainers.distill import teacher_gate

        queued = [r for r in queued if teacher_gate(s, r)]  # a student waits for its teacher to finish
        slots = concurrency() - len(running)
        for rec in queued[: max(0, slots)]:
            if s.transition(rec.id, (st.QUEUED,), status=st.RUNNING, pid=None, started=time.time(), heartbeat=time.time()):
                self.procs[rec.id] = launch_worker(s, rec.id, threads=threads_per_worker(min(concurrency(), len(running) + len(queued))))
        return bool(running or queued or self.procs or self.proj_busy.is_set())

    def _projection_loop(self) -> None:
        from trainers.projector import ProjectionWorker

        pw = ProjectionWorker(self.store)
        pw.warm_up()
        while not self.stop.is_set():
            self.proj_busy.set()
            try:
                did = pw.step()
            except Exception as e:  # never let a bad snapshot kill the scheduler
                print(f"projection error: {type(e).__name__}: {e}", flush=True)
                did = False
            if not did:
                self.proj_busy.clear()
                self.stop.wait(PROJECTION_POLL_SECONDS)

    def serve(self) -> None:
        with open(_lock_path(self.store), "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                print("another scheduler holds the lock; exiting", flush=True)
                return
            print(f"scheduler {os.getpid()} serving {self.store.root}", flush=True)
            pid_file = self.store.root / "scheduler.pid"
            pid_file.write_text(str(os.getpid()))
            signal.signal(signal.SIGTERM, lambda *a: self.stop.set())
            th = None
            if self.umap:
                th = threading.Thread(target=self._projection_loop, daemon=True)
                th.start()
            idle_since = time.monotonic()
            while not self.stop.is_set():
                busy = self.tick()
                if busy:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > self.idle_exit:
                    break
                self.stop.wait(TICK_SECONDS)
            self.stop.set()
            print("scheduler exiting", flush=True)
