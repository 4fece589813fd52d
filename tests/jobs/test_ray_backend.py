"""The Ray backend: runs as Ray actors on a real local cluster (bound to 127.0.0.1), their
writes streamed to the scheduler and written by it; cancel, a killed worker, a lost node,
resume; and the remote store on its own (no Ray needed)."""

from __future__ import annotations

import json
import os
import re
import signal
import tempfile
import time

import pytest

from jobs import runner
from jobs import store as st
from jobs.remote_store import RemoteStore, apply_write
from tests.conftest import FAST, kill_store_processes, wait_for
from trainers.config import RunConfig

LONG = {**FAST, "epochs": 400, "snapshot_every": "2"}  # trains for minutes: stopped by the test


# -- the remote store on its own ------------------------------------------------------------
def _replay(remote: RemoteStore, store: st.Store) -> int:
    ops = remote.take()
    for op in ops:
        apply_write(store, op)
    return len(ops)


def test_remote_store_training_writes_what_local_training_writes(store):
    from trainers.train import train_run

    cfg = RunConfig(**{**FAST, "epochs": 3})
    direct = store.create_run(cfg, status=st.RUNNING)
    train_run(store, direct, log=lambda m: None)

    rid = store.create_run(cfg, status=st.RUNNING)
    store.update_run(rid, pid=12345)
    remote = RemoteStore(rid, {rid: store.get_run(rid)})
    out = train_run(remote, rid, log=lambda m: None)
    assert out["status"] == "finished"
    assert store.get_run(rid).epoch == 0  # nothing reaches the store until the writes are applied
    assert _replay(remote, store) > 5
    a, b = store.get_run(direct), store.get_run(rid)
    assert b.status == st.FINISHED and b.epoch == 3 and b.pid is None
    assert b.metrics == a.metrics  # same seed, one thread: the same numbers
    ha, hb = store.history(direct), store.history(rid)
    assert list(hb["epoch"]) == list(ha["epoch"]) and list(hb["loss"]) == list(ha["loss"])
    assert [s.epoch for s in store.snapshots(rid)] == [s.epoch for s in store.snapshots(direct)] == [0, 1, 2, 3]
    assert (store.load_snapshot(rid, 3)["emb"] == store.load_snapshot(direct, 3)["emb"]).all()
    assert store.checkpoint_path(rid).read_bytes()[:2] == store.checkpoint_path(direct).read_bytes()[:2]
    remote.cleanup()
    assert not remote.root.exists()


def test_remote_store_answers_a_pushed_cancel_and_resumes_from_sent_checkpoint(store):
    from trainers.train import train_run

    cfg = RunConfig(**{**FAST, "epochs": 3})
    rid = store.create_run(cfg, status=st.RUNNING)
    train_run(store, rid, log=lambda m: None)
    # resume from epoch 3's checkpoint with 3 more epochs: the worker gets the bytes, not the path
    store.update_run(rid, status=st.RUNNING, resume=1, total_epochs=5)
    rec = store.get_run(rid)
    rec.config["epochs"] = 5
    lines: list[str] = []
    remote = RemoteStore(rid, {rid: rec}, checkpoints={rid: store.checkpoint_path(rid).read_bytes()},
                         snapshots=store.snapshots(rid))
    assert remote.checkpoint_path(rid) != store.checkpoint_path(rid) and remote.checkpoint_path(rid).exists()
    remote.set_cancel(True)
    out = train_run(remote, rid, log=lines.append)
    assert out["status"] == "cancelled" and re.match(r"cancelled at epoch [34];", out["reason"])
    assert any("resumed from epoch 3" in m for m in lines)
    _replay(remote, store)
    rec = store.get_run(rid)
    assert rec.status == st.CANCELLED and rec.epoch in (3, 4) and rec.resume is False
    assert rec.reason == out["reason"]


def test_remote_writes_never_set_a_local_pid(store):
    rid = store.create_run(RunConfig(**FAST), status=st.RUNNING)
    remote = RemoteStore(rid, {rid: store.get_run(rid)})
    remote.update_run(rid, pid=4242, pid_start="9", boot_id="other-machine", heartbeat=1.0, epoch=2)
    assert remote.get_run(rid).epoch == 2
    before = time.time()
    _replay(remote, store)
    rec = store.get_run(rid)
    assert rec.pid is None and rec.boot_id is None and rec.epoch == 2
    assert rec.heartbeat >= before  # the scheduler's clock, not the worker's
    remote.log(rid, "a line <img src=x onerror=alert(1)>")
    _replay(remote, store)
    assert store.log_path(rid).read_text() == "a line <img src=x onerror=alert(1)>\n"
    assert oct(store.log_path(rid).stat().st_mode & 0o777) == "0o600"


def test_reap_marks_a_silent_ray_run_failed_only_when_no_scheduler_drains_it(store):
    rid = store.create_run(RunConfig(**FAST), status=st.RUNNING)
    store.update_run(rid, backend="ray", node="10.0.0.7 · abcd1234", pid=None, boot_id=st.boot_id(),
                     started=time.time() - 300, heartbeat=time.time() - 5, epoch=3)
    assert runner.reap(store) == []  # it reported 5 s ago
    store.update_run(rid, heartbeat=time.time() - 120)
    import fcntl

    with open(store.root / "scheduler.lock", "a+") as lock:  # a scheduler holds the store
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert runner.reap(store) == []
        fcntl.flock(lock, fcntl.LOCK_UN)
    assert runner.reap(store) == [rid]
    rec = store.get_run(rid)
    assert rec.status == st.FAILED
    assert "Ray worker stopped reporting at epoch 3" in rec.reason and "resume continues" in rec.reason


def test_a_backend_that_cannot_start_fails_the_queued_runs_with_why(store, monkeypatch):
    monkeypatch.setenv("LAB_BACKEND", "<img src=x onerror=alert(1)>")
    rid = store.create_run(RunConfig(**FAST), status=st.QUEUED)
    runner.Scheduler(store, idle_exit=0).serve()  # in this process: it returns at once
    (store.root / "scheduler.pid").unlink()  # this test's own pid: not one for the fixture to stop
    rec = store.get_run(rid)
    assert rec.status == st.FAILED
    assert rec.reason == ("the scheduler's <img src=x onerror=alert(1)> backend could not start: ValueError: unknown "
                          "backend '<img src=x onerror=alert(1)>': use local or ray")
    runner.resume(store, rid, start=False)  # fixed later: it can be queued again
    assert store.get_run(rid).status == st.QUEUED


# -- a real cluster ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    """One local Ray cluster for the module: a head node with 2 CPUs bound to 127.0.0.1, no
    dashboard, no usage stats, quick detection of a lost node."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install '.[ray]'): the Ray backend's tests skip")
    from ray.cluster_utils import Cluster

    tmp = tempfile.mkdtemp(prefix="labray")  # short: Ray's socket paths must stay under 107 characters
    env = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # keeps Ray from replacing 127.0.0.1 by the network address
           "RAY_USAGE_STATS_ENABLED": "0", "RAY_TMPDIR": tmp}
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "node_ip_address": "127.0.0.1", "include_dashboard": False,
        "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 3,
                           "health_check_timeout_ms": 500, "health_check_initial_delay_ms": 500}})
    try:
        yield c
    finally:
        c.shutdown()
        mp.undo()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def ray_store(cluster, store, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    monkeypatch.setenv("LAB_BACKEND", "ray")
    monkeypatch.setenv("LAB_SCHEDULER_IDLE", "30")
    yield store


def _worker_pid(store, rid) -> int:
    m = wait_for(lambda: re.search(r"Ray worker process (\d+) on node 127\.0\.0\.1", store.log_path(rid).read_text()
                                   if store.log_path(rid).exists() else ""), 60, what="the worker's first log line")
    return int(m.group(1))


def test_sweep_on_ray_matches_the_local_pool(cluster, tmp_path, monkeypatch, capsys):
    from jobs import sweep

    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    args = ["--preset", "NT-Xent (default)", "--seeds", "0,1,2", "--json",
            "--set", "epochs=3", "--set", "threads=1", "--set", "hidden_dim=64", "--set", "rep_dim=32",
            "--set", "proj_dim=16"]
    results = {}
    try:
        for backend in ("ray", "local"):
            assert sweep.main([*args, "--backend", backend, "--store", str(tmp_path / backend)]) == 0
            out, err = capsys.readouterr()
            results[backend] = json.loads(out)
            assert "100.0%  3/3 ended" in err
    finally:
        for backend in ("ray", "local"):
            kill_store_processes(st.Store(tmp_path / backend))
    ray_runs, local_runs = results["ray"]["runs"], results["local"]["runs"]
    assert [r["seed"] for r in ray_runs] == [r["seed"] for r in local_runs] == [0, 1, 2]
    for a, b in zip(ray_runs, local_runs, strict=True):
        assert a["status"] == b["status"] == "finished"
        assert a["backend"] == "ray" and a["node"].startswith("127.0.0.1 · ")
        assert b["backend"] == "local"
        for k in ("knn_accuracy", "linear_accuracy", "alignment", "uniformity", "rankme"):
            assert a["metrics"][k] == pytest.approx(b["metrics"][k], rel=1e-6, abs=1e-9), k
    assert len({r["metrics"]["uniformity"] for r in ray_runs}) == 3  # the seeds differ
    s = st.Store(tmp_path / "ray")
    rid = ray_runs[0]["run_id"]
    assert [x.epoch for x in s.snapshots(rid)] == [0, 1, 2, 3] and s.checkpoint_path(rid).exists()
    assert "done: {" in s.log_path(rid).read_text()
    assert s.history(rid)["epoch"][-1] == 3


def test_cancel_on_ray_stops_the_run_and_resume_continues_from_its_checkpoint(ray_store):
    s = ray_store
    rid = runner.submit(s, RunConfig(**LONG))
    wait_for(lambda: s.get_run(rid).epoch >= 3, 120, what="progress on Ray")
    rec = s.get_run(rid)
    assert rec.status == st.RUNNING and rec.backend == "ray" and rec.node.startswith("127.0.0.1") and rec.pid is None
    assert runner.cancel(s, rid) == "cancelling"
    t = time.monotonic()
    wait_for(lambda: s.get_run(rid).status == st.CANCELLED, 20, what="the cancel")
    assert time.monotonic() - t < 10
    stopped = s.get_run(rid)
    assert stopped.reason.startswith(f"cancelled at epoch {stopped.epoch}") and s.checkpoint_path(rid).exists()
    runner.resume(s, rid)
    wait_for(lambda: s.get_run(rid).epoch > stopped.epoch + 1, 120, what="progress after the resume")
    assert f"resumed from epoch {stopped.epoch}" in s.log_path(rid).read_text()
    hist = s.history(rid)
    assert list(hist["step"]) == sorted(set(hist["step"]))  # one history, continued
    runner.cancel(s, rid)
    wait_for(lambda: s.get_run(rid).status == st.CANCELLED, 20, what="the second cancel")


def test_killed_ray_worker_is_marked_failed_within_seconds(ray_store):
    s = ray_store
    rid = runner.submit(s, RunConfig(**LONG))
    pid = _worker_pid(s, rid)
    wait_for(lambda: len(s.snapshots(rid)) >= 2, 120, what="two snapshots")
    os.kill(pid, signal.SIGKILL)
    t = time.monotonic()
    wait_for(lambda: s.get_run(rid).status == st.FAILED, 20, what="the dead worker marked")
    assert time.monotonic() - t < 10
    rec = s.get_run(rid)
    assert f"its Ray worker (process {pid} on node 127.0.0.1) died (killed or crashed) at epoch {rec.epoch}" in rec.reason
    assert "resume continues from the last checkpoint" in rec.reason
    assert s.load_snapshot(rid, s.snapshots(rid)[-1].epoch)["emb"].shape == (1797, 16)


def test_lost_node_fails_its_run_and_resume_continues_on_another_node(cluster, ray_store, monkeypatch):
    s = ray_store
    monkeypatch.setenv("LAB_RAY_RESOURCES", json.dumps({"lab_doomed": 1}))  # only the added node has it
    doomed = cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1", resources={"lab_doomed": 1})
    rid = runner.submit(s, RunConfig(**LONG))
    wait_for(lambda: len(s.snapshots(rid)) >= 2, 120, what="two snapshots on the added node")
    first_node = s.get_run(rid).node
    assert first_node == f"127.0.0.1 · {doomed.node_id[:8]}"
    cluster.remove_node(doomed)
    t = time.monotonic()
    wait_for(lambda: s.get_run(rid).status == st.FAILED, 30, what="the lost node noticed")
    assert time.monotonic() - t < 15
    rec = s.get_run(rid)
    assert rec.reason.startswith(f"the Ray node 127.0.0.1 running it was lost at epoch {rec.epoch}"), rec.reason
    lost_at = rec.epoch
    spare = cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1", resources={"lab_doomed": 1})
    runner.resume(s, rid)
    wait_for(lambda: s.get_run(rid).epoch > lost_at + 1, 120, what="progress on the spare node")
    rec = s.get_run(rid)
    assert rec.status == st.RUNNING and rec.node == f"127.0.0.1 · {spare.node_id[:8]}" != first_node
    assert "resumed from epoch" in s.log_path(rid).read_text()
    runner.cancel(s, rid)
    wait_for(lambda: s.get_run(rid).status == st.CANCELLED, 20, what="the cancel")


def test_distillation_group_on_ray_sends_the_teacher_to_its_students(cluster, tmp_path, monkeypatch, capsys):
    from jobs import sweep

    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    root = tmp_path / "distill"
    try:
        rc = sweep.main(["--preset", "Distillation: KD", "--seeds", "0", "--backend", "ray", "--json",
                         "--set", "epochs=2", "--set", "threads=1", "--store", str(root)])
    finally:
        kill_store_processes(st.Store(root))
    out = json.loads(capsys.readouterr().out)
    assert rc == 0, out
    runs = out["runs"]
    assert [r["status"] for r in runs] == ["finished"] * 4 and {r["backend"] for r in runs} == {"ray"}
    s = st.Store(root)
    teacher = runs[0]["run_id"]
    assert [s.get_run(r["run_id"]).config["teacher"] for r in runs] == ["", "", teacher, teacher]
    assert runs[2]["metrics"]["knn_accuracy"] > 0.3
