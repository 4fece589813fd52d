"""The Ray backend of the scheduler: each run is a Ray actor somewhere in a cluster.

Chosen by ``$LAB_BACKEND=ray`` or ``$RAY_ADDRESS`` (``runner.make_backend``); docs/scaling.md
says how to point the lab at a cluster. The scheduler connects to the cluster as a Ray driver
and stays the store's single writer:

- ``launch`` creates one actor per run (:class:`RunActor`; ``num_cpus`` = the run's threads,
  ``num_gpus=1`` for a run on ``cuda``) and sends it the run's record, the checkpoint to resume
  from and a student's teacher with its checkpoint. The actor trains with the same loop as a
  local worker (``trainers.train.train_run``), on a :class:`jobs.remote_store.RemoteStore`
  that records its writes.
- ``exited``, every scheduler tick, fetches each actor's writes (one ``drain`` call in flight
  per run, answered by the actor between training steps), applies them to the store (history,
  snapshots, checkpoints, progress, its log lines), and pushes the run's ``cancel_requested``.
  A run whose actor ended is reported with its exit code; an actor that died (its process
  killed, its node lost) is marked failed with the reason.
- ``terminate`` kills the actor of a run whose cancel was ignored.

Actors share the fate of the scheduler (their owner): a scheduler that stops kills its runs'
actors and marks the runs failed (resumable); one that starts marks the Ray runs of a
scheduler that died the same way.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs import store as st
from jobs.remote_store import RemoteStore, apply_write
from jobs.teachers import check_teacher
from trainers.config import ConfigError, RunConfig

NAMESPACE = "embedding-geometry-lab"
ROOT = Path(__file__).resolve().parent.parent
CODE_PACKAGES = ("jobs", "trainers", "analysis")  # what a node needs of the lab to train a run
RESOURCES_SECONDS = 5.0  # how long the cluster's resources are cached


def ray_available() -> bool:
    """Whether Ray is installed (``pip install .[ray]``)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _say(msg: str) -> None:
    try:
        print(msg, flush=True)
    except OSError:
        pass


def _resume_note(epoch: int) -> str:
    return "data kept, " + ("resume starts from scratch" if epoch == 0 else "resume continues from the last checkpoint")


def extra_resources() -> dict[str, float]:
    """Custom Ray resources every run asks for: ``$LAB_RAY_RESOURCES`` as JSON, e.g.
    ``{"lab": 1}`` to keep runs on nodes started with ``--resources '{"lab": 4}'``."""
    text = os.environ.get("LAB_RAY_RESOURCES", "").strip()
    if not text:
        return {}
    value = json.loads(text)
    if not isinstance(value, dict) or not all(isinstance(v, (int, float)) for v in value.values()):
        raise ValueError(f"LAB_RAY_RESOURCES must be a JSON object of numbers, got {text!r}")
    return {str(k): float(v) for k, v in value.items()}


def runtime_env() -> dict[str, Any]:
    """The actors' runtime environment: the lab's packages shipped to the nodes (``py_modules``),
    unless ``$LAB_RAY_CODE=installed`` says every node has the lab installed at hand."""
    if os.environ.get("LAB_RAY_CODE", "ship") == "installed":
        return {}
    return {"py_modules": [str(ROOT / p) for p in CODE_PACKAGES]}


class RunActor:
    """One run on a Ray node: trains on a thread of its own while the scheduler drains its
    writes. Made a Ray actor by :func:`actor_class`."""

    def __init__(self, run_id: str, records: dict[str, st.RunRecord], checkpoints: dict[str, bytes],
                 snapshots: list[st.SnapshotRecord], threads: int) -> None:
        self.run_id = run_id
        self.threads = threads
        self.store = RemoteStore(run_id, records, checkpoints=checkpoints, snapshots=snapshots)
        self.rc: int | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> dict[str, Any]:
        """Start training; return where: the node's address and id, the process id."""
        import ray

        ctx = ray.get_runtime_context()
        info = {"node_ip": ray.util.get_node_ip_address(), "node_id": ctx.get_node_id(), "pid": os.getpid(),
                "host": os.uname().nodename}
        if self._thread is None:
            self._log(f"Ray worker process {info['pid']} on node {info['node_ip']} ({info['host']}, node id "
                      f"{info['node_id'][:12]}) starting run {self.run_id} with {self.threads} threads")
            self._thread = threading.Thread(target=self._train, daemon=True)
            self._thread.start()
        return info

    def drain(self, cancel: bool) -> dict[str, Any]:
        """The writes since the last call; ``rc`` once training has ended (all its writes are in
        this answer). ``cancel``: the store's cancel request for the run."""
        self.store.set_cancel(cancel)
        rc = self.rc  # read before taking: every write of a finished run is then taken below
        return {"ops": self.store.take(), "rc": rc}

    def _log(self, msg: str) -> None:
        self.store.log(self.run_id, f"{time.strftime('%H:%M:%S')} {msg}")

    def _train(self) -> None:
        """What a local worker does (jobs.worker.run_worker), on the remote store."""
        rc = 1
        try:
            import torch

            from trainers.train import train_run

            rec = self.store.get_run(self.run_id)
            cfg = RunConfig.from_dict(rec.config)
            if cfg.teacher:
                check_teacher(self.store, cfg.teacher, cfg)  # type: ignore[arg-type]
            torch.set_num_threads(cfg.threads or self.threads)
            out = train_run(self.store, self.run_id, log=self._log)
            self._log(f"done: {out}")
            rc = 0
        except Exception as e:  # a crash: mark the run, keep its data, log the traceback
            self._log(traceback.format_exc())
            epoch = self.store.get_run(self.run_id).epoch
            self.store.update_run(self.run_id, status=st.FAILED, finished=time.time(), pid=None,
                                  reason=f"error at epoch {epoch}: {type(e).__name__}: {e} (details in worker.log)")
        finally:
            self.store.cleanup()
            self.rc = rc


_ACTOR: Any = None


def actor_class() -> Any:
    """:class:`RunActor` as a Ray actor class (made once Ray is imported)."""
    global _ACTOR
    if _ACTOR is None:
        import ray

        _ACTOR = ray.remote(max_restarts=0, max_task_retries=0)(RunActor)
    return _ACTOR


NODE_CHECK_SECONDS = 1.0  # how often the scheduler asks the cluster which of its runs' nodes are alive


@dataclass
class _Run:
    run_id: str
    actor: Any
    start_ref: Any = None  # the start call, until it answers
    drain_ref: Any = None  # the drain call in flight
    node_ip: str = ""
    node_id: str = ""
    pid: int | None = None
    killed: bool = False  # by terminate (an ignored cancel)
    pending: list[tuple[Any, ...]] = field(default_factory=list)  # writes fetched, not yet applied


class RayBackend:
    """The scheduler's backend that runs each run as a Ray actor (see the module's docstring)."""

    name = "ray"

    def __init__(self, store: st.Store) -> None:
        try:
            import ray
        except ImportError:
            raise RuntimeError("Ray is not installed where the scheduler runs: pip install '.[ray]'") from None

        self.ray = ray
        self.store = store
        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS") or "auto"
            ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.WARNING,
                     runtime_env=runtime_env())
        self.runs: dict[str, _Run] = {}
        self._resources: tuple[float, dict[str, float]] = (0.0, {})
        self._nodes_checked = 0.0  # when the runs' nodes were last looked up (NODE_CHECK_SECONDS)
        self._mark_orphans()

    # -- the cluster -------------------------------------------------------------------
    def cluster_resources(self) -> dict[str, float]:
        t, res = self._resources
        if time.monotonic() - t > RESOURCES_SECONDS or not res:
            res = dict(self.ray.cluster_resources())
            self._resources = (time.monotonic(), res)
        return res

    def concurrency(self) -> int:
        """Runs at once: ``$LAB_CONCURRENCY``, else one per CPU of the cluster."""
        if os.environ.get("LAB_CONCURRENCY"):
            try:
                return max(1, int(os.environ["LAB_CONCURRENCY"]))
            except ValueError:
                pass
        return max(1, int(self.cluster_resources().get("CPU", 1)))

    def _lost_nodes(self) -> list[tuple[str, int]]:
        """Runs whose node the cluster reports dead (looked up every NODE_CHECK_SECONDS): marked
        at once, without waiting for their actors' calls to fail (which can take much longer)."""
        if time.monotonic() - self._nodes_checked < NODE_CHECK_SECONDS:
            return []
        self._nodes_checked = time.monotonic()
        try:
            alive = {n.get("NodeID"): bool(n.get("Alive")) for n in self.ray.nodes()}
        except Exception:  # the cluster cannot be asked now: the actors' calls will tell
            return []
        out = []
        for run in list(self.runs.values()):
            if run.node_id and alive.get(run.node_id) is False:
                out.append((run.run_id, self._died(run, RuntimeError("the node has died"))))
        return out

    def _node_alive(self, node_id: str) -> bool | None:
        if not node_id:
            return None
        try:
            for n in self.ray.nodes():
                if n.get("NodeID") == node_id:
                    return bool(n.get("Alive"))
        except Exception:  # the cluster cannot be asked: unknown
            return None
        return None

    def _mark_orphans(self) -> None:
        """Ray runs left running by a scheduler that died: their actors died with it."""
        for rec in self.store.list_runs(status=st.RUNNING):
            if rec.backend == "ray" and rec.id not in self.runs:
                reason = (f"the scheduler that ran it on Ray stopped at epoch {rec.epoch} (its Ray worker stops with "
                          f"it); {_resume_note(rec.epoch)}")
                self.store.transition(rec.id, (st.RUNNING,), status=st.FAILED, reason=reason, finished=time.time(),
                                      pid=None)

    # -- the backend interface ---------------------------------------------------------
    def launch(self, run_id: str, threads: int) -> None:
        """Start the run (marked running by the scheduler) as an actor on the cluster."""
        s = self.store
        rec = s.get_run(run_id)
        records = {run_id: rec}
        checkpoints: dict[str, bytes] = {}
        if rec.resume and s.checkpoint_path(run_id).exists():
            checkpoints[run_id] = s.checkpoint_path(run_id).read_bytes()
        num_gpus = 1 if rec.config.get("device") == "cuda" else 0
        try:
            tid = rec.config.get("teacher") or ""
            if tid:  # checked again by the actor, with the student's config (its node may have the device)
                teacher = check_teacher(s, tid)
                records[teacher.id] = teacher
                checkpoints[teacher.id] = s.checkpoint_path(teacher.id).read_bytes()
            if num_gpus and self.cluster_resources().get("GPU", 0) < 1:
                raise ConfigError("the run asks for a GPU (device cuda) and the Ray cluster has none")
            resources = extra_resources()
        except (ConfigError, ValueError) as e:
            s.transition(run_id, (st.RUNNING,), status=st.FAILED, finished=time.time(), pid=None, backend=self.name,
                         reason=f"error at epoch {rec.epoch}: {type(e).__name__}: {e}")
            return
        actor = actor_class().options(num_cpus=threads, num_gpus=num_gpus, resources=resources or None).remote(
            run_id, records, checkpoints, s.snapshots(run_id), threads)
        run = _Run(run_id, actor, start_ref=actor.start.remote())
        self.runs[run_id] = run
        s.update_run(run_id, backend=self.name, node="", pid=None, pid_start=None, boot_id=st.boot_id(),
                     heartbeat=time.time(), cancel_requested=0)

    def busy(self) -> set[str]:
        return set(self.runs)

    def exited(self) -> list[tuple[str, int]]:
        """Apply the writes that arrived, push cancel requests, and return the runs whose actor
        ended since the last call (0: trained to its end, cancelled or diverged, as it marked
        itself; 1: it crashed or its actor died, the run marked failed here)."""
        if not self.runs:
            return []
        out: list[tuple[str, int]] = self._lost_nodes()
        refs = {}
        for run in self.runs.values():
            ref = run.start_ref if run.start_ref is not None else run.drain_ref
            if ref is not None:
                refs[ref] = run
        ready, _ = self.ray.wait(list(refs), num_returns=len(refs), timeout=0) if refs else ([], [])
        cancels: dict[str, bool] | None = None
        for ref in ready:
            run = refs[ref]
            try:
                answer = self.ray.get(ref)
            except self.ray.exceptions.ActorUnavailableError:  # unreachable for now: ask again
                answer = None
            except self.ray.exceptions.RayActorError as e:
                out.append((run.run_id, self._died(run, e)))
                continue
            if run.start_ref is not None:
                run.start_ref = None
                if answer is not None:
                    self._started(run, answer)
            elif answer is not None:
                run.pending += answer["ops"]
                if not self._apply(run):
                    out.append((run.run_id, 1))
                    continue
                if answer["rc"] is not None and not run.pending:
                    self._forget(run)
                    out.append((run.run_id, int(answer["rc"])))
                    continue
            if cancels is None:
                cancels = {r.id: r.cancel_requested for r in self.store.list_runs(status=st.RUNNING)}
            run.drain_ref = run.actor.drain.remote(bool(cancels.get(run.run_id, False)))
        return out

    def terminate(self, rec: st.RunRecord) -> None:
        """Kill the actor of a run that ignores its cancel; the run is marked cancelled."""
        run = self.runs.get(rec.id)
        if run is not None and not run.killed:
            run.killed = True
            self.ray.kill(run.actor, no_restart=True)

    def close(self) -> None:
        """Stop every actor (they would die with this driver anyway) and mark their runs."""
        for run in list(self.runs.values()):
            try:
                self.ray.kill(run.actor, no_restart=True)
            except Exception:
                pass
            epoch = self._epoch(run.run_id)
            self.store.transition(run.run_id, (st.RUNNING,), status=st.FAILED, finished=time.time(), pid=None,
                                  reason=f"the scheduler stopped while its Ray worker was at epoch {epoch}; "
                                         + _resume_note(epoch))
        self.runs.clear()
        try:
            self.ray.shutdown()
        except Exception:
            pass

    # -- helpers -----------------------------------------------------------------------
    def _epoch(self, run_id: str) -> int:
        try:
            return self.store.get_run(run_id).epoch
        except (KeyError, st.StoreError):
            return 0

    def _started(self, run: _Run, info: dict[str, Any]) -> None:
        run.node_ip, run.node_id, run.pid = info["node_ip"], info["node_id"], info["pid"]
        self.store.update_run(run.run_id, node=f"{run.node_ip} · {run.node_id[:8]}", heartbeat=time.time())

    def _apply(self, run: _Run) -> bool:
        """Write the run's fetched writes to the store, in order. A store error leaves the rest
        for the next tick; a full disk fails the run (as a local worker's would). False when the
        run was failed here."""
        while run.pending:
            try:
                apply_write(self.store, run.pending[0])
            except st.StoreFull as e:
                self._forget(run)
                reason = st.no_space_reason(self.store.root) + f" (its Ray worker was stopped at epoch {self._epoch(run.run_id)})"
                try:
                    self.store.transition(run.run_id, (st.RUNNING,), status=st.FAILED, reason=reason,
                                          finished=time.time(), pid=None)
                except st.StoreError:
                    pass
                _say(f"run {run.run_id}: {e}")
                return False
            except (st.StoreError, OSError) as e:
                _say(f"run {run.run_id}: writing to the store failed, trying again: {type(e).__name__}: {e}")
                return True
            run.pending.pop(0)
        return True

    def _died(self, run: _Run, err: BaseException) -> int:
        """Mark the run of an actor that died; its exit code for the scheduler."""
        self._forget(run, kill=False)
        epoch = self._epoch(run.run_id)
        if run.killed:
            reason = (f"cancelled at epoch {epoch}: its Ray worker did not stop within 15 s of the request and was "
                      f"stopped; {_resume_note(epoch)}")
            self.store.transition(run.run_id, (st.RUNNING,), status=st.CANCELLED, reason=reason, finished=time.time(),
                                  pid=None, cancel_requested=0)
            return 0
        text = str(err)
        where = run.node_ip or "?"
        if self._node_alive(run.node_id) is False or "node has died" in text or "node died" in text.lower() \
                or ("raylet" in text and "died" in text):
            reason = f"the Ray node {where} running it was lost at epoch {epoch}; {_resume_note(epoch)}"
        elif run.pid is None:
            first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
            reason = f"its Ray worker could not start: {first}"
        else:
            reason = (f"its Ray worker (process {run.pid} on node {where}) died (killed or crashed) at epoch {epoch}; "
                      f"{_resume_note(epoch)}")
        self.store.transition(run.run_id, (st.RUNNING,), status=st.FAILED, reason=reason, finished=time.time(), pid=None)
        return 1

    def _forget(self, run: _Run, *, kill: bool = True) -> None:
        self.runs.pop(run.run_id, None)
        if kill:
            try:
                self.ray.kill(run.actor, no_restart=True)
            except Exception:
                pass
