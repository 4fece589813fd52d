"""Shared helpers of the real-browser tests (Debian chromium + Playwright).

``AppServers`` starts the app on a store (bound to 127.0.0.1, stopped by its process
group); ``train_in_background`` starts a small run through the runner so that a test can
watch a view while the run trains; ``HOSTILE_NAME`` is a run name that would run script or
restyle the page if any view rendered it as HTML.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "screenshots"

# a name that, rendered as HTML, adds an element #inj and paints the page red
HOSTILE_NAME = '<b id="inj">x</b><style>body{background:red}</style><img src=x onerror="document.title=\'XSS\'">'

needs_chromium = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian chromium is not installed"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(store: Path, *, umap: bool = False, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """Start ``streamlit run app.py`` on ``store``; return the process and its URL once
    ``/_stcore/health`` answers."""
    port = free_port()
    full_env = {**os.environ, "LAB_STORE": str(store), "LAB_UMAP": "1" if umap else "0", **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    t = time.monotonic()
    while time.monotonic() - t < 60:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("the app did not answer /_stcore/health within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except (OSError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass


class AppServers:
    """Start (and restart) the app on a store; every server is stopped at teardown."""

    def __init__(self, store: Path, *, umap: bool = False) -> None:
        self.store = store
        self.umap = umap
        self.procs: list[subprocess.Popen] = []

    def start(self) -> str:
        proc, url = start_server(self.store, umap=self.umap)
        self.procs.append(proc)
        return url

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                stop_server(p)


def train_in_background(store_root: Path, **overrides) -> str:
    """Submit a small digits run through the runner (scheduler and worker in their own
    sessions, as from the Train page) and return its id."""
    from jobs import runner
    from jobs.store import Store
    from tests.conftest import FAST
    from trainers.config import RunConfig

    return runner.submit(Store(store_root), RunConfig(**{**FAST, **overrides}))


def goto_page(page, url: str, title: str) -> None:
    """Open ``url`` and follow the sidebar link ``title``; wait for the page's title."""
    page.goto(url)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click(timeout=60_000)
    page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)


def assert_no_injection(page) -> None:
    """Nothing of ``HOSTILE_NAME`` took effect: no element #inj, no red page, no changed title."""
    assert page.locator("#inj").count() == 0
    assert page.title() != "XSS"
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert bg not in ("rgb(255, 0, 0)", "red"), bg


def assert_no_exception(page) -> None:
    """No Streamlit exception box on the page."""
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()
