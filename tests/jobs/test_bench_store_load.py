"""The store load benchmark (bench/bench_store_load.py): its simulated workers write what the
training loop writes, at its cadence, and its figures add up (every generated write is in the
store, read back; latency percentiles are ordered; sizes match the files)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jobs import store as st
from trainers.config import RunConfig

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "bench_store_load.py"


def load_bench():
    if "bench_store_load" not in sys.modules:  # bench/ is scripts, not a package
        spec = importlib.util.spec_from_file_location("bench_store_load", BENCH)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # its dataclasses look their module up while they are built
        spec.loader.exec_module(mod)
    return sys.modules["bench_store_load"]


def test_a_simulated_run_writes_at_the_training_loops_cadence():
    b = load_bench()
    load = b.Load(epochs=50, epoch_seconds=1.0, steps_per_epoch=11)
    events = b.run_events(0, load, 0.0, 50.0)  # one whole run, from its start
    kinds = [e[2] for e in events]
    snap_epochs = [e[4] for e in events if e[2] == "snapshot"]
    assert snap_epochs == RunConfig(epochs=50).snapshot_epochs()[:-1]  # epoch 50 ends at t = 50, outside [0, 50)
    assert kinds[:3] == ["snapshot", "metrics", "checkpoint"]  # epoch 0, before training
    assert kinds.count("metrics") == len(snap_epochs)  # each snapshot's metrics go to the run's row
    # progress twice a second; one loss row per epoch end plus at most one a second inside an epoch
    assert 95 <= kinds.count("progress") <= 101
    hist = [e for e in events if e[2] == "history"]
    assert 49 <= len([h for h in hist if float(h[5]).is_integer()]) <= 50
    assert len(hist) <= 50 + 50
    steps = [h[4] for h in hist]
    assert steps == sorted(set(steps))  # history keys (run, step) never repeat: no row replaces another
    times = [e[0] for e in events]
    assert times == sorted(times) and 0 <= times[0] and times[-1] < 50
    # a checkpoint at every snapshot epoch ...
    ck = [e[0] for e in events if e[2] == "checkpoint"]
    assert ck == [e[0] for e in events if e[2] == "snapshot"]
    # ... and at an epoch's end once 30 s have passed since the last (2 s epochs: after epoch 16 at 32 s)
    slow = b.run_events(0, b.Load(epochs=50, epoch_seconds=2.0), 0.0, 100.0)
    snap_t = [e[0] for e in slow if e[2] == "snapshot"]
    assert [e[0] for e in slow if e[2] == "checkpoint"] == sorted(snap_t + [62.0, 94.0])
    # a run started before the window streams on from where it is, then its slot starts a new run
    later = b.run_events(1, load, -45.0, 20.0)
    assert [e[2] for e in later].count("start") == 1 and [e[2] for e in later].count("finish") == 1
    start = next(e[0] for e in later if e[2] == "start")
    assert start == pytest.approx(5.0)
    assert [e[4] for e in later if e[2] == "snapshot"] == [50, 0, 1, 2, 4, 8]  # epoch 16 ends at 21 s


def test_a_snapshot_has_the_shape_the_trainer_writes(tmp_path):
    b = load_bench()
    load = b.Load()
    arrays = b.snapshot_arrays(load, 0)
    assert arrays["rep"].shape == (1797, 128) and arrays["emb"].shape == (1797, 64)
    assert arrays["rep"].dtype == np.float32 and arrays["index"].dtype == np.int64
    assert arrays["is_test"].sum() == 1797 // 5
    s = st.Store(tmp_path / "store")
    rid = s.create_run(RunConfig(epochs=2), status=st.RUNNING)
    s.add_snapshot(rid, 0, 0, arrays, b.metrics_dict(0, 0))
    size = (s.run_dir(rid) / "snapshots" / "epoch_00000.npz").stat().st_size
    assert 1.4e6 < size < 1.5e6  # a digits run's snapshot: 1.45 MB
    assert size == b.Payloads(load).snapshot_bytes
    assert set(s.load_snapshot(rid, 0)) == set(arrays)


def test_the_batched_store_writes_what_the_plain_store_writes(tmp_path):
    b = load_bench()
    s = b.BatchingStore(tmp_path / "store")
    rids = [s.create_run(RunConfig(epochs=2), status=st.RUNNING) for _ in range(3)]
    s.commit_many([("history", r, [{"step": k, "epoch": k / 2, "seconds": k, "loss": 0.5}]) for r in rids for k in (1, 2)]
                  + [("update", rids[0], {"epoch": 2, "metrics": {"alignment": 0.25}}),
                     ("snapshot_row", rids[1], 2, 20, "snapshots/epoch_00002.npz", {"epoch": 2}, "")])
    assert [list(s.history(r)["step"]) for r in rids] == [[1.0, 2.0]] * 3
    assert s.get_run(rids[0]).epoch == 2 and s.get_run(rids[0]).metrics == {"alignment": 0.25}
    assert [x.epoch for x in s.snapshots(rids[1])] == [2] and s.snapshots(rids[0]) == []


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    out = d / "figures.json"
    p = subprocess.run(["nice", "-n", "10", sys.executable, str(BENCH), "--quick", "--json", str(out), "--dir", str(d)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return json.loads(out.read_text()), p.stdout, d


def test_quick_mode_writes_every_generated_write_and_reads_it_back(quick):
    figures, _, _ = quick
    levels = figures["levels"]
    assert [(r["runs"], r["design"]) for r in levels] == [
        (3, "one writer"), (3, "many writers (3 processes)"), (12, "one writer"), (12, "one writer, batched")]
    for r in levels:
        assert r["generated"] == r["written"], r["design"]  # no write lost or left in the queue
        assert r["left_in_queue"] == 0
        v = r["verify"]
        assert v["ok"] and v["integrity"] == "ok" and v["leftover_tmp"] == 0
        assert v["history_rows"] == v["history_rows_written"] == r["written"]["append_history"] > 0
        assert v["snapshot_rows"] == v["snapshot_files"] == r["written"]["add_snapshot"] > 0
        assert v["runs"] == v["runs_created"] == r["runs"] + r["written"]["create_run"]
        assert v["snapshots_checked"] > 0 and v["snapshots_bad"] == 0
        # every snapshot file in the store has the size of the one the workload makes
        assert r["store_mb"]["snapshots"] == pytest.approx(v["snapshot_files"] * figures["breakdown"]["snapshot_mb"])
        assert r["growth_mb"]["snapshots"] > 0 and r["mb_per_run_minute"] > 0


def test_quick_mode_figures_are_consistent(quick):
    figures, _, _ = quick
    levels = {(r["runs"], r["design"]): r for r in figures["levels"]}
    for r in levels.values():
        w = r["window_s"]
        assert r["seconds"] <= w < r["seconds"] + 5
        assert 0 < r["writes_s"] <= r["offered_writes_s"] * 1.0001
        assert 0 < r["rows_s"] * w <= r["written"]["append_history"] + 1e-6  # rows written within the window
        assert r["snapshots_s"] > 0 and r["mb_s"] > 0 and 0 < r["busy"]
        kinds = [k for k, d in r["service_ms"].items() if d.get("n")] if "batches" not in r else []
        for k in kinds:
            lat = r["service_ms"][k]
            assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"], (r["design"], k, lat)
            assert lat["n"] == r["written"][k]
        for k, z in r["stale_ms"].items():
            if z.get("n"):
                assert z["p50"] <= z["p95"] <= z["p99"]
                # a write is in the store no sooner than it took to write it (staleness >= service time)
                if "batches" not in r:
                    assert z["max"] >= r["service_ms"][k]["max"] - 1e-6
        if r["backlog"] is not None:
            assert r["backlog"]["end"] >= 0 and r["backlog"]["peak"] >= r["backlog"]["end"]
            assert r["backlog"]["samples"]
    batched = levels[(12, "one writer, batched")]
    assert batched["batches"]["n"] > 0 and batched["batches"]["items_max"] >= batched["batches"]["items_p50"] >= 1
    assert sum(r for r in batched["written"].values()) >= batched["batches"]["n"]
    # the 12-run level offers about four times the 3-run level's writes
    ratio = levels[(12, "one writer")]["offered_writes_s"] / levels[(3, "one writer")]["offered_writes_s"]
    assert 3.0 < ratio < 5.0
    bd = figures["breakdown"]
    assert all(v > 0 for v in bd["ms"].values())
    assert bd["snapshot_compressed_mb"] < bd["snapshot_mb"] and bd["checkpoint_mb"] == pytest.approx(2.0)
    assert bd["rows_s_100_per_tx"] > 0 and bd["rows_s_one_per_tx"] > 0 and bd["disk_mb_s"]["1"] > 0


def test_quick_mode_prints_the_tables_and_leaves_no_store_behind(quick):
    figures, stdout, d = quick
    assert "| runs | design | offered writes/s |" in stdout
    assert "one write on an idle store" in stdout
    assert "whole benchmark:" in stdout
    assert [p.name for p in d.iterdir()] == ["figures.json"]  # the temporary stores are removed
