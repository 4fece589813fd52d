"""The CLI: the same code headless, clear errors, a JSON summary as the last line."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args, store, timeout=180, env=None):
    env = {**os.environ, "LAB_STORE": str(store), **(env or {})}
    return subprocess.run([sys.executable, "-m", "trainers", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=timeout)


def test_help_lists_datasets_encoders_losses(tmp_path):
    p = _cli("--help", store=tmp_path)
    assert p.returncode == 0
    for name in ("digits", "gmm_sphere", "jing_toy", "mlp", "cnn", "nt_xent", "dcl", "dclw", "supcon"):
        assert name in p.stdout


def test_train_json_summary(tmp_path):
    p = _cli("train", "--dataset", "digits", "--loss", "dcl", "--epochs", "2", "--hidden-dim", "64", "--rep-dim", "32",
             "--proj-dim", "16", "--json", store=tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    for k in ("run_id", "status", "epochs", "seconds", "knn_accuracy", "linear_accuracy", "alignment", "uniformity", "rankme"):
        assert k in out
    assert out["status"] == "finished" and out["epochs"] == 2
    assert out["knn_accuracy"] > 0.5  # it learned: chance on the ten digits is 0.1
    # the run is in the same store the app reads, and the summary reports its last snapshot
    from jobs.store import Store

    s = Store(tmp_path)
    rec = s.get_run(out["run_id"])
    assert rec.status == "finished" and rec.config["loss"] == "dcl"
    last = s.snapshots(rec.id)[-1]
    assert last.epoch == 2
    for k in ("knn_accuracy", "linear_accuracy", "alignment", "uniformity", "rankme"):
        assert out[k] == last.metrics[k], k


def test_bad_flags_exit_nonzero_without_traceback(tmp_path):
    for args, msg in [
        (("--temperature", "0"), "temperature must be > 0"),
        (("--batch-size", "1"), "batch size must be at least 2"),
        (("--dataset", "nope"), "unknown dataset 'nope'"),
        (("--loss", "nope"), "unknown loss 'nope'"),
        (("--lr", "-1"), "learning rate must be > 0"),
        (("--epochs", "999999"), "epochs must be between"),
        (("--loss-option", "oops"), "KEY=VALUE"),
    ]:
        p = _cli("train", *args, store=tmp_path, timeout=60)
        assert p.returncode == 2, (args, p.stderr)
        assert msg in p.stderr and "Traceback" not in p.stderr, p.stderr
    p = _cli("train", "--epochs", "ten", store=tmp_path, timeout=60)
    assert p.returncode == 2 and "invalid int value" in p.stderr and "Traceback" not in p.stderr
    p = _cli("resume", "no-such-run", store=tmp_path, timeout=60)
    assert p.returncode == 2 and "no run" in p.stderr


def test_help_lists_public_commands_only(tmp_path):
    p = _cli("--help", store=tmp_path)
    assert p.returncode == 0
    assert "SUPPRESS" not in p.stdout and "worker" not in p.stdout
    for cmd in ("train", "list", "cancel", "resume", "delete", "doctor", "sweep", "scheduler"):
        assert f"\n    {cmd} " in p.stdout, cmd
    p = _cli("resume", "--help", store=tmp_path)
    assert "--from-scratch" in p.stdout


def test_resume_without_checkpoint_needs_from_scratch(tmp_path):
    from jobs.store import FAILED, Store
    from trainers.config import RunConfig

    s = Store(tmp_path)
    rid = s.create_run(RunConfig(epochs=2))
    s.append_history(rid, [{"step": 1, "epoch": 1, "seconds": 0.1, "loss": 1.0}])
    s.update_run(rid, status=FAILED, epoch=1)
    env = {"LAB_SCHEDULER_IDLE": "1"}
    p = _cli("resume", rid, store=tmp_path, env=env, timeout=60)
    assert p.returncode == 2 and "--from-scratch" in p.stderr and "Traceback" not in p.stderr
    assert s.get_run(rid).status == FAILED
    p = _cli("resume", rid, "--from-scratch", store=tmp_path, env=env, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "queued"
    from tests.conftest import kill_store_processes, wait_for

    wait_for(lambda: s.get_run(rid).status != "queued", 60, what="the scheduler to start the run")
    kill_store_processes(s)
