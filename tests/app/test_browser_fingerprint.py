"""Real browser: the What It Keeps page follows a shapes run while it trains, its epoch slider
and its run picker change the values drawn (read from the page's Plotly figures), the raw-input
baseline arrives by itself, and a run named with HTML shows as text. Saves screenshots."""

from __future__ import annotations

import html
import os
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from jobs import store as stmod
from tests.app.browser import (
    HOSTILE_NAME,
    ROOT,
    SHOTS,
    assert_no_exception,
    assert_no_injection,
    free_port,
    needs_chromium,
    stop_server,
    train_in_background,
)
from tests.conftest import kill_store_processes, wait_for
from trainers.config import RunConfig
from trainers.train import train_run

pytestmark = needs_chromium

SHAPES = dict(dataset="shapes", encoder="cnn_rgb", batch_size=64, hidden_dim=32, rep_dim=16, proj_dim=8, threads=1,
              aug_grayscale=0.0)
EPOCHS = 16  # snapshots at 0, 1, 2, 4, 8, 16
FACTORS = ["colour", "x", "y", "scale", "angle", "background", "noise"]


@pytest.fixture
def fingerprint_server(tmp_path):
    """``tests/app/fingerprint_app.py`` (the router with this page and the Embedding Map) served on
    a temporary store; the server, workers and scheduler are stopped at teardown."""
    store = tmp_path / "store"
    port = free_port()
    env = {**os.environ, "LAB_STORE": str(store), "LAB_UMAP": "0", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "tests/app/fingerprint_app.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok"
        except OSError:
            return False

    try:
        wait_for(healthy, timeout=60, every=0.3, what="the app's health check")
        yield url, store
    finally:
        stop_server(proc)
        kill_store_processes(stmod.Store(store))


def traces(chart) -> list[dict]:
    """The figure's traces as Plotly holds them in the page (name, type, y): of the chart's last
    visible plot (a rerun can leave the previous one in the page for a moment)."""
    plots = chart.locator(".js-plotly-plot").evaluate_all(
        "els => els.filter(d => d.offsetParent !== null && d._fullData)"
        ".map(d => d._fullData.map(t => ({name: t.name, type: t.type, y: Array.from(t.y || [], Number)})))")
    return plots[-1] if plots else []


def expected(m: dict, space: str) -> list[float]:
    label = m["knn_accuracy"] if space == "rep" else m["knn_accuracy_emb"]
    probes = m["factor_probes"] if space == "rep" else m["factor_probes_embedding"]
    return [label] + [probes[f] for f in FACTORS]


def bars_of(chart, name: str, epoch: int) -> list[list[float]]:
    """The bar heights of run ``name`` at ``epoch``: [representation, projector output]. (Plotly
    holds a trace's name with ``<``, ``>`` and ``&`` as entities, and shows them as the characters.)"""
    want = html.escape(f"{name} · epoch {epoch}", quote=False)
    return [t["y"] for t in traces(chart) if t["type"] == "bar" and t["name"] == want]


def test_what_it_keeps_follows_a_live_run_and_its_controls(fingerprint_server, page):
    url, root = fingerprint_server
    s = stmod.Store(root)
    done = s.create_run(RunConfig(**SHAPES, n_samples=300, epochs=3, aug_colour=0.0, name="crop only"),
                        status=stmod.RUNNING)
    train_run(s, done, log=lambda m: None)
    live = train_in_background(root, **SHAPES, n_samples=2000, epochs=EPOCHS, aug_colour=0.8, name=HOSTILE_NAME)
    wait_for(lambda: s.snapshots(live), timeout=120, what="the live run's first snapshot")

    page.set_viewport_size({"width": 1280, "height": 2600})
    page.goto(f"{url}/?runs={live},{done}")
    page.get_by_role("heading", name="What It Keeps").first.wait_for(timeout=60_000)
    bars = page.locator(".st-key-fp_bars")
    bars.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    assert s.get_run(live).status in (stmod.QUEUED, stmod.RUNNING)  # the page opened while it trains

    # the run finishes while the page is open: the bars move on to its last epoch by themselves
    wait_for(lambda: s.get_run(live).status == stmod.FINISHED, timeout=240, what="the live run to finish")
    wait_for(lambda: bars_of(bars, HOSTILE_NAME, EPOCHS), timeout=60, what=f"the bars of epoch {EPOCHS}")
    last = {x.epoch: x.metrics for x in s.snapshots(live)}
    rep, emb = bars_of(bars, HOSTILE_NAME, EPOCHS)
    np.testing.assert_allclose(rep, expected(last[EPOCHS], "rep"), rtol=1e-6)
    np.testing.assert_allclose(emb, expected(last[EPOCHS], "emb"), rtol=1e-6)
    # the finished run is drawn at its own last snapshot (epoch 3 <= 8)
    other = {x.epoch: x.metrics for x in s.snapshots(done)}
    np.testing.assert_allclose(bars_of(bars, "crop only", 3)[0], expected(other[3], "rep"), rtol=1e-6)

    # the raw-input baselines (two data settings: two commands) arrive without a reload
    wait_for(lambda: sum(t["name"] == "raw input" for t in traces(bars)) == 4, timeout=120,
             what="the raw-input ticks")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "fingerprint_last_epoch.png"))

    # the epoch slider: back to the start, every bar is that snapshot's
    page.locator(".st-key-fp_epoch").get_by_role("slider").first.focus()
    page.keyboard.press("Home")
    wait_for(lambda: bars_of(bars, HOSTILE_NAME, 0), timeout=60, what="the bars of epoch 0")
    rep0, emb0 = bars_of(bars, HOSTILE_NAME, 0)
    np.testing.assert_allclose(rep0, expected(last[0], "rep"), rtol=1e-6)
    np.testing.assert_allclose(emb0, expected(last[0], "emb"), rtol=1e-6)
    assert not np.allclose(rep0, rep)  # training changed what the representation keeps
    np.testing.assert_allclose(bars_of(bars, "crop only", 0)[0], expected(other[0], "rep"), rtol=1e-6)

    # over epochs: the first picked run, then the other one from the picker
    epochs_chart = page.locator(".st-key-fp_epochs")
    title = epochs_chart.locator(".gtitle").last
    wait_for(lambda: HOSTILE_NAME in (title.text_content() or ""), timeout=60, what="the live run over epochs")
    first = [t["y"] for t in traces(epochs_chart) if t["name"] == "representation"]
    np.testing.assert_allclose(first[1], [last[e]["factor_probes"]["colour"] for e in sorted(last)], rtol=1e-6)
    page.locator(".st-key-fp_run").click()
    page.get_by_role("option", name="crop only").click()
    wait_for(lambda: "crop only over epochs" in (title.text_content() or ""), timeout=60,
             what="the other run over epochs")
    time.sleep(0.5)  # the figure's traces are replaced with its title
    second = [t["y"] for t in traces(epochs_chart) if t["name"] == "representation"]
    np.testing.assert_allclose(second[1], [other[e]["factor_probes"]["colour"] for e in sorted(other)], rtol=1e-6)

    # the hostile name is text everywhere: in the picker, the legend, the over-epochs title
    assert page.get_by_text(HOSTILE_NAME, exact=False).count() >= 1
    assert_no_injection(page)
    assert_no_exception(page)
    page.screenshot(path=str(SHOTS / "fingerprint_epoch0_other_run.png"))
