"""The store as a worker on another machine sees it: :class:`RemoteStore` answers what the
training loop (``trainers.train.train_run``) asks of the lab store, and records what it writes
as a list of operations that the scheduler, the store's single writer, fetches and applies
(:func:`apply_write`).

A worker of the Ray backend (:mod:`jobs.ray_backend`) cannot open the store's SQLite file: it
runs on another node. It receives its run's record, the checkpoint to resume from and, for a
distillation student, its teacher's record and checkpoint; checkpoints live in a folder of its
own on its node (``checkpoint_path`` answers a real file: the loop reads it with ``torch.load``).
The scheduler pushes a cancel request (:meth:`RemoteStore.set_cancel`), which ``get_run``
answers as ``cancel_requested``.

Standard library and numpy only: the scheduler imports this without torch.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from jobs import store as st

# fields of a run a remote worker may only clear in the store: its process id and boot id are
# those of another machine (reap would judge the run by a local process of that number)
REMOTE_ONLY_FIELDS = ("pid", "pid_start", "boot_id")


class RemoteStore:
    """The store methods ``train_run`` uses, for a worker away from the store.

    ``records``: the run's own record and, for a student, its teacher's. ``checkpoints``: run
    id -> checkpoint bytes to place in the worker's folder (the run's own on resume, the
    teacher's). ``snapshots``: the run's snapshot records kept so far (a resume reads the
    metrics of the last one)."""

    def __init__(self, run_id: str, records: dict[str, st.RunRecord], *, checkpoints: dict[str, bytes] | None = None,
                 snapshots: list[st.SnapshotRecord] | None = None, folder: str | None = None) -> None:
        self.run_id = run_id
        self._records = dict(records)
        self._snaps = list(snapshots or [])
        self._ops: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()
        self._cancel = False
        self.root = Path(folder or tempfile.mkdtemp(prefix="lab-run-"))
        self._own_folder = folder is None
        for rid, data in (checkpoints or {}).items():
            p = self.checkpoint_path(rid)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)

    # -- what the scheduler calls ---------------------------------------------------------
    def set_cancel(self, flag: bool) -> None:
        """The store's ``cancel_requested`` for this run, as the scheduler last read it."""
        self._cancel = bool(flag)

    def take(self) -> list[tuple[Any, ...]]:
        """The writes recorded since the last call, in order (each a tuple for :func:`apply_write`)."""
        with self._lock:
            ops, self._ops = self._ops, []
        return ops

    def pending(self) -> int:
        with self._lock:
            return len(self._ops)

    def cleanup(self) -> None:
        """Remove the worker's folder (checkpoints)."""
        if self._own_folder:
            shutil.rmtree(self.root, ignore_errors=True)

    def _put(self, *op: Any) -> None:
        with self._lock:
            self._ops.append(op)

    # -- the store's interface, as train_run uses it ---------------------------------------
    def get_run(self, run_id: str) -> st.RunRecord:
        if run_id not in self._records:
            raise KeyError(f"no run {run_id!r} was sent to this worker")
        rec = self._records[run_id]
        if run_id == self.run_id and self._cancel:
            rec = dataclasses.replace(rec, cancel_requested=True)
        return rec

    def update_run(self, run_id: str, **fields: Any) -> None:
        rec = self._records.get(run_id)
        if rec is not None:
            known = {k: v for k, v in fields.items() if k in {f.name for f in dataclasses.fields(rec)}}
            if "grp" in fields:
                known["group"] = fields["grp"]
            self._records[run_id] = dataclasses.replace(rec, **known)
        fields = {k: v for k, v in fields.items() if k not in REMOTE_ONLY_FIELDS or v is None}
        if fields:
            self._put("update", run_id, fields)

    def append_history(self, run_id: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._put("history", run_id, [dict(r) for r in rows])

    def add_snapshot(self, run_id: str, epoch: int, step: int, arrays: dict[str, Any], metrics: dict[str, Any]) -> None:
        self._snaps = [s for s in self._snaps if s.epoch != epoch]
        self._snaps.append(st.SnapshotRecord(run_id, epoch, step, time.time(), f"snapshots/epoch_{epoch:05d}.npz",
                                             dict(metrics)))
        self._snaps.sort(key=lambda s: s.epoch)
        self._put("snapshot", run_id, epoch, step, arrays, dict(metrics))

    def snapshots(self, run_id: str) -> list[st.SnapshotRecord]:
        return list(self._snaps) if run_id == self.run_id else []

    def truncate_after(self, run_id: str, epoch: int) -> list[str]:
        self._snaps = [s for s in self._snaps if s.epoch <= epoch]
        self._put("truncate", run_id, epoch)
        return []

    def checkpoint_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "checkpoint.pt"

    def write_checkpoint(self, run_id: str, data: bytes) -> None:
        st.atomic_write_bytes(self.checkpoint_path(run_id), data)
        self._put("checkpoint", run_id, bytes(data))

    def run_dir(self, run_id: str) -> Path:
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise ValueError(f"bad run id {run_id!r}")
        d = self.root / run_id
        d.mkdir(parents=True, exist_ok=True)
        return d

    def log_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "worker.log"

    def log(self, run_id: str, line: str) -> None:
        """A line for the run's worker.log in the store."""
        self._put("log", run_id, line)


def apply_write(store: st.Store, op: tuple[Any, ...], *, now: float | None = None) -> None:
    """Apply one write of a :class:`RemoteStore` to the lab store. Times the run's liveness is
    judged by (heartbeat, finished) are the scheduler's clock, not the worker's: the nodes'
    clocks may differ."""
    kind, run_id = op[0], op[1]
    now = time.time() if now is None else now
    if kind == "update":
        fields = {k: v for k, v in op[2].items() if k not in REMOTE_ONLY_FIELDS or v is None}
        for k in ("heartbeat", "finished"):
            if fields.get(k) is not None:
                fields[k] = now
        if fields:
            store.update_run(run_id, **fields)
    elif kind == "history":
        store.append_history(run_id, op[2])
    elif kind == "snapshot":
        store.add_snapshot(run_id, op[2], op[3], op[4], op[5])
    elif kind == "truncate":
        store.truncate_after(run_id, op[2])
    elif kind == "checkpoint":
        store.write_checkpoint(run_id, op[2])
    elif kind == "log":
        fd = os.open(store.log_path(run_id), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with open(fd, "a") as f:
            f.write(op[2] if op[2].endswith("\n") else op[2] + "\n")
    else:
        raise ValueError(f"unknown write {kind!r}")
