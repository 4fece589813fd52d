"""The views in a real browser while a run trains: every view opened mid-run shows the last
epoch once the run has finished (without a reload); the chosen runs live in the URL and
follow a person from view to view and through a reload; a hostile run name stays text."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from tests.app.browser import (
    HOSTILE_NAME,
    SHOTS,
    AppServers,
    assert_no_exception,
    assert_no_injection,
    needs_chromium,
    train_in_background,
)
from tests.conftest import kill_store_processes, wait_for

pytestmark = needs_chromium

EPOCHS = 24  # snapshots at 0, 1, 2, 4, 8, 16 and 24: the last is not a power of two


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A store with two finished runs (one with a hostile name) and a server on it."""
    from jobs.store import Store

    root = tmp_path_factory.mktemp("views") / "store"
    first = train_in_background(root, epochs=2, name=HOSTILE_NAME)
    other = train_in_background(root, epochs=2, name="other run")
    s = Store(root)
    wait_for(lambda: {s.get_run(first).status, s.get_run(other).status} == {"finished"}, 180, every=0.5,
             what="the first runs to finish")
    servers = AppServers(root)
    url = servers.start()
    yield s, url, first, other
    servers.stop_all()
    kill_store_processes(s)


def address(page) -> str:
    """The page's URL as the browser has it now (``page.url`` is only updated while Playwright
    handles events, which a plain sleep in a polling loop does not do)."""
    return page.evaluate("() => location.href")


def _plot_texts(page, selector: str) -> list[str]:
    return [t or "" for t in page.locator(selector).all_text_contents()]


def test_views_opened_mid_run_show_the_last_epoch(lab, browser):
    s, url, first, _ = lab
    rid = train_in_background(s.root, epochs=EPOCHS, name="live run")
    wait_for(lambda: s.get_run(rid).status == "running" and len(s.snapshots(rid)) >= 2, 120, every=0.3,
             what="the run's first snapshots")
    worker = s.get_run(rid).pid
    os.kill(worker, signal.SIGSTOP)  # hold the worker while the views open (a loaded machine opens them slowly)
    ctx = browser.new_context(viewport={"width": 1400, "height": 1100})
    views = {}
    try:
        # every view opened while the run trains, on this run and the finished one
        for path in ("alignment_uniformity", "collapse", "embedding_map", "compare"):
            page = ctx.new_page()
            page.goto(f"{url}/{path}?runs={rid},{first}")
            page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=90_000)
            views[path] = page
        assert s.get_run(rid).status == "running" and s.snapshots(rid)[-1].epoch < EPOCHS
        # on the map, pick the finished run and then the training one again through the picker
        # (a choice made there survives the run's end: the URL keeps the run's id, not its label)
        emap = views["embedding_map"]
        emap.bring_to_front()  # a background tab runs its timers late
        for rec in (s.get_run(first), s.get_run(rid)):
            box = emap.locator(".st-key-map_run input")
            box.click()
            box.fill(rec.id[-6:])  # the picker filters its options by what is typed
            emap.get_by_role("option").filter(has_text=rec.id[-6:]).first.click()
            wait_for(lambda rec=rec: f"runs={rec.id}" in address(emap), 30, every=0.3, what="the pick in the URL")
        sidebar = views["collapse"].get_by_test_id("stSidebar")
        sidebar.get_by_text("3 runs · 1 running · 0 queued").wait_for(timeout=30_000)
        os.kill(worker, signal.SIGCONT)
        wait_for(lambda: s.get_run(rid).status == "finished", 240, every=0.5, what="the run to finish")
        last = f"epoch {EPOCHS}"

        def shows(path: str, selector: str, pattern: str) -> bool:
            return any(re.search(pattern, t) for t in _plot_texts(views[path], selector))

        checks = {
            # the path's points are labelled by epoch
            "alignment_uniformity": (".scatterlayer .textpoint", rf"^{EPOCHS}$"),
            # the legend names the epoch of each spectrum
            "collapse": (".legendtext", rf"live run \({last}\)"),
            # the map's title names the epoch
            "embedding_map": (".gtitle", rf"{last}$"),
            # the panel titles name the epoch
            "compare": (".annotation-text", rf"{last}"),
        }
        t0 = time.monotonic()
        pending = dict(checks)
        while pending and time.monotonic() - t0 < 60:
            for path, (sel, pat) in list(pending.items()):
                if shows(path, sel, pat):
                    pending.pop(path)
            time.sleep(0.5)
        SHOTS.mkdir(exist_ok=True)
        for path, page in views.items():
            page.screenshot(path=str(SHOTS / f"live_{path}.png"))
        assert not pending, {p: _plot_texts(views[p], checks[p][0])[:20] for p in pending}
        assert f"runs={rid}" in address(emap) and "%C2%B7" not in address(emap)  # still the id, not a label
        # the sidebar's counts follow too, without a reload
        sidebar.get_by_text("3 runs · 0 running · 0 queued").wait_for(timeout=30_000)
        for page in views.values():
            assert_no_exception(page)
            assert_no_injection(page)
    finally:
        try:
            os.kill(worker, signal.SIGCONT)
        except ProcessLookupError:  # the worker has finished
            pass
        ctx.close()


def test_chosen_runs_follow_the_url_across_views_and_reloads(lab, page):
    s, url, first, other = lab

    def legend() -> list[str]:
        return page.locator(".legendtext").all_text_contents()

    def legend_is(pred, what: str) -> None:
        wait_for(lambda: pred(" ".join(legend())), 30, every=0.3, what=what)

    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{url}/alignment_uniformity?runs={first}")
    page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=60_000)
    wait_for(lambda: legend() == [HOSTILE_NAME], 30, every=0.3, what="the hostile name in the legend, as typed")
    assert_no_injection(page)
    # another view through the sidebar keeps the choice, and writes it back into the URL
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Dimensional Collapse", exact=True).click()
    page.get_by_role("heading", name="Dimensional Collapse").first.wait_for(timeout=30_000)
    page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=60_000)
    wait_for(lambda: f"runs={first}" in address(page), 15, what="the URL to hold the chosen run")
    legend_is(lambda t: HOSTILE_NAME in t and "other run" not in t, "the chosen run on Collapse")
    # a reload (a new session) opens the same runs
    page.reload()
    page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=60_000)
    legend_is(lambda t: HOSTILE_NAME in t and "other run" not in t, "the chosen run after a reload")
    # a link with another run (a bookmark) opens it, and the next view follows
    page.goto(f"{url}/embedding_map?runs={other}")
    page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=60_000)
    wait_for(lambda: "other run" in (page.locator(".gtitle").first.text_content() or ""), 30, every=0.3,
             what="the linked run on the map")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Alignment & Uniformity", exact=True).click()
    page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=60_000)
    wait_for(lambda: f"runs={other}" in address(page), 15, what="the URL to follow the map's run")
    wait_for(lambda: legend() == ["other run"], 30, every=0.3, what="the map's run on Alignment & Uniformity")
    assert_no_exception(page)
