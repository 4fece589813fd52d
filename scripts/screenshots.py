"""Screenshot every page of the app against a store (for looking at what users see).

    LAB_STORE=/path/to/store .venv/bin/python scripts/screenshots.py OUT_DIR [page-title ...]

Starts the app on a free localhost port, visits each page in Debian chromium
(Playwright), waits for its charts, saves OUT_DIR/<page>.png, and stops the app.
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

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots")
    only = sys.argv[2:]
    out.mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.address", "127.0.0.1", "--server.port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = b.new_page(viewport={"width": 1400, "height": int(os.environ.get("SHOT_HEIGHT", "1600"))})
            page.goto(url)
            page.get_by_test_id("stSidebarNav").wait_for(timeout=30_000)
            hrefs = [a.get_attribute("href") for a in page.get_by_test_id("stSidebarNav").get_by_role("link").all()]
            from urllib.parse import urlparse

            for href in hrefs:
                name = urlparse(href).path.strip("/") or "train"
                if only and name not in only:
                    continue
                page.goto(url if name == "train" else (href if href.startswith("http") else url + href))
                page.get_by_test_id("stSidebarNav").wait_for(timeout=30_000)
                page.wait_for_timeout(5000)
                fname = out / f"{name}.png"
                page.screenshot(path=str(fname), full_page=True)
                print(fname)
            b.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)


if __name__ == "__main__":
    main()
