"""``./lab.sh stop`` stops the app that ``./lab.sh start`` serves and the store's scheduler,
and leaves workers training (it names them and says how to cancel one)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from jobs import runner
from jobs import store as stmod
from tests.app.browser import free_port
from tests.conftest import FAST, kill_store_processes, wait_for
from trainers.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "lab.sh"


def _gone(pgid: int) -> bool:
    """No live process left in the process group ``pgid`` (zombies count as gone)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return False
    return True


def _healthy(url: str) -> bool:
    try:
        return urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok"
    except OSError:
        return False


@pytest.mark.slow
def test_stop_ends_app_and_scheduler_and_names_running_workers(tmp_path):
    store_root = tmp_path / "store"
    port = free_port()
    env = {**os.environ, "LAB_STORE": str(store_root), "LAB_PORT": str(port), "LAB_SKIP_SETUP": "1",
           "LAB_UMAP": "0", "LAB_SCHEDULER_IDLE": "120", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    app = subprocess.Popen([str(LAB), "start"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           start_new_session=True, text=True)
    worker = None
    s = None
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _healthy(url) or app.poll() is not None, timeout=60, what="the app's health check")
        assert app.poll() is None, app.stdout.read()
        assert app.stdout.readline().strip() == (f"[lab] starting the app on {url} (store: {store_root}); "
                                                 "stop it with Ctrl-C or ./lab.sh stop")
        # the store's scheduler, and a run whose worker keeps going (a stand-in process)
        s = stmod.Store(store_root)
        assert runner.ensure_scheduler(s)
        sched = int(wait_for(lambda: (store_root / "scheduler.pid").exists()
                             and (store_root / "scheduler.pid").read_text().strip(), what="the scheduler's pid file"))
        worker = subprocess.Popen(["sleep", "120"], start_new_session=True)
        rid = s.create_run(RunConfig(**{**FAST, "name": "long run"}), status=stmod.RUNNING)
        s.update_run(rid, pid=worker.pid, pid_start=runner.process_start_time(worker.pid))

        out = subprocess.run([str(LAB), "stop"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert f"stopped the app on http://127.0.0.1:{port} (process {app.pid})" in out.stdout
        assert f"stopped the scheduler of {store_root} (process {sched})" in out.stdout
        assert f"{rid}  long run  (worker process {worker.pid}" in out.stdout
        assert "trainers cancel RUN_ID" in out.stdout
        app.wait(10)
        assert _gone(app.pid) and not _healthy(url)
        wait_for(lambda: not runner.scheduler_running(s), timeout=15, what="the scheduler to exit")
        assert worker.poll() is None  # workers keep training
        assert not list(store_root.glob("app-*.pid"))
        # a second stop finds nothing to stop and says so
        again = subprocess.run([str(LAB), "stop"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert "no app started by ./lab.sh start is running" in again.stdout
        assert "no scheduler is running" in again.stdout
    finally:
        for p in (app, worker):
            if p is not None and p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait(10)
        if s is not None:
            kill_store_processes(s)
        time.sleep(0.05)

