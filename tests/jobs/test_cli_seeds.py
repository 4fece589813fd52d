"""`python -m trainers train --seeds`: one configuration once per seed as one group, trained by
the scheduler's workers; a bad seed list is refused with a message and creates nothing."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.store import Store
from tests.conftest import kill_store_processes

ROOT = Path(__file__).resolve().parents[2]
SMALL = ("--dataset", "digits", "--epochs", "2", "--batch-size", "128", "--hidden-dim", "64", "--rep-dim", "32",
         "--proj-dim", "16")


def _cli(*args, store, timeout=240):
    env = {**os.environ, "LAB_STORE": str(store), "LAB_UMAP": "0", "LAB_SCHEDULER_IDLE": "5"}
    return subprocess.run([sys.executable, "-m", "trainers", "train", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=timeout)


@pytest.mark.parametrize(("seeds", "extra", "message"), [
    ("", (), "no seeds: give at least one"),
    ("0,a", (), "seed 'a' is not a whole number"),
    ("1,2,1", (), "seed 1 is given twice"),
    ("5-2", (), "range '5-2' runs backwards"),
    ("0-500", (), "too many seeds: at most 100"),
    ("4294967296", (), "seed 4294967296 is too large"),
    ("0,1", ("--seed", "3"), "not both"),
    ("0,1", ("--temperature", "0"), "temperature must be > 0"),
])
def test_bad_seed_lists_change_nothing(tmp_path, seeds, extra, message):
    p = _cli(*SMALL, "--seeds", seeds, *extra, store=tmp_path, timeout=60)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert Store(tmp_path).list_runs() == []  # no run was created
    assert not (tmp_path / "scheduler.pid").exists()  # and no scheduler started


def test_detach_without_seeds_is_refused(tmp_path):
    p = _cli(*SMALL, "--detach", store=tmp_path, timeout=60)
    assert p.returncode == 2 and "--detach goes with --seeds" in p.stderr
    assert Store(tmp_path).list_runs() == []


def test_seeds_train_one_group_and_report_mean_and_sd(tmp_path):
    try:
        p = _cli(*SMALL, "--name", "seeded", "--seeds", "3,5", "--json", store=tmp_path)
        assert p.returncode == 0, p.stderr[-3000:]
        out = json.loads(p.stdout.strip().splitlines()[-1])
        s = Store(tmp_path)
        runs = {r.id: r for r in s.list_runs()}
        # every run listed, one per seed, in seed order, all in one group that the store holds
        assert [r["seed"] for r in out["runs"]] == [3, 5] and out["seeds"] == [3, 5]
        assert [r["name"] for r in out["runs"]] == ["seeded · seed 3", "seeded · seed 5"]
        assert set(runs) == {r["run_id"] for r in out["runs"]}
        assert {runs[r["run_id"]].group for r in out["runs"]} == {out["group"]}
        assert out["group"].startswith("seeded · seeds 3,5")
        for r in out["runs"]:
            rec = runs[r["run_id"]]
            assert r["status"] == rec.status == "finished" and rec.epoch == 2 and rec.config["seed"] == r["seed"]
            assert r["metrics"]["knn_accuracy"] == rec.metrics["knn_accuracy"]
        # the summary: mean and sd (n - 1) of the two finished runs' final metrics
        a, b = (runs[r["run_id"]].metrics for r in out["runs"])
        for k in ("knn_accuracy", "alignment", "uniformity", "rankme"):
            got = out["summary"][k]
            assert got["n"] == 2
            assert got["mean"] == pytest.approx((a[k] + b[k]) / 2)
            assert got["sd"] == pytest.approx(abs(a[k] - b[k]) / math.sqrt(2))  # sqrt(((a-b)/2)² · 2 / 1)
        assert a["knn_accuracy"] != b["knn_accuracy"] or a["alignment"] != b["alignment"]  # the seeds differ
        assert "queued 2 runs" in p.stderr
    finally:
        kill_store_processes(Store(tmp_path))


def test_seeds_detach_lists_queued_runs_and_text_output(tmp_path):
    try:
        p = _cli(*SMALL, "--seeds", "0-2", "--detach", store=tmp_path, timeout=60)
        assert p.returncode == 0, p.stderr
        s = Store(tmp_path)
        runs = sorted(s.list_runs(), key=lambda r: r.config["seed"])
        assert [r.config["seed"] for r in runs] == [0, 1, 2] and len({r.group for r in runs}) == 1
        for r in runs:  # text output: one line per run
            assert f"run {r.id}  seed {r.config['seed']}  " in p.stdout
            assert r.name == f"nt_xent on digits · seed {r.config['seed']}"
    finally:
        from jobs import runner

        s = Store(tmp_path)
        for r in s.list_runs():
            runner.cancel(s, r.id)
        kill_store_processes(s)
