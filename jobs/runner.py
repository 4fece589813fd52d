"""The job runner: a queue of runs, worker processes detached from the app, cancel,
resume, and detection of workers that died.

One scheduler process per store (``python -m trainers scheduler``, started on demand
by :func:`ensure_scheduler`, single by a file lock) starts queued runs as detached
worker processes up to a concurrency limit, reaps the ones that exit, marks the ones
that died, and, on a thread of its own, computes the UMAP maps of new snapshots (so
numba stays warm in one long-lived process). It exits after a while with nothing to
do; any page or CLI call starts it again (:func:`wake_scheduler`: whenever runs are
queued or maps are pending). Workers and the scheduler run in their own sessions, so they
survive page reloads and a restart of the Streamlit server.

Faults (docs/reliability.md): the scheduler logs a store error in a pass and goes on; a
worker that runs out of disk space marks its run failed with that reason, or, when even
that cannot be written, leaves a marker that :func:`reap` reads; cancel stops a worker
even when its status cannot be written.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobs import store as st
from jobs.store import boot_id, pid_alive, process_start_time  # noqa: F401  (part of this module's interface)
from jobs.teachers import resolve_group_refs, teacher_gate
from trainers.config import RunConfig

IDLE_EXIT_SECONDS = float(os.environ.get("LAB_SCHEDULER_IDLE", "600"))
TICK_SECONDS = 0.25
RAY_STALE_SECONDS = 60.0  # a Ray run whose heartbeat is older than this, with no scheduler, is marked failed
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
def _say(msg: str) -> None:
    """Print to the log; a full disk must not turn a log line into a crash."""
    try:
        print(msg, flush=True)
    except OSError:
        pass


def _no_space_marked(store: st.Store, run_id: str) -> bool:
    try:
        return (store.run_dir(run_id) / st.NO_SPACE_MARKER).exists()
    except (OSError, ValueError):
        return False


def _clear_no_space_marker(store: st.Store, run_id: str) -> None:
    try:
        (store.run_dir(run_id) / st.NO_SPACE_MARKER).unlink(missing_ok=True)
    except (OSError, ValueError):
        pass


def dead_worker_reason(store: st.Store, rec: st.RunRecord, how: str) -> str:
    """Why a run whose worker ended without marking it failed: no space left when the worker
    said so (a marker) or the disk is (nearly) full, else ``how``."""
    if _no_space_marked(store, rec.id) or st.free_mb(store.root) * 1e6 < st.LOW_SPACE_BYTES:
        return st.no_space_reason(store.root)
    return how


def reap(store: st.Store) -> list[str]:
    """Mark running runs whose worker is gone; return their ids. Safe from any process; a run
    whose mark cannot be written (full disk, read-only store) is left for the next reader."""
    marked = []
    me = boot_id()
    if store.read_only:
        return marked
    draining: bool | None = None  # whether a scheduler runs (asked once, for the first Ray run)
    for rec in store.list_runs(status=st.RUNNING):
        if rec.boot_id and rec.boot_id != me:
            reason = f"the machine restarted while this run was at epoch {rec.epoch}; data kept, resume continues from the last checkpoint"
        elif rec.backend == "ray":
            # a Ray worker runs on another node: its progress reaches the store through the
            # scheduler, which marks a dead one itself; with no scheduler, nobody receives it
            if time.time() - (rec.heartbeat or rec.started or 0) <= RAY_STALE_SECONDS:
                continue
            if draining is None:
                draining = scheduler_running(store)
            if draining:
                continue
            reason = (f"its Ray worker stopped reporting at epoch {rec.epoch} and no scheduler is running to receive "
                      "its progress; data kept, " + ("resume starts from scratch" if rec.epoch == 0 else
                                                      "resume continues from the last checkpoint"))
        elif rec.pid and not pid_alive(rec.pid, rec.pid_start):
            reason = dead_worker_reason(store, rec, f"worker process {rec.pid} died (killed or crashed) at epoch {rec.epoch}; "
                                                    "data kept, " + ("resume starts from scratch" if rec.epoch == 0 else "resume continues from the last checkpoint"))
        elif rec.pid is None and rec.started and time.time() - (rec.heartbeat or rec.started) > 60:
            reason = f"worker never reported (no process) at epoch {rec.epoch}"
        else:
            continue
        try:
            if store.transition(rec.id, (st.RUNNING,), status=st.FAILED, reason=reason, finished=time.time(), pid=None):
                marked.append(rec.id)
                _clear_no_space_marker(store, rec.id)
        except st.StoreError:
            continue
    return marked


def record_failure(store: st.Store, run_id: str, e: BaseException) -> bool:
    """Mark a running run failed because of ``e``; no space left gets its own reason. When the
    store cannot take the mark, leave a marker file for :func:`reap` (a zero-byte file fits
    on a full disk). Returns whether the run was marked."""
    try:
        epoch = store.get_run(run_id).epoch
    except (st.StoreError, KeyError):
        epoch = None
    at = f" at epoch {epoch}" if epoch is not None else ""
    if st.is_no_space(e):
        reason = st.no_space_reason(store.root)
    else:
        reason = f"error{at}: {type(e).__name__}: {e} (details in worker.log)"
    try:
        ok = store.transition(run_id, (st.RUNNING,), status=st.FAILED, reason=reason, finished=time.time(), pid=None)
    except st.StoreError:
        ok = False
    if not ok and st.is_no_space(e):
        try:
            (store.run_dir(run_id) / st.NO_SPACE_MARKER).touch()
        except (OSError, ValueError):
            pass
    return ok


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
    ids: list[str | None] = [None] * len(configs)
    for i in range(len(configs)):
        ids[i] = store.create_run(resolve_group_refs(configs, ids, i), status=st.QUEUED)
    if start:
        ensure_scheduler(store)
    return [i for i in ids if i is not None]


def cancel(store: st.Store, run_id: str) -> str:
    """Cancel a queued run at once, or ask a running worker to stop (it checkpoints first).

    When the store cannot take the request (full disk, read-only), a live worker is sent
    SIGTERM instead (it stops at its next poll) and the store error is raised, its message
    saying so."""
    try:
        if store.transition(run_id, (st.QUEUED,), status=st.CANCELLED, reason="cancelled before it started", finished=time.time()):
            return st.CANCELLED
        rec = store.get_run(run_id)
        if rec.status == st.RUNNING:
            store.update_run(run_id, cancel_requested=1)
            return "cancelling"
        return rec.status
    except (st.StoreFull, st.StoreReadOnly) as e:
        rec = store.get_run(run_id)
        if rec.status == st.RUNNING and rec.pid and pid_alive(rec.pid, rec.pid_start):
            os.kill(rec.pid, signal.SIGTERM)
            if isinstance(e, st.StoreFull):
                note = f"its worker (process {rec.pid}) was told to stop; its status is written once there is space"
                raise st.StoreFull(store.root, note=note) from e
        raise


def resume(store: st.Store, run_id: str, *, start: bool = True, from_scratch: bool = False) -> None:
    """Queue a cancelled, failed or diverged run again; it continues from its checkpoint.

    A run past epoch 0 without a checkpoint (deleted, or never written) is refused unless
    ``from_scratch``: resuming it would discard its history and snapshots. (A run stopped
    before its first epoch ended has nothing worth keeping and starts again.)"""
    rec = store.get_run(run_id)
    if rec.imported:
        raise ValueError(f"run {run_id} holds imported embeddings: there is no training to resume; import the file "
                         "again (python -m trainers import FILE) to redo it")
    if rec.status not in st.RESUMABLE:
        raise ValueError(f"run {run_id} is {rec.status}; only {', '.join(st.RESUMABLE)} runs can be resumed")
    if not from_scratch and not store.checkpoint_path(run_id).exists():
        snaps = store.snapshots(run_id)
        n_snaps = len(snaps)
        n_hist = len(store.history(run_id)["step"])
        if rec.epoch > 0 or any(x.epoch > 0 for x in snaps):
            raise ValueError(f"run {run_id} has no checkpoint (checkpoint.pt is missing), so it cannot continue where it stopped; "
                             f"resuming would start it from scratch and discard its {n_hist} history points and {n_snaps} "
                             "snapshots. To do that, pass --from-scratch (python -m trainers resume RUN --from-scratch)")
    store.transition(run_id, st.RESUMABLE, status=st.QUEUED, resume=1, cancel_requested=0, reason="", finished=None)
    st.remove_stale_tmp(store.run_dir(run_id))
    _clear_no_space_marker(store, run_id)
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


def _open_log(store: st.Store, run_id: str) -> Any:
    return open(os.open(store.log_path(run_id), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


def _mark_launched(store: st.Store, run_id: str, pid: int, *, backend: str = "local", node: str = "") -> None:
    store.update_run(run_id, status=st.RUNNING, pid=pid, pid_start=process_start_time(pid), boot_id=boot_id(),
                     heartbeat=time.time(), started=time.time(), cancel_requested=0, backend=backend,
                     node=node or socket.gethostname())


def launch_worker(store: st.Store, run_id: str, *, threads: int | None = None) -> subprocess.Popen:
    """Start a detached worker for a queued run and mark it running with the worker's pid."""
    threads = threads or threads_per_worker()
    st.remove_stale_tmp(store.run_dir(run_id))
    log = _open_log(store, run_id)
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
    _mark_launched(store, run_id, proc.pid)
    return proc


def warm_enabled() -> bool:
    """Whether the scheduler keeps a warm worker ready: ``$LAB_WARM`` (default on; ``0`` off)."""
    return os.environ.get("LAB_WARM", "1") != "0"


class WarmWorker:
    """One worker process kept ready (``python -m jobs.warm``: torch imported, the default
    dataset loaded, one forward pass done) that the scheduler hands the next run through its
    stdin. It sleeps in a blocking read while it waits, so it costs memory, not cores; it exits
    when its stdin closes (the scheduler ended, or died)."""

    RESPAWN_BACKOFF = 30.0  # seconds before another try after a warm worker died while waiting

    def __init__(self, store: st.Store) -> None:
        self.store = store
        self.proc: subprocess.Popen | None = None
        self._died_at = 0.0

    def spawn(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        if self.proc is not None:  # it died waiting: do not spin on a worker that cannot start
            self.proc = None
            self._died_at = time.monotonic()
        if time.monotonic() - self._died_at < self.RESPAWN_BACKOFF and self._died_at:
            return
        log = _open_owner_only(self.store.root / "warm_worker.log", "ab")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jobs.warm", "--store", str(self.store.root)],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                env=_worker_env(self.store, threads_per_worker()),
                cwd=str(Path(__file__).resolve().parent.parent), start_new_session=True,
            )
        finally:
            log.close()

    def take(self, run_id: str, threads: int) -> subprocess.Popen | None:
        """Hand ``run_id`` to the warm worker; None when none is alive (the caller starts a cold one)."""
        p = self.proc
        if p is None or p.poll() is not None or p.stdin is None:
            return None
        self.proc = None
        st.remove_stale_tmp(self.store.run_dir(run_id))
        _mark_launched(self.store, run_id, p.pid)  # the pid first: the worker checks it is the run's
        try:
            p.stdin.write(f"{run_id} {int(threads)}\n".encode())
            p.stdin.close()
        except OSError:  # it died just now
            return None
        return p

    def close(self) -> None:
        p, self.proc = self.proc, None
        if p is not None and p.stdin is not None:
            try:
                p.stdin.close()  # end of input: it exits
            except OSError:
                pass


class LocalBackend:
    """Runs as worker processes on this machine (the default backend): a cold process per run,
    or the warm worker when one is ready."""

    name = "local"

    def __init__(self, store: st.Store, *, warm: bool | None = None) -> None:
        self.store = store
        self.procs: dict[str, subprocess.Popen] = {}
        self.warm = WarmWorker(store) if (warm_enabled() if warm is None else warm) else None
        if self.warm is not None:
            self.warm.spawn()

    def launch(self, run_id: str, threads: int) -> None:
        """Start ``run_id`` (marked running by the caller) and mark it with its worker's pid."""
        p = self.warm.take(run_id, threads) if self.warm is not None else None
        if p is None:
            p = launch_worker(self.store, run_id, threads=threads)
        self.procs[run_id] = p
        if self.warm is not None:
            self.warm.spawn()

    def exited(self) -> list[tuple[str, int]]:
        """Runs whose worker has exited since the last call, with its exit code (negative: a signal)."""
        out = []
        for run_id, p in list(self.procs.items()):
            rc = p.poll()
            if rc is not None:
                del self.procs[run_id]
                out.append((run_id, rc))
        if self.warm is not None:
            self.warm.spawn()  # one died while waiting: another (after a pause)
        return out

    def busy(self) -> set[str]:
        """Runs whose worker has not exited yet."""
        return set(self.procs)

    def terminate(self, rec: st.RunRecord) -> None:
        """Stop a run's worker that ignores a cancel (it checkpoints at its next poll)."""
        if rec.pid:
            try:
                os.kill(rec.pid, signal.SIGTERM)
            except OSError:
                pass

    def close(self) -> None:
        if self.warm is not None:
            self.warm.close()


BACKENDS = ("local", "ray")
BACKEND_SETTING = "backend"  # the store's chosen backend (the app's sidebar setting), "local" or "ray"


def chosen_backend(store: st.Store) -> str:
    """The backend a scheduler started now uses: ``$LAB_BACKEND``, else the store's setting (the
    sidebar's "Runs train on"), else "ray" when ``$RAY_ADDRESS`` is set, else "local"."""
    if os.environ.get("LAB_BACKEND"):
        return os.environ["LAB_BACKEND"]
    try:
        saved = (store.root / BACKEND_SETTING).read_text().strip()
    except OSError:
        saved = ""
    if saved in BACKENDS:
        return saved
    return "ray" if os.environ.get("RAY_ADDRESS") else "local"


def choose_backend(store: st.Store, name: str) -> None:
    """Save ``name`` as the store's backend. A running scheduler with another backend finishes
    the runs it has started, then exits (:meth:`Scheduler.serve`); the next one (started by any
    page or command) uses ``name``. Raises ValueError, changing nothing, for an unknown name,
    for Ray when it is not installed, and when ``$LAB_BACKEND`` decides instead."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}: use one of {', '.join(BACKENDS)}")
    env = os.environ.get("LAB_BACKEND")
    if env and env != name:
        raise ValueError(f"LAB_BACKEND={env} is set where the app was started, and it decides: start the app without it "
                         "to choose here")
    if name == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ValueError("Ray is not installed here: install the lab's ray extra (pip install '.[ray]'), then "
                             "point it at a cluster (docs/scaling.md)")
    st.atomic_write_bytes(store.root / BACKEND_SETTING, name.encode())


def make_backend(store: st.Store, name: str | None = None) -> Any:
    """The scheduler's backend: ``name``, else :func:`chosen_backend`."""
    name = name or chosen_backend(store)
    if name == "local":
        return LocalBackend(store)
    if name == "ray":
        from jobs.ray_backend import RayBackend

        return RayBackend(store)
    raise ValueError(f"unknown backend {name!r}: use local or ray")


# -- the scheduler ----------------------------------------------------------------------
BACKEND_FILE = "scheduler.backend"  # the running scheduler's backend, written when it starts
BACKEND_ERROR_FILE = "scheduler.backend_error"  # why the last scheduler's backend could not start (until one does)


def backend_error(store: st.Store) -> str:
    """Why the store's last scheduler could not start its backend ("" when the last one could)."""
    try:
        return (store.root / BACKEND_ERROR_FILE).read_text().strip()
    except OSError:
        return ""


def _lock_path(store: st.Store) -> Path:
    return store.root / "scheduler.lock"


def _open_owner_only(path: Path, mode: str = "a+") -> Any:
    return open(os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600), mode)


def scheduler_running(store: st.Store) -> bool:
    if store.read_only:
        return False
    with _open_owner_only(_lock_path(store)) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def ensure_scheduler(store: st.Store, *, backend: str | None = None) -> bool:
    """Start the scheduler for this store unless one runs. Returns True if one was started.
    ``backend``: the one it drives (else it follows :func:`chosen_backend`)."""
    if store.read_only or scheduler_running(store):
        return False
    # spawn through a short-lived parent so the scheduler is re-parented (no zombie here)
    code = (
        "import os, subprocess, sys; subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, "
        "stdout=open(os.open(sys.argv[-1] + '/scheduler.log', os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), 'ab'), "
        "stderr=subprocess.STDOUT, start_new_session=True)"
    )
    argv = [sys.executable, "-m", "trainers", "scheduler", "--store", str(store.root)]
    env = _worker_env(store, 1)
    # the scheduler's threads: one for scheduling, one for maps; their numeric libraries get
    # one thread each, whatever the environment says, so workers keep the cores
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    if backend:
        env["LAB_BACKEND"] = backend
    subprocess.run([sys.executable, "-c", code, *argv], env=env, cwd=str(Path(__file__).resolve().parent.parent),
                   check=False, timeout=30)
    return True


def work_waiting(store: st.Store) -> bool:
    """True if runs are queued, or (with maps on) snapshots wait for their UMAP map."""
    if store.list_runs(status=st.QUEUED):
        return True
    return os.environ.get("LAB_UMAP", "1") != "0" and bool(store.pending_projections("umap"))


def wake_scheduler(store: st.Store) -> bool:
    """Start the scheduler when work is waiting and none runs (a dead scheduler strands queued
    runs). Every CLI command that reads the store calls this. Returns True if one was started;
    never raises for a store that cannot take it."""
    try:
        return work_waiting(store) and ensure_scheduler(store)
    except (st.StoreError, OSError, sqlite3.Error, subprocess.SubprocessError):
        return False


def scheduler_backend(store: st.Store) -> str | None:
    """The backend of the scheduler running for ``store`` ("local", "ray"); None when none runs."""
    if not scheduler_running(store):
        return None
    try:
        return (store.root / BACKEND_FILE).read_text().strip() or None
    except OSError:
        return None


class Scheduler:
    """The loop of ``python -m trainers scheduler``."""

    def __init__(self, store: st.Store, *, idle_exit: float | None = None, umap: bool = True,
                 backend: Any = None) -> None:
        self.store = store
        self.backend = backend
        try:  # seconds with nothing to do before it exits: $LAB_SCHEDULER_IDLE, default 600
            self.idle_exit = idle_exit if idle_exit is not None else float(os.environ.get("LAB_SCHEDULER_IDLE", IDLE_EXIT_SECONDS))
        except ValueError:
            self.idle_exit = IDLE_EXIT_SECONDS
        self.stop = threading.Event()
        self.successor = False  # exiting for a scheduler with the store's newly chosen backend
        self.umap = umap and os.environ.get("LAB_UMAP", "1") != "0"
        self.proj_busy = threading.Event()  # set while a map is being computed
        self.errors = 0  # store errors logged by passes so far
        self._last_error = ""

    def _guard(self, what: str, fn: Callable[[], Any]) -> Any:
        """Run one step of a pass; a store error is logged (once until it changes) and the
        pass goes on with the other runs."""
        try:
            return fn()
        except (st.StoreError, sqlite3.Error, OSError) as e:
            msg = f"{what}: {type(e).__name__}: {e}"
            if msg != self._last_error:
                _say(msg)
                self._last_error = msg
            self.errors += 1
            return None

    def tick(self) -> bool:
        """One scheduling pass; return True if anything is queued, running or pending. A store
        error in one step is logged and the others go on."""
        s = self.store
        if self.backend is None:
            self.backend = make_backend(s)
        # workers that exited: the worker marks its own run; a signal death is marked here
        for run_id, rc in self.backend.exited():
            self._guard(f"marking run {run_id}", lambda run_id=run_id, rc=rc: self._mark_exited(run_id, rc))
        self._guard("reaping", lambda: reap(s))
        # escalate cancels that a worker ignores for 15 s
        for rec in self._guard("listing running runs", lambda: s.list_runs(status=st.RUNNING)) or []:
            if rec.cancel_requested and rec.heartbeat and time.time() - rec.heartbeat > 15:
                self.backend.terminate(rec)
        running = self._guard("listing running runs", lambda: s.list_runs(status=st.RUNNING))
        queued = self._guard("listing queued runs", lambda: sorted(s.list_runs(status=st.QUEUED), key=lambda r: r.created))
        if running is None or queued is None:
            return True  # the store could not be read: keep trying rather than exit as idle

        queued = [r for r in queued if self._guard(f"checking the teacher of {r.id}", lambda r=r: teacher_gate(s, r))]
        # a worker whose run has ended may still be exiting (writing, freeing memory): it holds
        # its core until its process is gone, so it counts until then
        busy_workers = {r.id for r in running} | self.backend.busy()
        limit = self._concurrency()
        slots = limit - len(busy_workers)
        for rec in queued[: max(0, slots)]:
            self._guard(f"starting run {rec.id}", lambda rec=rec: self._start(rec.id, min(limit, len(running) + len(queued))))
        return bool(running or queued or self.backend.busy() or self.proj_busy.is_set())

    def _concurrency(self) -> int:
        """Runs at once: the backend's limit (a Ray cluster's CPUs), else :func:`concurrency`."""
        fn = getattr(self.backend, "concurrency", None)
        return fn() if fn is not None else concurrency()

    def _mark_exited(self, run_id: str, rc: int) -> None:
        rec = self.store.get_run(run_id)
        if rec.status == st.RUNNING:
            how = f"killed by signal {-rc}" if rc < 0 else f"exited with code {rc}"
            reason = dead_worker_reason(self.store, rec, f"worker {how} at epoch {rec.epoch}; data kept, " + (
                "resume starts from scratch" if rec.epoch == 0 else "resume continues from the last checkpoint"))
            if self.store.transition(run_id, (st.RUNNING,), status=st.FAILED, pid=None, finished=time.time(), reason=reason):
                _clear_no_space_marker(self.store, run_id)

    def _start(self, run_id: str, wanting: int) -> None:
        s = self.store
        if not s.transition(run_id, (st.QUEUED,), status=st.RUNNING, pid=None, started=time.time(), heartbeat=time.time()):
            return
        try:
            self.backend.launch(run_id, threads_per_worker(max(1, wanting)))
        except BaseException as e:
            record_failure(s, run_id, e)
            raise

    def _backend_failed(self, e: BaseException) -> None:
        """The backend could not start: mark the queued runs failed with why (a resume queues
        them again once it is fixed) and exit."""
        try:
            name = chosen_backend(self.store)
        except Exception:
            name = "chosen"
        first = (str(e).strip().splitlines() or [""])[0][:300]
        reason = f"the scheduler's {name} backend could not start: {type(e).__name__}: {first}"
        _say(reason)
        try:  # for the app's sidebar, until a backend starts
            st.atomic_write_bytes(self.store.root / BACKEND_ERROR_FILE, reason.encode())
        except (OSError, st.StoreError):
            pass
        for rec in self._guard("listing queued runs", lambda: self.store.list_runs(status=st.QUEUED)) or []:
            self._guard(f"marking run {rec.id}", lambda rec=rec: self.store.transition(
                rec.id, (st.QUEUED,), status=st.FAILED, reason=reason, finished=time.time()))

    def _projection_loop(self) -> None:
        from jobs.projector import ProjectionWorker

        pw = ProjectionWorker(self.store)
        pw.warm_up()
        while not self.stop.is_set():
            # busy only while a map is computed: looking for work must not count as work,
            # or the scheduler's idle timer restarts whenever a tick lands on a look
            try:
                key = pw.next_job()
            except Exception as e:  # the store could not be read: try again later
                _say(f"projection error: {type(e).__name__}: {e}")
                key = None
            if key is None:
                self.stop.wait(PROJECTION_POLL_SECONDS)
                continue
            self.proj_busy.set()
            try:
                pw.run(key)
            except Exception as e:  # never let a bad snapshot kill the scheduler
                _say(f"projection error: {type(e).__name__}: {e}")
                self.stop.wait(5.0)  # e.g. a full disk: do not spin on it
            finally:
                self.proj_busy.clear()

    def _backend_changed(self) -> bool:
        """Whether the store's chosen backend differs from the one this scheduler drives (checked
        when none of its workers is busy; a backend passed in by a test or a command stays)."""
        try:
            return chosen_backend(self.store) != self.backend.name
        except Exception:
            return False

    def serve(self) -> None:
        with _open_owner_only(_lock_path(self.store)) as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                _say("another scheduler holds the lock; exiting")
                return
            _say(f"scheduler {os.getpid()} serving {self.store.root}")
            pid_file = self.store.root / "scheduler.pid"
            try:
                pid_file.write_text(str(os.getpid()))
            except OSError as e:
                _say(f"cannot write {pid_file}: {e}")
            signal.signal(signal.SIGTERM, lambda *a: self.stop.set())
            if self.backend is None:
                try:
                    self.backend = make_backend(self.store)  # a warm worker starts importing now
                except Exception as e:  # e.g. no Ray cluster at $RAY_ADDRESS: say so on the runs waiting
                    self._backend_failed(e)
                    return
            try:
                (self.store.root / BACKEND_FILE).write_text(self.backend.name)
                (self.store.root / BACKEND_ERROR_FILE).unlink(missing_ok=True)
            except OSError as e:
                _say(f"cannot write {BACKEND_FILE}: {e}")
            th = None
            if self.umap:
                th = threading.Thread(target=self._projection_loop, daemon=True)
                th.start()
            idle_since = time.monotonic()
            while not self.stop.is_set():
                if not self.backend.busy() and self._backend_changed():  # before queued runs start on the old one
                    _say(f"the store's backend is now {chosen_backend(self.store)}: handing over to a scheduler that "
                         "uses it")
                    self.successor = True
                    break
                try:
                    busy = self.tick()
                except Exception as e:  # anything else: log it and keep the other runs going
                    _say(f"scheduler error: {type(e).__name__}: {e}")
                    busy = True
                if busy:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > self.idle_exit:
                    break
                self.stop.wait(TICK_SECONDS)
            self.stop.set()
            self.backend.close()
            _say("scheduler exiting")
        if self.successor:  # the lock is free: the next scheduler starts with the store's backend
            ensure_scheduler(self.store)
