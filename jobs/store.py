"""The lab store: SQLite (WAL) for runs, history, snapshots and projections, plus one
folder per run (config.json, checkpoint.pt, snapshot arrays, worker.log).

The default store is the folder ``lab_store`` under the working directory; the
environment variable ``LAB_STORE`` overrides it. Files are written atomically (write
to a temporary name in the same folder, then rename). Arrays are ``.npz`` read with
``allow_pickle=False``; checkpoints are read with ``torch.load(weights_only=True)``.

Faults (docs/reliability.md): every problem a person can act on is a :class:`StoreError`
whose message says what happened and what to do: :class:`StoreFull` (no space left on the
store's disk), :class:`StoreReadOnly` (the store can be browsed but not changed) and
:class:`StoreDamaged` (a damaged database, snapshot or run folder; pages skip the damaged
item and show the message). Paths read from the database are resolved inside their run's
folder and refused otherwise. A store is created owner-only (folders 0700, files 0600).
:func:`doctor` checks a store and repairs what it can (``python -m trainers doctor``).
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import platform
import re
import secrets
import shutil
import sqlite3
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from trainers import registry
from trainers.config import RunConfig
from trainers.states import (  # noqa: F401
    ACTIVE,
    CANCELLED,
    DIVERGED,
    FAILED,
    FINISHED,
    IMPORTED,
    QUEUED,
    RESUMABLE,
    RUNNING,
)

ENV_VAR = "LAB_STORE"
DEFAULT_DIR = "lab_store"


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
    metrics TEXT NOT NULL DEFAULT '{}',
    backend TEXT NOT NULL DEFAULT '',
    node TEXT NOT NULL DEFAULT ''
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
    backend: str = ""  # where its worker ran: "local" (a process on this machine) or "ray"
    node: str = ""  # the machine its worker ran on (its host name; a Ray node's address)

    @property
    def progress(self) -> float:
        if self.status == IMPORTED:  # embeddings made elsewhere: complete once imported
            return 1.0
        return min(1.0, self.epoch / self.total_epochs) if self.total_epochs else 0.0

    @property
    def task(self) -> str:
        """"classification", "regression" or "none": the task of the run's dataset (an imported
        run states its own)."""
        if self.config.get("task"):
            return str(self.config["task"])
        spec = registry.DATASETS.get(self.config.get("dataset", ""))
        return spec.task if spec is not None else "none"

    @property
    def imported(self) -> bool:
        return self.kind == "imported"

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
    sha256: str = ""


# -- errors a person can act on ----------------------------------------------------------
LOW_SPACE_BYTES = 16 * 1024 * 1024  # below this much free space a dead worker is taken to have run out of it
TMP_STALE_SECONDS = 60.0  # a leftover temporary file older than this (or of a dead writer) is removed
NO_SPACE_MARKER = ".no-space"  # written into a run folder by a worker that could not record its failure


class StoreError(RuntimeError):
    """A problem with the store; ``str(e)`` is a message for a person, ending with what to do."""


class StoreFull(StoreError):
    """No space left on the store's disk."""

    def __init__(self, root: Path, note: str = "") -> None:
        self.root, self.free_mb = Path(root), free_mb(root)
        msg = (f"the store's disk is full ({self.free_mb:.0f} MB free at {self.root}): free some space "
               "(delete runs you no longer need with `python -m trainers delete RUN`, or other files on that disk) "
               "and try again")
        super().__init__(msg + (f"; {note}" if note else ""))


class StoreReadOnly(StoreError):
    """The store can be read but not changed (a read-only folder or file system)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        super().__init__(f"the store at {self.root} is read-only: it can be browsed, but training, cancelling, "
                         "resuming and deleting need write access (copy it somewhere writable, or fix its permissions)")


class StoreDamaged(StoreError):
    """A damaged part of the store: the database, a run's folder or one snapshot."""

    def __init__(self, what: str, *, run_id: str | None = None, epoch: int | None = None,
                 what_to_do: str = "run `python -m trainers doctor` to see what is damaged "
                                   "(`--repair` fixes what can be fixed)") -> None:
        self.run_id, self.epoch, self.what_to_do = run_id, epoch, what_to_do
        where = f"run {run_id}" + (f", epoch {epoch}" if epoch is not None else "") + ": " if run_id else ""
        super().__init__(f"{where}{what}; {what_to_do}")


def free_mb(path: str | os.PathLike) -> float:
    """Free space, in MB, on the disk holding ``path`` (or its nearest existing parent)."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free / 1e6
    except OSError:
        return 0.0


def no_space_reason(root: str | os.PathLike) -> str:
    """A failed run's reason when the store's disk ran out of space."""
    return (f"no space left on the store's disk ({free_mb(root):.0f} MB free); data up to the last checkpoint kept: "
            "free some space, then resume")


def is_no_space(e: BaseException | None) -> bool:
    """True if ``e`` (or an exception it came from) means the disk ran out of space."""
    seen = 0
    while e is not None and seen < 8:
        if isinstance(e, StoreFull):
            return True
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(e, sqlite3.Error) and (getattr(e, "sqlite_errorcode", None) == 13 or "disk is full" in str(e)):
            return True
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


def translate_error(e: BaseException, root: Path, *, run_id: str | None = None) -> BaseException:
    """The :class:`StoreError` that ``e`` (an sqlite3 or OS error) means, or ``e`` itself."""
    if isinstance(e, StoreError):
        return e
    if is_no_space(e):
        return StoreFull(root)
    if isinstance(e, OSError) and e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StoreReadOnly(root)
    if isinstance(e, sqlite3.Error):
        code = getattr(e, "sqlite_errorcode", None)
        text = str(e)
        if code == 8 or "readonly" in text:  # SQLITE_READONLY
            return StoreReadOnly(root)
        if code in (11, 26) or "malformed" in text or "not a database" in text:  # SQLITE_CORRUPT, SQLITE_NOTADB
            return StoreDamaged(f"the database {root / 'lab.sqlite'} is damaged ({text})",
                                what_to_do="run `python -m trainers doctor --repair` to rebuild it from the run folders")
    return e


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


def boot_id() -> str:
    """This boot of the machine (Linux: a random id per boot), to tell a worker of an earlier boot."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return platform.node()


def process_start_time(pid: int) -> str | None:
    """Start time of ``pid`` (Linux: /proc/<pid>/stat field 22), to detect pid reuse."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return rest[19]
    except (OSError, IndexError):
        return None


def worker_gone(rec: RunRecord) -> bool:
    """True if a running run's worker is certainly not running any more."""
    if rec.boot_id and rec.boot_id != boot_id():
        return True
    if rec.pid:
        return not pid_alive(rec.pid, rec.pid_start)
    return bool(rec.started) and time.time() - (rec.heartbeat or rec.started or 0) > 60


def _tmp_writer_alive(name: str) -> bool:
    m = re.match(r"^\..*\.(\d+)\.[0-9a-f]+\.tmp$", name)
    return bool(m) and pid_alive(int(m.group(1)))


def remove_stale_tmp(folder: Path, *, max_age: float = TMP_STALE_SECONDS) -> list[Path]:
    """Remove leftover temporary files of atomic writes under ``folder`` (one level of
    subfolders too) whose writer is dead or that are older than ``max_age`` seconds."""
    removed = []
    now = time.time()
    for p in [*folder.glob(".*.tmp"), *folder.glob("*/.*.tmp")]:
        try:
            if _tmp_writer_alive(p.name) and now - p.stat().st_mtime < max_age:
                continue
            p.unlink()
            removed.append(p)
        except OSError:
            continue
    return removed


def default_root() -> Path:
    return Path(os.environ.get(ENV_VAR) or DEFAULT_DIR).expanduser().resolve()


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Write ``path`` atomically, owner-only (0600): ``write(file)`` fills a temporary file in
    the same folder, which is fsynced and renamed. A failed write leaves no temporary file
    behind; no space left raises :class:`StoreFull`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        if is_no_space(e):
            raise StoreFull(path.parent) from e
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`_atomic_write`)."""
    _atomic_write(path, lambda f: f.write(data))


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def atomic_save_npz(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """Save ``arrays`` as an .npz atomically; return the file's sha256."""
    data = npz_bytes(arrays)
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def atomic_save_npz_streamed(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """Save ``arrays`` as an .npz atomically, written straight to the temporary file (numpy
    writes 16 MB at a time, so no copy of the whole file is held in memory); return its sha256,
    read back from the file."""
    _atomic_write(path, lambda f: np.savez(f, **arrays))
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_npz(path: Path, skip: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Every array of an .npz file but those named in ``skip`` (which are not read at all)."""
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files if k not in skip}


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK)


def _new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


class Store:
    """The lab store at ``root`` (default: ``$LAB_STORE`` or ``./lab_store``).

    A store whose folder cannot be written is opened read-only (``read_only``): it can be
    browsed, and every change raises :class:`StoreReadOnly`. ``check=False`` opens a store
    whose database is damaged without raising (for :func:`doctor`)."""

    def __init__(self, root: str | os.PathLike | None = None, *, check: bool = True) -> None:
        self.root = Path(root).expanduser().resolve() if root is not None else default_root()
        self.runs_dir = self.root / "runs"
        self.db_path = self.root / "lab.sqlite"
        self._local = threading.local()
        self._has_sha = True  # the snapshots table has the checksum column
        if not self.root.exists():
            try:
                self.root.mkdir(mode=0o700, parents=True)
                os.chmod(self.root, 0o700)  # owner-only whatever the umask
            except OSError as e:
                raise translate_error(e, self.root) from e
        self.read_only = not _writable(self.root) or (self.db_path.exists() and not _writable(self.db_path))
        if not self.read_only:
            try:
                self.runs_dir.mkdir(mode=0o700, exist_ok=True)
            except OSError as e:
                raise translate_error(e, self.root) from e
        try:
            self._init_schema()
        except StoreError:
            if check:
                raise

    def _init_schema(self) -> None:
        if self.read_only:
            return
        new = not self.db_path.exists()
        if not new and self.db_path.stat().st_size == 0 and self.runs_dir.exists() and any(self.runs_dir.iterdir()):
            raise StoreDamaged(f"the database {self.db_path} is empty (0 bytes) but the store has run folders",
                               what_to_do="run `python -m trainers doctor --repair` to rebuild it from the run folders")
        with self._conn() as c:
            c.executescript(SCHEMA)
            cols = {r[1] for r in c.execute("PRAGMA table_info(snapshots)").fetchall()}
            run_cols = {r[1] for r in c.execute("PRAGMA table_info(runs)").fetchall()}
        for col in ("backend", "node"):  # stores made before runs said where they ran
            if col not in run_cols:
                try:
                    with self._tx() as c:
                        c.execute(f"ALTER TABLE runs ADD COLUMN {col} TEXT NOT NULL DEFAULT ''")
                except StoreFull:
                    pass  # read as "" until a later open adds it
        if "sha256" not in cols:  # stores made before snapshots had checksums
            try:
                with self._tx() as c:
                    c.execute("ALTER TABLE snapshots ADD COLUMN sha256 TEXT NOT NULL DEFAULT ''")
            except StoreFull:
                self._has_sha = False  # browse and list now; the column is added on a later open
        if new:
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.chmod(f"{self.db_path}{suffix}", 0o600)
                except OSError:
                    pass

    # -- connection -------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = self._open_read_only() if self.read_only else self._open()
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    def _open_read_only(self) -> sqlite3.Connection:
        """A connection that writes nothing: ``mode=ro``, or ``immutable=1`` when SQLite cannot
        make the WAL index next to a database in a read-only folder; an empty in-memory
        database when there is none."""
        if not self.db_path.exists():
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            conn.executescript(SCHEMA)
            conn.execute("ALTER TABLE snapshots ADD COLUMN sha256 TEXT NOT NULL DEFAULT ''")
            return conn
        uri = "file:" + quote(str(self.db_path))
        for opts in ("?mode=ro", "?mode=ro&immutable=1"):
            conn = sqlite3.connect(uri + opts, uri=True, isolation_level=None, check_same_thread=False, timeout=30.0)
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return conn
            except sqlite3.OperationalError:
                conn.close()
        raise StoreDamaged(f"cannot open the database {self.db_path} read-only",
                           what_to_do="check that the file is readable; `python -m trainers doctor` says more")

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._connection()
        except (sqlite3.Error, OSError) as e:
            raise translate_error(e, self.root) from e

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise StoreReadOnly(self.root)
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
        except (sqlite3.Error, OSError) as e:
            raise translate_error(e, self.root) from e
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as e:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if isinstance(e, (sqlite3.Error, OSError)):
                raise translate_error(e, self.root) from e
            raise

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def health(self) -> dict[str, Any]:
        """What a page shows about the store as a whole: ``free_mb``, ``read_only``, ``full``
        (less than 16 MB free) and ``message`` (None when all is well, else one sentence
        with what to do)."""
        mb = free_mb(self.root)
        full = mb * 1e6 < LOW_SPACE_BYTES
        message = None
        if self.read_only:
            message = str(StoreReadOnly(self.root))
        elif full:
            message = str(StoreFull(self.root))
        return {"free_mb": round(mb, 1), "read_only": self.read_only, "full": full, "message": message}

    # -- paths ------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        if not run_id or "/" in run_id or os.sep in run_id or run_id.startswith(".") or "\\" in run_id:
            raise ValueError(f"bad run id {run_id!r}")
        return self.runs_dir / run_id

    def run_file(self, run_id: str, name: str, *, epoch: int | None = None) -> Path:
        """``name`` (a path read from the database) inside the run's folder; anything that
        resolves outside it (an absolute path, ``..``, a link leading out) is refused."""
        base = self.run_dir(run_id).resolve()
        p = (base / name).resolve()
        if os.path.isabs(name) or p == base or not p.is_relative_to(base):
            raise StoreDamaged(f"the database names the file {name!r}, which is outside the run's folder; refused",
                               run_id=run_id, epoch=epoch)
        return p

    def checkpoint_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "checkpoint.pt"

    def log_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "worker.log"

    def write_checkpoint(self, run_id: str, data: bytes) -> None:
        """Replace the run's checkpoint with ``data`` (atomically)."""
        atomic_write_bytes(self.checkpoint_path(run_id), data)

    # -- runs -------------------------------------------------------------------------
    def create_run(self, config: RunConfig, *, status: str = QUEUED, kind: str = "trained") -> str:
        """Make the run's folder and its row; on any failure neither is left behind."""
        if self.read_only:
            raise StoreReadOnly(self.root)
        run_id = _new_run_id()
        d = self.run_dir(run_id)
        try:
            d.mkdir(mode=0o700, parents=True)
            atomic_write_bytes(d / "config.json", config.to_json().encode())
            with self._tx() as c:
                c.execute(
                    "INSERT INTO runs (id, name, kind, grp, created, config, status, total_epochs) VALUES (?,?,?,?,?,?,?,?)",
                    (run_id, config.display_name, kind, config.group, time.time(), config.to_json(), status, config.epochs),
                )
        except BaseException as e:
            shutil.rmtree(d, ignore_errors=True)
            if isinstance(e, (sqlite3.Error, OSError)):
                raise translate_error(e, self.root) from e
            raise
        return run_id

    def create_imported_run(self, config: dict[str, Any], *, name: str, status: str = IMPORTED, group: str = "") -> str:
        """Make the folder and row of a run of embeddings made elsewhere (``kind="imported"``):
        ``config`` is a plain JSON-able dict (what was imported and how; no :class:`RunConfig`,
        since nothing is trained here). On any failure neither folder nor row is left behind."""
        if self.read_only:
            raise StoreReadOnly(self.root)
        text = json.dumps(config, ensure_ascii=False)
        run_id = _new_run_id()
        d = self.run_dir(run_id)
        try:
            d.mkdir(mode=0o700, parents=True)
            atomic_write_bytes(d / "config.json", text.encode())
            with self._tx() as c:
                c.execute(
                    "INSERT INTO runs (id, name, kind, grp, created, config, status, total_epochs) VALUES (?,?,?,?,?,?,?,?)",
                    (run_id, name, "imported", group, time.time(), text, status, 0),
                )
        except BaseException as e:
            shutil.rmtree(d, ignore_errors=True)
            if isinstance(e, (sqlite3.Error, OSError)):
                raise translate_error(e, self.root) from e
            raise
        return run_id

    def _record(self, row: sqlite3.Row) -> RunRecord:
        return RunRecord(
            id=row["id"],
            name=row["name"],
            kind=row["kind"],
            group=row["grp"],
            created=row["created"],
            config=_json_or_empty(row["config"]),
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
            metrics=_json_or_empty(row["metrics"]),
            backend=row["backend"] if "backend" in row.keys() else "",
            node=row["node"] if "node" in row.keys() else "",
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

    def run_numbers(self) -> dict[str, int]:
        """Run id -> the run's number in the store (its SQLite rowid: creation order, not
        changed by deleting other runs). The views derive a run's colour from it."""
        with self._conn() as c:
            return {r[0]: int(r[1]) for r in c.execute("SELECT id, rowid FROM runs").fetchall()}

    _UPDATABLE = {
        "name", "status", "reason", "pid", "pid_start", "boot_id", "heartbeat", "started", "finished",
        "seconds", "epoch", "step", "total_epochs", "cancel_requested", "resume", "metrics", "grp", "backend", "node",
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
        """Delete a run's rows and folder. A running run is refused while its worker lives; a
        run whose worker is gone (killed, crashed, machine restarted) can always be deleted,
        and so can one on a full disk (its folder goes first, to make room)."""
        if self.read_only:
            raise StoreReadOnly(self.root)
        rec = self.get_run(run_id)
        if rec.status == RUNNING and not worker_gone(rec):
            raise RuntimeError(f"run {run_id} is running: cancel it before deleting it")
        try:
            self._delete_rows(run_id)
        except StoreFull:
            shutil.rmtree(self.run_dir(run_id), ignore_errors=True)
            self._delete_rows(run_id)
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    def _delete_rows(self, run_id: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            for t in ("history", "snapshots", "projections"):
                c.execute(f"DELETE FROM {t} WHERE run_id = ?", (run_id,))

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

    def truncate_after(self, run_id: str, epoch: int) -> list[str]:
        """Drop history, snapshots and projections after ``epoch`` (used when resuming), and
        their files inside the run's folder. A file name that points outside the folder is
        never deleted: those names are returned."""
        with self._tx() as c:
            c.execute("DELETE FROM history WHERE run_id = ? AND epoch > ?", (run_id, epoch))
            files = c.execute("SELECT file FROM snapshots WHERE run_id = ? AND epoch > ?", (run_id, epoch)).fetchall()
            files += c.execute("SELECT file FROM projections WHERE run_id = ? AND epoch > ?", (run_id, epoch)).fetchall()
            c.execute("DELETE FROM snapshots WHERE run_id = ? AND epoch > ?", (run_id, epoch))
            c.execute("DELETE FROM projections WHERE run_id = ? AND epoch > ?", (run_id, epoch))
        refused = []
        for (f,) in files:
            try:
                self.run_file(run_id, f).unlink(missing_ok=True)
            except StoreDamaged:
                refused.append(f)
            except OSError:
                pass
        remove_stale_tmp(self.run_dir(run_id))
        return refused

    # -- snapshots --------------------------------------------------------------------
    def add_snapshot(self, run_id: str, epoch: int, step: int, arrays: dict[str, np.ndarray], metrics: dict[str, Any]) -> None:
        fname = f"snapshots/epoch_{epoch:05d}.npz"
        sha = atomic_save_npz(self.run_dir(run_id) / fname, arrays)
        cols, vals = "run_id, epoch, step, created, file, metrics", [run_id, epoch, step, time.time(), fname, json.dumps(_jsonable(metrics))]
        if self._has_sha:
            cols, vals = cols + ", sha256", [*vals, sha]
        with self._tx() as c:
            c.execute(f"INSERT OR REPLACE INTO snapshots ({cols}) VALUES ({','.join('?' * len(vals))})", vals)

    def add_snapshot_streamed(self, run_id: str, epoch: int, step: int, arrays: dict[str, np.ndarray],
                              metrics: dict[str, Any]) -> None:
        """:meth:`add_snapshot` for large arrays: the .npz goes straight to its temporary file (never
        held whole in memory: :meth:`add_snapshot` holds it as bytes, 600 MB for an imported
        100,000 x 768 matrix stored as ``rep`` and ``emb``), then the same checksum and row."""
        fname = f"snapshots/epoch_{epoch:05d}.npz"
        sha = atomic_save_npz_streamed(self.run_dir(run_id) / fname, arrays)
        cols, vals = "run_id, epoch, step, created, file, metrics", [run_id, epoch, step, time.time(), fname, json.dumps(_jsonable(metrics))]
        if self._has_sha:
            cols, vals = cols + ", sha256", [*vals, sha]
        with self._tx() as c:
            c.execute(f"INSERT OR REPLACE INTO snapshots ({cols}) VALUES ({','.join('?' * len(vals))})", vals)

    def snapshots(self, run_id: str) -> list[SnapshotRecord]:
        """The run's snapshots by epoch; a row whose file lies outside the run's folder is skipped."""
        with self._conn() as c:
            rows = c.execute("SELECT * FROM snapshots WHERE run_id = ? ORDER BY epoch", (run_id,)).fetchall()
        out = []
        for r in rows:
            try:
                self.run_file(run_id, r["file"])
            except (StoreDamaged, ValueError):
                continue
            out.append(SnapshotRecord(r["run_id"], r["epoch"], r["step"], r["created"], r["file"], _json_or_empty(r["metrics"]),
                                      r["sha256"] if "sha256" in r.keys() else ""))
        return out

    def snapshot_counts(self) -> dict[str, int]:
        with self._conn() as c:
            return dict(c.execute("SELECT run_id, COUNT(*) FROM snapshots GROUP BY run_id").fetchall())

    def load_snapshot(self, run_id: str, epoch: int, *, skip: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
        """The snapshot's arrays; ``skip`` names arrays not to read (``("rep", "emb")``: the
        light part a page draws from, a few MB even for 200,000 samples).

        A whole read is checked against the checksum written with the snapshot. A missing,
        truncated or altered file raises :class:`StoreDamaged` (pages skip that snapshot);
        a snapshot that was never taken raises ``KeyError``."""
        with self._conn() as c:
            row = c.execute("SELECT * FROM snapshots WHERE run_id = ? AND epoch = ?", (run_id, epoch)).fetchone()
        if row is None:
            raise KeyError(f"run {run_id} has no snapshot at epoch {epoch}")
        path = self.run_file(run_id, row["file"], epoch=epoch)
        sha = row["sha256"] if "sha256" in row.keys() else ""
        try:
            if skip:
                return load_npz(path, skip=skip)
            data = path.read_bytes()
            if sha and hashlib.sha256(data).hexdigest() != sha:
                raise StoreDamaged("the snapshot file's contents changed since it was written (checksum mismatch)",
                                   run_id=run_id, epoch=epoch)
            return load_npz(io.BytesIO(data))
        except FileNotFoundError:
            missing = "the run's folder is missing" if not self.run_dir(run_id).exists() else f"the snapshot file {row['file']} is missing"
            raise StoreDamaged(missing, run_id=run_id, epoch=epoch) from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
            if isinstance(e, OSError) and is_no_space(e):
                raise
            raise StoreDamaged(f"the snapshot file {row['file']} is damaged ({type(e).__name__}: {e})",
                               run_id=run_id, epoch=epoch) from e

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
        try:  # missing, damaged or outside the run's folder: not there (doctor --repair recomputes it)
            return np.load(self.run_file(run_id, row["file"], epoch=epoch), allow_pickle=False)
        except (StoreDamaged, OSError, ValueError, EOFError):
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


def _json_or_empty(text: str | None) -> dict[str, Any]:
    try:
        v = json.loads(text or "{}")
    except (TypeError, ValueError):
        return {}
    return v if isinstance(v, dict) else {}


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, (np.floating, np.integer)):
            v = v.item()
        if isinstance(v, float) and not np.isfinite(v):
            v = None
        out[k] = v
    return out


# -- doctor: check a store, repair what can be repaired ------------------------------------
SNAPSHOT_FILE = re.compile(r"^epoch_(\d{5})\.npz$")
PROJECTION_FILE = re.compile(r"^epoch_(\d{5})_([a-z0-9]+)_([a-z0-9]+)\.npy$")
RUN_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]+$")
FINITE_ARRAYS = ("emb", "rep", "pca_emb", "pca_rep")  # arrays of a snapshot that are finite by construction


@dataclass
class Finding:
    """One thing :func:`doctor` found: ``level`` is ``error`` (data is wrong or missing) or
    ``warning``; ``fix`` says what to do; ``repaired`` is True when ``--repair`` fixed it."""

    level: str
    what: str
    fix: str
    run_id: str | None = None
    repaired: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _integrity(db_path: Path) -> tuple[list[str], set[str]]:
    """SQLite's integrity check rows and the table names, read without writing anything:
    ``mode=ro``, or ``immutable=1`` where the WAL index cannot be made (read-only folder)."""
    uri = "file:" + quote(str(db_path))
    for opts in ("?mode=ro", "?mode=ro&immutable=1"):
        conn = sqlite3.connect(uri + opts, uri=True, timeout=30.0)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()}
            return rows, tables
        except sqlite3.OperationalError as e:
            if "unable to open" not in str(e) or "immutable" in opts:
                raise
        finally:
            conn.close()
    raise AssertionError("unreachable")


def _database_problem(db_path: Path) -> str | None:
    """None if the database opens and passes SQLite's integrity check, else what is wrong."""
    if not db_path.exists():
        return None
    if db_path.stat().st_size == 0:
        return "the database file is empty (0 bytes)"
    try:
        rows, tables = _integrity(db_path)
    except sqlite3.Error as e:
        return f"the database cannot be read ({e})"
    if rows != ["ok"]:
        return "SQLite's integrity check failed: " + "; ".join(rows[:3])
    if not {"runs", "history", "snapshots", "projections"} <= tables:
        return "the database has no lab tables"
    return None


def _index_run_folder(store: Store, folder: Path) -> str:
    """Add a run folder that the database does not know (config.json, snapshot and map
    files) as a run; its loss history and metrics are not in the folder and stay lost."""
    from trainers.config import ConfigError

    try:
        raw = json.loads((folder / "config.json").read_text())
        imported = isinstance(raw, dict) and raw.get("loss") == "imported"  # embeddings made elsewhere (jobs.importer)
        cfg = None if imported else RunConfig.from_dict(raw)
    except (OSError, ValueError, TypeError, ConfigError) as e:
        raise StoreDamaged(f"its config.json cannot be read ({e})", run_id=folder.name) from None
    snaps = []
    for p in sorted((folder / "snapshots").glob("epoch_*.npz")):
        m = SNAPSHOT_FILE.match(p.name)
        if not m:
            continue
        data = p.read_bytes()
        try:
            load_npz(io.BytesIO(data))
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            continue  # a damaged snapshot is not indexed
        snaps.append((int(m.group(1)), p, hashlib.sha256(data).hexdigest()))
    last = max((e for e, _, _ in snaps), default=0)
    if cfg is None:  # an imported run: complete when it has its snapshots
        status = IMPORTED if snaps else FAILED
        reason = "re-indexed from its folder by `python -m trainers doctor --repair`: its metrics were lost"
        row = (str(raw.get("name") or raw.get("source") or folder.name), "imported", str(raw.get("group") or ""),
               json.dumps(raw, ensure_ascii=False), last)
    else:
        done = bool(snaps) and last >= cfg.epochs
        status = FINISHED if done else FAILED
        reason = ("re-indexed from its folder by `python -m trainers doctor --repair`: its loss history and metrics were "
                  "lost" + ("" if done else "; resume continues from its checkpoint"))
        row = (cfg.display_name, "trained", cfg.group, cfg.to_json(), cfg.epochs)
    name, kind, group, config_json, total = row
    created = folder.stat().st_mtime
    with store._tx() as c:
        c.execute("INSERT INTO runs (id, name, kind, grp, created, config, status, reason, epoch, total_epochs, finished) "
                  "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                  (folder.name, name, kind, group, created, config_json, status, reason, last, total, time.time()))
        for epoch, p, sha in snaps:
            c.execute("INSERT INTO snapshots (run_id, epoch, step, created, file, metrics, sha256) VALUES (?,?,?,?,?,?,?)",
                      (folder.name, epoch, 0, p.stat().st_mtime, f"snapshots/{p.name}", "{}", sha))
        for p in sorted((folder / "snapshots").glob("epoch_*_*_*.npy")):
            m = PROJECTION_FILE.match(p.name)
            if m and any(e == int(m.group(1)) for e, _, _ in snaps):
                c.execute("INSERT OR REPLACE INTO projections VALUES (?,?,?,?,?,?,?)",
                          (folder.name, int(m.group(1)), m.group(3), m.group(2), p.stat().st_mtime, 0.0, f"snapshots/{p.name}"))
    return status


def _check_snapshot(store: Store, run_id: str, epoch: int) -> str | None:
    """None if the snapshot loads whole, matches its checksum and its arrays are finite."""
    try:
        arrays = store.load_snapshot(run_id, epoch)
    except StoreDamaged as e:
        return str(e).split("; ")[0].split(": ", 1)[-1]
    bad = [k for k in FINITE_ARRAYS if k in arrays and arrays[k].dtype.kind == "f" and not np.all(np.isfinite(arrays[k]))]
    return f"non-finite values in {', '.join(bad)}" if bad else None


def doctor(root: str | os.PathLike | None = None, *, repair: bool = False) -> list[Finding]:
    """Check the store at ``root``: the database (SQLite integrity check), every run's folder,
    every snapshot (it loads, matches the checksum written with it, its embeddings are
    finite) and map file, run folders the database does not know, leftover temporary files
    of interrupted writes, and free space. With ``repair``: a damaged or empty database is
    set aside (``lab.sqlite.damaged-<time>``) and rebuilt from the run folders, unknown run
    folders are indexed (or removed when they hold no readable config), rows of missing or
    damaged snapshots and maps are removed (maps are computed again), leftovers are removed.
    Returns the findings; an empty list means the store is healthy."""
    root_p = Path(root).expanduser().resolve() if root is not None else default_root()
    out: list[Finding] = []
    if not root_p.exists():
        return [Finding("error", f"there is no store at {root_p}", "check the path, or $LAB_STORE")]
    if not _writable(root_p):
        out.append(Finding("warning", f"the store at {root_p} is read-only", "it can be browsed; repairs need write access"))
        repair = False
    mb = free_mb(root_p)
    if mb * 1e6 < LOW_SPACE_BYTES:
        out.append(Finding("error", f"the store's disk is full ({mb:.0f} MB free)",
                           "free some space: delete runs you no longer need (`python -m trainers delete RUN`) or other files"))
    db_path = root_p / "lab.sqlite"
    problem = _database_problem(db_path)
    if problem:
        f = Finding("error", f"the database {db_path.name}: {problem}",
                    "run `python -m trainers doctor --repair`: it sets the file aside and rebuilds the database from the "
                    "run folders (loss histories and metrics are lost; snapshots and checkpoints are kept)")
        if repair:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for suffix in ("", "-wal", "-shm"):
                p = Path(f"{db_path}{suffix}")
                if p.exists():
                    p.rename(p.with_name(f"{p.name}.damaged-{stamp}"))
            f.repaired = True
        out.append(f)
        if not repair:
            return out
    store = Store(root_p)
    runs_dir = store.runs_dir
    known = {r.id: r for r in store.list_runs()}
    # run folders the database does not know
    for folder in sorted(p for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.exists() else []:
        if folder.name in known:
            continue
        f = Finding("error", f"the folder runs/{folder.name} is not in the database", "run `python -m trainers doctor --repair` "
                    "to index it (or remove it if it holds no readable config)", run_id=folder.name)
        if repair:
            try:
                if not RUN_ID.match(folder.name):
                    raise StoreDamaged("not a run folder name", run_id=folder.name)
                status = _index_run_folder(store, folder)
                f.fix = f"indexed as a {status} run"
            except StoreDamaged:
                shutil.rmtree(folder, ignore_errors=True)
                f.fix = "removed: it held no readable config.json"
            f.repaired = True
        out.append(f)
    # every known run: its folder, snapshots and maps
    for rec in known.values():
        folder = runs_dir / rec.id
        if not folder.is_dir():
            out.append(Finding("error", f"run {rec.id} ({rec.name}): its folder is missing",
                               f"delete the run (`python -m trainers delete {rec.id}`); its loss history is still shown until then",
                               run_id=rec.id))
            continue
        with store._conn() as c:
            rows = c.execute("SELECT epoch, file FROM snapshots WHERE run_id = ?", (rec.id,)).fetchall()
            maps = c.execute("SELECT epoch, space, method, file FROM projections WHERE run_id = ?", (rec.id,)).fetchall()
        for epoch, fname in rows:
            problem = _check_snapshot(store, rec.id, epoch)
            if problem is None:
                continue
            finite_only = problem.startswith("non-finite")
            f = Finding("warning" if finite_only else "error", f"run {rec.id}, epoch {epoch}: {problem}",
                        "views skip it" if finite_only else
                        "run `python -m trainers doctor --repair` to drop this snapshot (views skip it until then)", run_id=rec.id)
            if repair and not finite_only:
                with store._tx() as c:
                    c.execute("DELETE FROM snapshots WHERE run_id = ? AND epoch = ?", (rec.id, epoch))
                    c.execute("DELETE FROM projections WHERE run_id = ? AND epoch = ?", (rec.id, epoch))
                try:
                    store.run_file(rec.id, fname).unlink(missing_ok=True)
                except (StoreDamaged, OSError):
                    pass
                f.repaired, f.fix = True, "dropped the snapshot"
            out.append(f)
        for epoch, space, method, fname in maps:
            try:
                np.load(store.run_file(rec.id, fname, epoch=epoch), allow_pickle=False)
                continue
            except (StoreDamaged, OSError, ValueError, EOFError) as e:
                f = Finding("warning", f"run {rec.id}, epoch {epoch}: the {method} map of {space} is missing or damaged ({e})",
                            "run `python -m trainers doctor --repair`: the scheduler computes it again", run_id=rec.id)
            if repair:
                with store._tx() as c:
                    c.execute("DELETE FROM projections WHERE run_id = ? AND epoch = ? AND space = ? AND method = ?",
                              (rec.id, epoch, space, method))
                f.repaired, f.fix = True, "removed; the scheduler computes it again"
            out.append(f)
    # leftovers of interrupted writes
    tmps = [*runs_dir.glob("*/.*.tmp"), *runs_dir.glob("*/*/.*.tmp")] if runs_dir.exists() else []
    tmps = [p for p in tmps if not _tmp_writer_alive(p.name)]
    if tmps:
        size = sum(p.stat().st_size for p in tmps if p.exists()) / 1e6
        f = Finding("warning", f"{len(tmps)} leftover temporary files of interrupted writes ({size:.1f} MB)",
                    "run `python -m trainers doctor --repair` to remove them")
        if repair:
            for p in tmps:
                p.unlink(missing_ok=True)
            f.repaired, f.fix = True, "removed"
        out.append(f)
    store.close()
    return out
