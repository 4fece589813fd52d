"""The lab store: SQLite (WAL) for runs, history, snapshots and projections, plus one
folder per run (config.json, checkpoint.pt, snapshot arrays, worker.log).

The default store is the folder ``lab_store`` under the working directory; the
environment variable ``LAB_STORE`` overrides it. Files are written atomically (write
to a temporary name in the same folder, then rename). Arrays are ``.npz`` read with
``allow_pickle=False``; checkpoints are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainers.config import RunConfig

ENV_VAR = "LAB_STORE"
DEFAULT_DIR = "lab_store"

# run statuses
QUEUED, RUNNING, FINISHED, CANCELLED, FAILED, DIVERGED, IMPORTED = (
    "queued",
    "running",
    "finished",
    "cancelled",
    "failed",
    "diverged",
    "imported",
)
ACTIVE = (QUEUED, RUNNING)
RESUMABLE = (CANCELLED, FAILED, DIVERGED)

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'trained',
    grp TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    pid INTEGER,
    pid_start TEXT,
    boot_id TEXT,
    heartbeat REAL,
    started REAL,
    finished REAL,
    seconds REAL NOT NULL DEFAULT 0,
    epoch INTEGER NOT NULL DEFAULT 0,
    step INTEGER NOT NULL DEFAULT 0,
    total_epochs INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    resume INTEGER NOT NULL DEFAULT 0,
    metrics TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS history (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    epoch REAL NOT NULL,
    seconds REAL NOT NULL,
    loss REAL,
    extra TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS snapshots (
    run_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    step INTEGER NOT NULL,
    created REAL NOT NULL,
    file TEXT NOT NULL,
    metrics TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS projections (
    run_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    space TEXT NOT NULL,
    method TEXT NOT NULL,
    created REAL NOT NULL,
    seconds REAL NOT NULL,
    file TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch, space, method)
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
"""


@dataclass
class RunRecord:
    id: str
    name: str
    kind: str
    group: str
    created: float
    config: dict[str, Any]
    status: str
    reason: str
    pid: int | None
    pid_start: str | None
    boot_id: str | None
    heartbeat: float | None
    started: float | None
    finished: float | None
    seconds: float
    epoch: int
    step: int
    total_epochs: int
    cancel_requested: bool
    resume: bool
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def progress(self) -> float:
        return min(1.0, self.epoch / self.total_epochs) if self.total_epochs else 0.0

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def run_config(self) -> RunConfig:
        return RunConfig.from_dict(self.config)


@dataclass
class SnapshotRecord:
    run_id: str
    epoch: int
    step: int
    created: float
    file: str
    metrics: dict[str, Any]


def default_root() -> Path:
    return Path(os.environ.get(ENV_VAR) or DEFAULT_DIR).expanduser().resolve()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_npz(path: Path, skip: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Every array of an .npz file but those named in ``skip`` (which are not read at all)."""
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files if k not in skip}


def _new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


class Store:
    """The lab store at ``root`` (default: ``$LAB_STORE`` or ``./lab_store``)."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser().resolve() if root is not None else default_root()
        self.root.mkdir(parents=True, exist_ok=True)
        self.runs_dir = self.root / "runs"
        self.runs_dir.mkdir(exist_ok=True)
        self.db_path = self.root / "lab.sqlite"
        self._local = threading.local()
        with self._conn() as c:
            c.executescript(SCHEMA)

    # -- connection -------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        yield conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- paths ------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise ValueError(f"bad run id {run_id!r}")
        return self.runs_dir / run_id

    def checkpoint_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "checkpoint.pt"

    def log_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "worker.log"

    # -- runs -------------------------------------------------------------------------
    def create_run(self, config: RunConfig, *, status: str = QUEUED, kind: str = "trained") -> str:
        run_id = _new_run_id()
        d = self.run_dir(run_id)
        d.mkdir(parents=True)
        atomic_write_bytes(d / "config.json", config.to_json().encode())
        with self._tx() as c:
            c.execute(
                "INSERT INTO runs (id, name, kind, grp, created, config, status, total_epochs) VALUES (?,?,?,?,?,?,?,?)",
                (run_id, config.display_name, kind, config.group, time.time(), config.to_json(), status, config.epochs),
            )
        return run_id

    def _record(self, row: sqlite3.Row) -> RunRecord:
        return RunRecord(
            id=row["id"],
            name=row["name"],
            kind=row["kind"],
            group=row["grp"],
            created=row["created"],
            config=json.loads(row["config"]),
            status=row["status"],
            reason=row["reason"],
            pid=row["pid"],
            pid_start=row["pid_start"],
            boot_id=row["boot_id"],
            heartbeat=row["heartbeat"],
            started=row["started"],
            finished=row["finished"],
            seconds=row["seconds"],
            epoch=row["epoch"],
            step=row["step"],
            total_epochs=row["total_epochs"],
            cancel_requested=bool(row["cancel_requested"]),
            resume=bool(row["resume"]),
            metrics=json.loads(row["metrics"] or "{}"),
        )

    def get_run(self, run_id: str) -> RunRecord:
        with self._conn() as c:
            row = c.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id!r} in the store at {self.root}")
        return self._record(row)

    def list_runs(self, *, status: str | tuple[str, ...] | None = None, group: str | None = None) -> list[RunRecord]:
        q, args = "SELECT * FROM runs", []
        conds = []
        if status is not None:
            sts = (status,) if isinstance(status, str) else tuple(status)
            conds.append(f"status IN ({','.join('?' * len(sts))})")
            args += list(sts)
        if group is not None:
            conds.append("grp = ?")
            args.append(group)
        if conds:
            q += " WHERE " + " AND ".join(conds)
        q += " ORDER BY created DESC"
        with self._conn() as c:
            return [self._record(r) for r in c.execute(q, args).fetchall()]

    def groups(self) -> list[str]:
        with self._conn() as c:
            return [r[0] for r in c.execute("SELECT DISTINCT grp FROM runs WHERE grp != '' ORDER BY grp").fetchall()]

    _UPDATABLE = {
        "name", "status", "reason", "pid", "pid_start", "boot_id", "heartbeat", "started", "finished",
        "seconds", "epoch", "step", "total_epochs", "cancel_requested", "resume", "metrics", "grp",
    }  # fmt: skip

    def update_run(self, run_id: str, **fields: Any) -> None:
        bad = set(fields) - self._UPDATABLE
        if bad:
            raise ValueError(f"cannot update run fields {sorted(bad)}")
        if "metrics" in fields and not isinstance(fields["metrics"], str):
            fields["metrics"] = json.dumps(fields["metrics"])
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as c:
            c.execute(f"UPDATE runs SET {cols} WHERE id = ?", (*fields.values(), run_id))

    def transition(self, run_id: str, from_status: tuple[str, ...], **fields: Any) -> bool:
        """Update only if the run's status is in ``from_status``; return whether it was."""
        if "metrics" in fields and not isinstance(fields["metrics"], str):
            fields["metrics"] = json.dumps(fields["metrics"])
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as c:
            cur = c.execute(
                f"UPDATE runs SET {cols} WHERE id = ? AND status IN ({','.join('?' * len(from_status))})",
                (*fields.values(), run_id, *from_status),
            )
            return cur.rowcount == 1

    def delete_run(self, run_id: str) -> None:
        rec = self.get_run(run_id)
        if rec.status == RUNNING:
            raise RuntimeError(f"run {run_id} is running: cancel it before deleting it")
        with self._tx() as c:
            for t in ("runs",):
                c.execute(f"DELETE FROM {t} WHERE id = ?", (run_id,))
            for t in ("history", "snapshots", "projections"):
                c.execute(f"DELETE FROM {t} WHERE run_id = ?", (run_id,))
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    # -- history ----------------------------------------------------------------------
    def append_history(self, run_id: str, rows: list[dict[str, Any]]) -> None:
        """rows: dicts with step, epoch, seconds, loss and optional extra values."""
        if not rows:
            return
        vals = []
        for r in rows:
            extra = {k: v for k, v in r.items() if k not in ("step", "epoch", "seconds", "loss")}
            loss = r.get("loss")
            loss = None if loss is None or not np.isfinite(loss) else float(loss)
            vals.append((run_id, int(r["step"]), float(r["epoch"]), float(r["seconds"]), loss, json.dumps(extra)))
        with self._tx() as c:
            c.executemany("INSERT OR REPLACE INTO history VALUES (?,?,?,?,?,?)", vals)

    def history(self, run_id: str) -> dict[str, np.ndarray]:
        with self._conn() as c:
            rows = c.execute(
                "SELECT step, epoch, seconds, loss FROM history WHERE run_id = ? ORDER BY step", (run_id,)
            ).fetchall()
        arr = np.array([tuple(r) for r in rows], dtype=float).reshape(-1, 4)
        return {"step": arr[:, 0], "epoch": arr[:, 1], "seconds": arr[:, 2], "loss": arr[:, 3]}

    def truncate_after(self, run_id: str, epoch: int) -> None:
        """Drop history, snapshots and projections after ``epoch`` (used when resuming)."""
        with self._tx() as c:
            c.execute("DELETE FROM history WHERE run_id = ? AND epoch > ?", (run_id, epoch))
            files = c.execute("SELECT file FROM snapshots WHERE run_id = ? AND epoch > ?", (run_id, epoch)).fetchall()
            c.execute("DELETE FROM snapshots WHERE run_id = ? AND epoch > ?", (run_id, epoch))
            c.execute("DELETE FROM projections WHERE run_id = ? AND epoch > ?", (run_id, epoch))
        for (f,) in files:
            (self.run_dir(run_id) / f).unlink(missing_ok=True)

    # -- snapshots --------------------------------------------------------------------
    def add_snapshot(self, run_id: str, epoch: int, step: int, arrays: dict[str, np.ndarray], metrics: dict[str, Any]) -> None:
        fname = f"snapshots/epoch_{epoch:05d}.npz"
        atomic_save_npz(self.run_dir(run_id) / fname, arrays)
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO snapshots VALUES (?,?,?,?,?,?)",
                (run_id, epoch, step, time.time(), fname, json.dumps(_jsonable(metrics))),
            )

    def snapshots(self, run_id: str) -> list[SnapshotRecord]:
        with self._conn() as c:
            rows = c.execute("SELECT * FROM snapshots WHERE run_id = ? ORDER BY epoch", (run_id,)).fetchall()
        return [
            SnapshotRecord(r["run_id"], r["epoch"], r["step"], r["created"], r["file"], json.loads(r["metrics"]))
            for r in rows
        ]

    def snapshot_counts(self) -> dict[str, int]:
        with self._conn() as c:
            return dict(c.execute("SELECT run_id, COUNT(*) FROM snapshots GROUP BY run_id").fetchall())

    def load_snapshot(self, run_id: str, epoch: int, *, skip: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
        """The snapshot's arrays; ``skip`` names arrays not to read (``("rep", "emb")``: the
        light part a page draws from, a few MB even for 200,000 samples)."""
        with self._conn() as c:
            row = c.execute("SELECT file FROM snapshots WHERE run_id = ? AND epoch = ?", (run_id, epoch)).fetchone()
        if row is None:
            raise KeyError(f"run {run_id} has no snapshot at epoch {epoch}")
        return load_npz(self.run_dir(run_id) / row["file"], skip=skip)

    # -- projections ------------------------------------------------------------------
    def add_projection(self, run_id: str, epoch: int, space: str, method: str, coords: np.ndarray, seconds: float) -> None:
        fname = f"snapshots/epoch_{epoch:05d}_{method}_{space}.npy"
        buf = io.BytesIO()
        np.save(buf, np.asarray(coords, dtype=np.float32))
        atomic_write_bytes(self.run_dir(run_id) / fname, buf.getvalue())
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO projections VALUES (?,?,?,?,?,?,?)",
                (run_id, epoch, space, method, time.time(), float(seconds), fname),
            )

    def projection(self, run_id: str, epoch: int, space: str, method: str) -> np.ndarray | None:
        with self._conn() as c:
            row = c.execute(
                "SELECT file FROM projections WHERE run_id = ? AND epoch = ? AND space = ? AND method = ?",
                (run_id, epoch, space, method),
            ).fetchone()
        if row is None:
            return None
        try:
            return np.load(self.run_dir(run_id) / row["file"], allow_pickle=False)
        except FileNotFoundError:
            return None

    def projection_info(self, run_id: str) -> list[dict[str, Any]]:
        with self._conn() as c:
            rows = c.execute(
                "SELECT epoch, space, method, created, seconds FROM projections WHERE run_id = ? ORDER BY epoch", (run_id,)
            ).fetchall()
        return [dict(r) for r in rows]

    def pending_projections(self, method: str = "umap", spaces: tuple[str, ...] = ("emb", "rep")) -> list[tuple[str, int, str]]:
        """(run_id, epoch, space) of snapshots that have no ``method`` projection yet, oldest epoch first
        within the newest run first (so a run in progress gets its maps in order)."""
        out = []
        with self._conn() as c:
            for space in spaces:
                rows = c.execute(
                    """SELECT s.run_id, s.epoch, r.created FROM snapshots s JOIN runs r ON r.id = s.run_id
                       WHERE NOT EXISTS (SELECT 1 FROM projections p WHERE p.run_id = s.run_id AND p.epoch = s.epoch
                                         AND p.space = ? AND p.method = ?)""",
                    (space, method),
                ).fetchall()
                out += [(r[0], r[1], space, r[2]) for r in rows]
        out.sort(key=lambda t: (-t[3], t[2] != "emb", t[1]))
        return [(a, b, c_) for a, b, c_, _ in out]


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, (np.floating, np.integer)):
            v = v.item()
        if isinstance(v, float) and not np.isfinite(v):
            v = None
        out[k] = v
    return out
