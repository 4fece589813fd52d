"""`python -m trainers doctor`: find what is damaged in a store, say what to do, repair."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from jobs import store as st
from tests.conftest import FAST
from trainers.config import RunConfig

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args, store, timeout=120):
    env = {**os.environ, "LAB_STORE": str(store)}
    return subprocess.run([sys.executable, "-m", "trainers", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=timeout)


def _run(store: st.Store, epochs=(0, 2, 4), total: int = 4) -> str:
    rid = store.create_run(RunConfig(**{**FAST, "epochs": total}))
    rng = np.random.default_rng(0)
    for e in epochs:
        store.add_snapshot(rid, e, e, {"emb": rng.standard_normal((30, 4)).astype(np.float32),
                                       "rep": rng.standard_normal((30, 8)).astype(np.float32), "y": np.arange(30)}, {})
    store.update_run(rid, status=st.FINISHED, epoch=total)
    return rid


def test_a_healthy_store(tmp_path):
    s = st.Store(tmp_path / "s")
    _run(s)
    s.close()
    assert st.doctor(tmp_path / "s") == []
    p = _cli("doctor", store=tmp_path / "s")
    assert p.returncode == 0 and "the store is healthy" in p.stdout


def test_damaged_snapshots_orphans_and_leftovers_found_and_repaired(tmp_path):
    s = st.Store(tmp_path / "s")
    rid = _run(s)
    good = _run(s)
    snaps = s.run_dir(rid) / "snapshots"
    b = bytearray((snaps / "epoch_00002.npz").read_bytes())
    b[b.find(b"rep.npy") + 300] ^= 0x55  # a flipped bit inside the rep array
    (snaps / "epoch_00002.npz").write_bytes(bytes(b))
    (snaps / "epoch_00004.npz").unlink()
    tmp = snaps / ".epoch_00006.npz.999999999.0bad.tmp"  # a dead writer's leftover
    tmp.write_bytes(b"\0" * 1000)
    orphan = s.runs_dir / "20250101-000000-abcdef"  # a run folder the database lost
    shutil.copytree(s.run_dir(good), orphan)
    junk = s.runs_dir / "20250101-000000-ffffff"  # a folder with nothing readable
    junk.mkdir()
    s.close()

    findings = st.doctor(tmp_path / "s")
    what = "\n".join(f.what for f in findings)
    assert f"run {rid}, epoch 2: the snapshot file's contents changed since it was written (checksum mismatch)" in what
    assert f"run {rid}, epoch 4: the snapshot file snapshots/epoch_00004.npz is missing" in what
    assert "the folder runs/20250101-000000-abcdef is not in the database" in what
    assert "the folder runs/20250101-000000-ffffff is not in the database" in what
    assert "1 leftover temporary files of interrupted writes" in what
    assert all(f.fix for f in findings) and not any(f.repaired for f in findings)
    assert tmp.exists()  # a check changes nothing

    p = _cli("doctor", "--json", store=tmp_path / "s")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert p.returncode == 1 and out["errors_left"] == 4 and len(out["findings"]) == 5

    p = _cli("doctor", "--repair", store=tmp_path / "s")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "repaired: " in p.stdout and "indexed as a finished run" in p.stdout
    assert not tmp.exists() and not junk.exists()
    s = st.Store(tmp_path / "s")
    assert [x.epoch for x in s.snapshots(rid)] == [0]
    assert sorted(r.id for r in s.list_runs()) == sorted([rid, good, orphan.name])
    assert s.load_snapshot(orphan.name, 4)["emb"].shape == (30, 4)
    assert s.get_run(orphan.name).status == st.FINISHED
    s.close()
    assert st.doctor(tmp_path / "s") == []


def test_garbage_or_empty_database_is_rebuilt_from_the_run_folders(tmp_path):
    root = tmp_path / "s"
    s = st.Store(root)
    done = _run(s)
    stopped = _run(s, epochs=(0, 2), total=10)  # stopped at epoch 2 of 10
    s.close()
    for content in (b"SQLite format 3\0" + os.urandom(5000), b""):
        for p in root.glob("lab.sqlite*"):
            p.unlink()
        (root / "lab.sqlite").write_bytes(content)
        findings = st.doctor(root)
        assert len(findings) == 1 and findings[0].level == "error" and "lab.sqlite" in findings[0].what
        assert "--repair" in findings[0].fix
        p = _cli("doctor", "--repair", store=root)
        assert p.returncode == 0, p.stdout + p.stderr
        assert list(root.glob("lab.sqlite.damaged-*"))  # set aside, not deleted
        s = st.Store(root)
        runs = {r.id: r for r in s.list_runs()}
        assert set(runs) == {done, stopped}
        assert runs[done].status == st.FINISHED and runs[stopped].status == st.FAILED and runs[stopped].epoch == 2
        assert "re-indexed" in runs[stopped].reason
        assert [x.epoch for x in s.snapshots(done)] == [0, 2, 4]
        assert s.load_snapshot(stopped, 2)["rep"].shape == (30, 8)
        s.close()
        assert st.doctor(root) == []
