"""The CLI: the same code headless, clear errors, a JSON summary as the last line."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args, store, timeout=180):
    env = {**os.environ, "LAB_STORE": str(store)}
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
    assert 0.0 <= out["knn_accuracy"] <= 1.0 and 0.0 <= out["alignment"] <= 4.0
    # the run is in the same store the app reads
    from trainers.store import Store

    rec = Store(tmp_path).get_run(out["run_id"])
    assert rec.status == "finished" and rec.config["loss"] == "dcl"


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
