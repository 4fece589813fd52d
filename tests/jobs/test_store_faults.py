"""Faults of the lab store: a full disk, hostile paths in the database, damaged files, a
read-only store, leftovers of interrupted writes, permissions. Each fault is injected
(an OSError(ENOSPC) at the write call) or real (a small tmpfs, a read-only bind mount,
as root); docs/reliability.md lists them."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jobs import runner, worker
from jobs import store as st
from tests.conftest import FAST, kill_store_processes, wait_for
from trainers.config import RunConfig

ROOT = Path(__file__).resolve().parents[2]


def _arrays(n: int = 20) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"emb": rng.standard_normal((n, 4)).astype(np.float32), "rep": rng.standard_normal((n, 8)).astype(np.float32),
            "y": np.arange(n)}


def _run_with_snapshots(store: st.Store, epochs=(0, 1, 2), n: int = 20) -> str:
    rid = store.create_run(RunConfig(**FAST))
    for e in epochs:
        store.add_snapshot(rid, e, e * 10, _arrays(n), {"alignment": 0.1 * e})
    return rid


def _no_space(*a, **k):
    raise OSError(errno.ENOSPC, "No space left on device")


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _cli(*args, store, env=None, timeout=120):
    full = {**os.environ, "LAB_STORE": str(store), **(env or {})}
    return subprocess.run([sys.executable, "-m", "trainers", *args], capture_output=True, text=True, env=full,
                          cwd=ROOT, timeout=timeout)


def _tmp_files(store: st.Store) -> list[Path]:
    return list(store.runs_dir.rglob("*.tmp"))


# -- a full disk, injected -------------------------------------------------------------------
def test_snapshot_write_without_space_raises_store_full_and_leaves_no_tmp(store, monkeypatch):
    rid = store.create_run(RunConfig(**FAST))
    monkeypatch.setattr(st.os, "fsync", _no_space)
    with pytest.raises(st.StoreFull, match=r"the store's disk is full \(\d+ MB free"):
        store.add_snapshot(rid, 0, 0, _arrays(), {})
    assert _tmp_files(store) == []
    assert store.snapshots(rid) == []


def test_create_run_without_space_leaves_no_folder(store, monkeypatch):
    monkeypatch.setattr(st.os, "fsync", _no_space)
    with pytest.raises(st.StoreFull):
        store.create_run(RunConfig(**FAST))
    assert list(store.runs_dir.iterdir()) == [] and store.list_runs() == []
    monkeypatch.undo()
    # the database refusing the row (SQLITE_FULL) also leaves no folder behind
    real_tx = st.Store._tx

    def full_tx(self):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(st.Store, "_tx", full_tx)
    with pytest.raises(st.StoreFull):
        store.create_run(RunConfig(**FAST))
    monkeypatch.setattr(st.Store, "_tx", real_tx)
    assert list(store.runs_dir.iterdir()) == [] and store.list_runs() == []


def test_worker_out_of_space_marks_its_run_with_that_reason(store, monkeypatch):
    import trainers.train as train_mod

    rid = store.create_run(RunConfig(**FAST))
    store.update_run(rid, status=st.RUNNING)

    def full(*a, **k):
        raise st.StoreFull(store.root)

    monkeypatch.setattr(train_mod, "train_run", full)
    assert worker.main(store, rid) == 1
    rec = store.get_run(rid)
    assert rec.status == st.FAILED
    assert rec.reason.startswith("no space left on the store's disk (") and "MB free)" in rec.reason


def test_worker_that_cannot_mark_itself_leaves_the_reason_to_reap(store, monkeypatch):
    rid = store.create_run(RunConfig(**FAST))
    store.update_run(rid, status=st.RUNNING, pid=os.getpid())

    def full(self, *a, **k):
        raise st.StoreFull(self.root)

    with monkeypatch.context() as m:  # every write fails, the worker's own handler included
        m.setattr(st.Store, "update_run", full)
        m.setattr(st.Store, "transition", full)
        assert worker.main(store, rid) == 1
    assert store.get_run(rid).status == st.RUNNING
    assert (store.run_dir(rid) / st.NO_SPACE_MARKER).exists()
    store.update_run(rid, pid=_dead_pid())  # the worker has exited
    assert runner.reap(store) == [rid]
    rec = store.get_run(rid)
    assert rec.status == st.FAILED and rec.reason.startswith("no space left on the store's disk (")
    assert "killed or crashed" not in rec.reason
    assert not (store.run_dir(rid) / st.NO_SPACE_MARKER).exists()


def test_scheduler_survives_store_errors_and_keeps_other_runs_going(store, monkeypatch):
    a = store.create_run(RunConfig(**FAST))
    time.sleep(0.01)
    b = store.create_run(RunConfig(**FAST))
    sleeper = subprocess.Popen(["sleep", "30"])

    def launch(s, run_id, threads=None):
        if run_id == a:
            raise st.StoreFull(s.root)
        s.update_run(run_id, pid=sleeper.pid)
        return sleeper

    monkeypatch.setattr(runner, "launch_worker", launch)
    monkeypatch.setenv("LAB_CONCURRENCY", "2")
    sched = runner.Scheduler(store, umap=False, backend=runner.LocalBackend(store, warm=False))
    try:
        assert sched.tick() is True
        assert store.get_run(a).status == st.FAILED and "no space left" in store.get_run(a).reason
        assert store.get_run(b).status == st.RUNNING and b in sched.backend.procs
        assert sched.errors == 1
        # a pass whose reads fail is logged, not raised, and counts as busy
        def broken(**k):
            raise sqlite3.OperationalError("disk I/O error")

        with monkeypatch.context() as m:
            m.setattr(store, "list_runs", broken)
            assert sched.tick() is True and sched.errors > 1
    finally:
        sleeper.kill()
        sleeper.wait()


def test_scheduler_loop_goes_on_after_an_error_in_a_pass(tmp_path, monkeypatch):
    import signal

    calls = []

    def tick(self):
        calls.append(1)
        if len(calls) <= 2:
            raise sqlite3.OperationalError("database or disk is full")
        return False

    monkeypatch.setattr(runner.Scheduler, "tick", tick)
    monkeypatch.setattr(runner, "TICK_SECONDS", 0.01)
    sched = runner.Scheduler(st.Store(tmp_path / "s"), idle_exit=0.2, umap=False)
    handler = signal.getsignal(signal.SIGTERM)
    try:
        sched.serve()  # returns once idle: the errors did not end it
    finally:
        signal.signal(signal.SIGTERM, handler)
    assert len(calls) >= 3


def test_cancel_stops_the_worker_even_when_its_status_cannot_be_written(store, monkeypatch):
    from jobs.store import process_start_time

    rid = store.create_run(RunConfig(**FAST))
    worker = subprocess.Popen(["sleep", "30"])
    store.update_run(rid, status=st.RUNNING, pid=worker.pid, pid_start=process_start_time(worker.pid))

    def full(self, *a, **k):
        raise st.StoreFull(self.root)

    monkeypatch.setattr(st.Store, "update_run", full)
    monkeypatch.setattr(st.Store, "transition", full)
    try:
        with pytest.raises(st.StoreFull, match="told to stop"):
            runner.cancel(store, rid)
        assert worker.wait(10) == -15  # SIGTERM
    finally:
        worker.kill()


def test_delete_a_running_run_whose_worker_died(store):
    from jobs.store import boot_id, process_start_time

    rid = store.create_run(RunConfig(**FAST))
    me = os.getpid()
    store.update_run(rid, status=st.RUNNING, pid=me, pid_start=process_start_time(me), boot_id=boot_id())
    with pytest.raises(RuntimeError, match="cancel it before deleting it"):
        store.delete_run(rid)
    store.update_run(rid, pid=_dead_pid(), pid_start=None)
    store.delete_run(rid)
    assert store.list_runs() == [] and not store.run_dir(rid).exists()


# -- a full disk, real (a small tmpfs) --------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(path: Path) -> None:
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC


def test_full_disk_cli_list_cancel_delete_train(small_disk):
    from jobs.store import boot_id, process_start_time

    store = st.Store(small_disk / "store")
    rid = _run_with_snapshots(store, epochs=(0,), n=10_000)  # deleting it frees ~0.5 MB
    worker = subprocess.Popen(["sleep", "60"])
    store.update_run(rid, status=st.RUNNING, pid=worker.pid, pid_start=process_start_time(worker.pid), boot_id=boot_id())
    _fill(small_disk / "filler")
    try:
        with pytest.raises(st.StoreFull):
            store.update_run(rid, epoch=5)
        p = _cli("list", store=store.root)
        assert p.returncode == 0 and rid in p.stdout and "Traceback" not in p.stderr
        assert "the store's disk is full (" in p.stderr
        p = _cli("cancel", rid, store=store.root)
        assert p.returncode == 1 and "the store's disk is full (" in p.stderr and "Traceback" not in p.stderr
        assert worker.wait(10) == -15  # the worker was stopped all the same
        before = sorted(x.name for x in store.runs_dir.iterdir())
        p = _cli("train", "--epochs", "1", store=store.root)
        assert p.returncode == 1 and "the store's disk is full (" in p.stderr and "Traceback" not in p.stderr
        assert sorted(x.name for x in store.runs_dir.iterdir()) == before  # no orphan folder
        # the dead worker's run is marked, by whoever reads next, as out of space
        p = _cli("delete", rid, store=store.root)  # works on a full disk: the folder goes first
        assert p.returncode == 0, p.stderr
        assert store.list_runs() == [] and not store.run_dir(rid).exists()
    finally:
        worker.kill()
        store.close()


def test_full_disk_dead_worker_reason_says_no_space(small_disk):
    store = st.Store(small_disk / "store")
    rid = _run_with_snapshots(store, epochs=(0,))
    store.update_run(rid, status=st.RUNNING, pid=_dead_pid())
    _fill(small_disk / "filler")
    try:
        assert runner.reap(store) == []  # nothing can be written: left for the next reader, no exception
        (small_disk / "filler").unlink()
        with open(small_disk / "filler", "wb") as f:  # nearly full again, but the mark fits
            f.write(b"\0" * (int(st.free_mb(small_disk) * 1e6) - 200_000))
        assert runner.reap(store) == [rid]
        assert store.get_run(rid).reason.startswith("no space left on the store's disk (")
    finally:
        store.close()


# -- paths read from the database --------------------------------------------------------------
@pytest.mark.parametrize("absolute", [False, True])
def test_stored_paths_outside_the_run_folder_are_refused(store, tmp_path, absolute):
    victim = tmp_path / "victim.npz"
    victim.write_bytes(b"precious")
    name = str(victim) if absolute else "../../../victim.npz"  # runs/<id>/ is three levels below tmp_path
    rid = _run_with_snapshots(store, epochs=(0,))
    with store._tx() as c:
        c.execute("INSERT INTO snapshots (run_id, epoch, step, created, file, metrics) VALUES (?,?,?,?,?,?)",
                  (rid, 5, 50, 0.0, name, "{}"))
    assert (store.run_dir(rid) / name).resolve() == victim.resolve()
    assert [s.epoch for s in store.snapshots(rid)] == [0]  # skipped in listings
    with pytest.raises(st.StoreDamaged, match="outside the run's folder"):
        store.load_snapshot(rid, 5)
    assert store.truncate_after(rid, 0) == [name]  # what resume does
    assert victim.read_bytes() == b"precious"
    assert [s.epoch for s in store.snapshots(rid)] == [0]


# -- damaged files and stores -------------------------------------------------------------------
def test_damaged_snapshots_raise_store_damaged(store):
    rid = _run_with_snapshots(store)
    files = {s.epoch: store.run_dir(rid) / s.file for s in store.snapshots(rid)}
    data = files[0].read_bytes()
    files[0].write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(st.StoreDamaged, match="epoch 0: .*checksum mismatch"):
        store.load_snapshot(rid, 0)
    with pytest.raises(st.StoreDamaged, match="epoch 0: the snapshot file .* is damaged"):
        store.load_snapshot(rid, 0, skip=("rep",))  # a light read has no checksum to compare: numpy's error, translated
    b = bytearray(files[1].read_bytes())
    i = b.find(b"rep.npy") + 300  # inside the rep array
    b[i] ^= 0xFF
    files[1].write_bytes(bytes(b))
    assert store.load_snapshot(rid, 1, skip=("rep", "emb"))["y"].shape == (20,)  # what a page's light read needs
    with pytest.raises(st.StoreDamaged, match="checksum mismatch"):
        store.load_snapshot(rid, 1)
    files[2].unlink()
    with pytest.raises(st.StoreDamaged, match="snapshot file snapshots/epoch_00002.npz is missing"):
        store.load_snapshot(rid, 2)
    import shutil

    shutil.rmtree(store.run_dir(rid))
    with pytest.raises(st.StoreDamaged, match="the run's folder is missing"):
        store.load_snapshot(rid, 2)
    with pytest.raises(KeyError):
        store.load_snapshot(rid, 99)  # never taken: not damage


def test_garbage_database_is_reported_with_what_to_do(tmp_path):
    root = tmp_path / "s"
    st.Store(root).close()
    (root / "lab.sqlite").write_bytes(b"this is not a database" * 100)
    for p in root.glob("lab.sqlite-*"):
        p.unlink()
    with pytest.raises(st.StoreDamaged, match="doctor --repair"):
        st.Store(root)
    p = _cli("list", store=root)
    assert p.returncode == 1 and "is damaged" in p.stderr and "Traceback" not in p.stderr


def test_read_only_store_can_be_browsed(tmp_path, monkeypatch):
    src = st.Store(tmp_path / "s")
    rid = _run_with_snapshots(src, epochs=(0, 1))
    src.close()
    ro = tmp_path / "ro"
    ro.mkdir()
    r = subprocess.run(["mount", "--bind", str(tmp_path / "s"), str(ro)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {r.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
        before = sorted(str(p.relative_to(ro)) for p in ro.rglob("*"))
        s = st.Store(ro)
        assert s.read_only
        assert [r.id for r in s.list_runs()] == [rid]
        assert s.load_snapshot(rid, 1)["emb"].shape == (20, 4)
        assert s.health()["read_only"] and "read-only" in s.health()["message"]
        with pytest.raises(st.StoreReadOnly, match="can be browsed"):
            s.update_run(rid, epoch=3)
        with pytest.raises(st.StoreReadOnly):
            s.create_run(RunConfig(**FAST))
        s.close()
        p = _cli("list", store=ro)
        assert p.returncode == 0 and rid in p.stdout and "read-only" in p.stderr and "Traceback" not in p.stderr
        p = _cli("delete", rid, store=ro)
        assert p.returncode == 1 and "read-only" in p.stderr and "Traceback" not in p.stderr
        findings = st.doctor(ro)
        assert [(f.level, f.what) for f in findings] == [("warning", f"the store at {ro} is read-only")]
        assert sorted(str(p.relative_to(ro)) for p in ro.rglob("*")) == before  # nothing created
    finally:
        subprocess.run(["umount", str(ro)], check=False)


# -- leftovers, permissions, exposure -------------------------------------------------------------
def test_stale_tmp_files_are_removed_live_writers_kept(store):
    rid = _run_with_snapshots(store, epochs=(0,))
    snaps = store.run_dir(rid) / "snapshots"
    dead = snaps / f".epoch_00001.npz.{_dead_pid()}.abcd1234.tmp"
    live = snaps / f".epoch_00002.npz.{os.getpid()}.abcd1234.tmp"
    old_live = store.run_dir(rid) / f".checkpoint.pt.{os.getpid()}.ffff0000.tmp"
    for p in (dead, live, old_live):
        p.write_bytes(b"x" * 100)
    os.utime(old_live, (time.time() - 3600, time.time() - 3600))
    assert sorted(st.remove_stale_tmp(store.run_dir(rid))) == sorted([dead, old_live])
    assert live.exists()
    # resume removes them too
    store.update_run(rid, status=st.FAILED)
    dead.write_bytes(b"x")
    runner.resume(store, rid, start=False, from_scratch=True)
    assert not dead.exists() and live.exists()


def test_store_is_created_owner_only(tmp_path):
    s = st.Store(tmp_path / "new" / "store")
    rid = _run_with_snapshots(s, epochs=(0,))
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(s.root) == 0o700 and mode(s.runs_dir) == 0o700 and mode(s.run_dir(rid)) == 0o700
    assert mode(s.db_path) == 0o600
    assert mode(s.run_dir(rid) / "config.json") == 0o600
    assert mode(s.run_dir(rid) / "snapshots" / "epoch_00000.npz") == 0o600


def test_streamlit_listens_on_loopback_only():
    text = (ROOT / ".streamlit" / "config.toml").read_text()  # tomllib needs Python 3.11
    server = text.split("[server]", 1)[1].split("\n[", 1)[0]
    assert 'address = "127.0.0.1"' in [line.strip() for line in server.splitlines()]


def test_list_restarts_a_dead_scheduler_when_runs_are_queued(store):
    rid = store.create_run(RunConfig(**{**FAST, "epochs": 1}))
    assert not runner.scheduler_running(store)
    try:
        p = _cli("list", store=store.root)
        assert p.returncode == 0 and rid in p.stdout
        wait_for(lambda: store.get_run(rid).status != st.QUEUED, 60, what="the queued run to start")
        wait_for(lambda: store.get_run(rid).status == st.FINISHED, 120, what="the run to finish")
    finally:
        kill_store_processes(store)


def test_a_store_from_before_checksums_is_upgraded_on_open(tmp_path):
    s = st.Store(tmp_path / "s")
    rid = _run_with_snapshots(s, epochs=(0,))
    with s._tx() as c:
        c.execute("ALTER TABLE snapshots DROP COLUMN sha256")
    s.close()
    s = st.Store(tmp_path / "s")
    assert s.snapshots(rid)[0].sha256 == ""  # no checksum to compare: loads as before
    assert s.load_snapshot(rid, 0)["emb"].shape == (20, 4)
    s.add_snapshot(rid, 1, 10, _arrays(), {})
    assert len(s.snapshots(rid)[1].sha256) == 64
    s.close()
