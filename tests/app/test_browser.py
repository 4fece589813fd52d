"""A real browser (Debian chromium + Playwright): launch a run from the Train page and
find its plotly chart on the Alignment & Uniformity page. Saves screenshots."""

from __future__ import annotations

import re

from tests.app.browser import SHOTS, needs_chromium

pytestmark = needs_chromium


def test_launch_run_and_see_alignment_uniformity(app_server, page):
    url = app_server.start()
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
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Alignment & Uniformity", exact=True).click()
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.wait_for(timeout=120_000)
    page.locator(".scatterlayer .point").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "alignment_uniformity.png"))
    assert page.locator(".scatterlayer .trace").count() >= 1
    assert page.get_by_text("uniformity (lower = more uniform)").count() >= 1
    # the map page shows the run too (PCA first, UMAP once the scheduler has it): every digit a point
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Embedding Map", exact=True).click()
    title = page.locator(".gtitle", has_text=re.compile(r"^(PCA|UMAP) of the embedding · .+ · epoch \d+$")).first
    title.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "embedding_map.png"))
    chart = page.get_by_test_id("stPlotlyChart").filter(has=title)
    assert chart.locator(".scatterlayer .point").count() == 1797


def test_runs_survive_a_restart_of_the_app(app_server, page):
    """Launch from the browser, stop the Streamlit server, watch the run finish anyway,
    start the server again and find the run with all its data."""
    from jobs.store import Store
    from tests.conftest import wait_for

    url = app_server.start()
    page.goto(url)
    epochs = page.get_by_label("Epochs", exact=True)  # not its help button, "Help for Epochs"
    epochs.fill("12")
    epochs.press("Enter")
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Train", exact=False).last.click(timeout=60_000)
    page.get_by_test_id("stAlertContentSuccess").wait_for(timeout=30_000)
    s = Store(app_server.store)
    run = wait_for(lambda: (s.list_runs() or [None])[0], 10, what="the run row")
    wait_for(lambda: s.get_run(run.id).status == "running" and s.snapshots(run.id), 90, what="first snapshot")
    # stop the app: the run goes on (worker and scheduler live in their own sessions)
    app_server.stop_all()
    wait_for(lambda: s.get_run(run.id).status in ("finished", "failed", "cancelled"), 240, every=0.5,
             what="the run to finish without the app")
    rec = s.get_run(run.id)
    assert rec.status == "finished", rec.reason
    assert [x.epoch for x in s.snapshots(run.id)] == [0, 1, 2, 4, 8, 12]
    url = app_server.start()
    page.goto(url + "/runs")
    # a fresh server opened at /runs still goes through app.py's router (shared sidebar)
    page.get_by_test_id("stSidebar").get_by_text("1 runs · 0 running · 0 queued").wait_for(timeout=60_000)
    page.get_by_text(rec.name).first.wait_for(state="attached", timeout=30_000)
    page.screenshot(path=str(SHOTS / "runs_after_restart.png"))
