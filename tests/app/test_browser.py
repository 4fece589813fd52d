"""A real browser (Debian chromium + Playwright): launch a run from the Train page and
find its plotly chart on the Alignment & Uniformity page. Saves screenshots."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import kill_store_processes

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian chromium is not installed"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_server(tmp_path):
    port = _free_port()
    store = tmp_path / "store"
    env = {**os.environ, "LAB_STORE": str(store), "LAB_UMAP": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    t = time.monotonic()
    while time.monotonic() - t < 60:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the app did not answer /_stcore/health within 60 s")
    yield url, store
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(10)
    from trainers.store import Store

    kill_store_processes(Store(store))


def test_launch_run_and_see_alignment_uniformity(app_server, page):
    url, store = app_server
    SHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(url)
    page.get_by_role("button", name="Train", exact=False).last.click(timeout=60_000)
    page.get_by_test_id("stAlertContentSuccess").wait_for(timeout=30_000)
    assert "Queued 1 run" in page.get_by_test_id("stAlertContentSuccess").inner_text()
    # the queue shows live progress
    page.get_by_text("Queue · 1 active").wait_for(timeout=30_000)
    page.get_by_test_id("stProgress").first.wait_for(timeout=60_000)
    page.screenshot(path=str(SHOTS / "train.png"))
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Alignment & Uniformity").click()
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.wait_for(timeout=120_000)
    page.locator(".scatterlayer .point").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "alignment_uniformity.png"))
    assert page.locator(".scatterlayer .trace").count() >= 1
    assert page.get_by_text("uniformity (lower = more uniform)").count() >= 1
    # the map page shows the run too (PCA first, UMAP once the scheduler has it)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Embedding Map").click()
    page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "embedding_map.png"))
    assert shutil.which("chromium")
