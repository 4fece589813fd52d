"""Runs over seeds in a real browser (Debian chromium + Playwright): the Train page's Seeds field
launches a two-seed group (with a hostile run name) that the test watches train; Compare opens
the group and shows mean ± sd with error bars and a band once both runs finish; the Runs page
shows its table over seeds. Names stay text everywhere. Saves screenshots."""

from __future__ import annotations

import re

import pytest

from jobs import runner
from jobs import store as stmod
from tests.app.browser import (
    HOSTILE_NAME,
    SHOTS,
    AppServers,
    assert_no_exception,
    assert_no_injection,
    needs_chromium,
)
from tests.conftest import kill_store_processes, wait_for

pytestmark = needs_chromium


@pytest.fixture
def lab(tmp_path):
    servers = AppServers(tmp_path / "store")
    url = servers.start()
    s = stmod.Store(servers.store)
    SHOTS.mkdir(exist_ok=True)
    try:
        yield s, url
    finally:
        for r in s.list_runs(status=stmod.ACTIVE):
            runner.cancel(s, r.id)
        servers.stop_all()
        kill_store_processes(s)


def _fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")


def _nav(page, title: str) -> None:
    """Follow a sidebar link in the same session (what the session holds, such as the group a launch
    hands to Compare, goes with it)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click(timeout=60_000)
    page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)


def test_seeds_launch_a_group_and_compare_shows_error_bars(lab, page):
    s, url = lab
    page.set_viewport_size({"width": 1400, "height": 1100})
    page.goto(url)
    page.get_by_role("heading", name="Train").first.wait_for(timeout=60_000)
    _fill(page, "Epochs", "60")
    _fill(page, "Run name (optional)", HOSTILE_NAME)
    # a bad list first: a message under the field, and the button counts one run
    _fill(page, "Seeds (repeat over)", "1,1")
    page.get_by_text("seed 1 is given twice", exact=False).first.wait_for(timeout=30_000)
    page.get_by_role("button", name=re.compile(r"Train$")).wait_for(timeout=10_000)
    _fill(page, "Seeds (repeat over)", "0,1")
    page.get_by_text("2 seeds", exact=False).first.wait_for(timeout=30_000)
    assert page.locator(".st-key-train_seed input").is_disabled()  # the Seeds field sets the seed
    page.get_by_role("button", name="Train (2 runs)").click()
    notice = page.get_by_test_id("stAlertContentSuccess")
    notice.wait_for(timeout=30_000)
    assert "Queued 2 run(s)" in notice.inner_text()
    runs = wait_for(lambda: s.list_runs() if len(s.list_runs()) == 2 else None, 10, what="two runs")
    assert sorted(r.config["seed"] for r in runs) == [0, 1] and len({r.group for r in runs}) == 1
    assert {r.name for r in runs} == {f"{HOSTILE_NAME} · seed {k}" for k in (0, 1)}
    # watch them train
    wait_for(lambda: any(r.status == stmod.RUNNING for r in s.list_runs()), 60, what="a run to start")
    page.get_by_test_id("stProgress").first.wait_for(timeout=30_000)
    assert_no_injection(page)
    page.screenshot(path=str(SHOTS / "train_seeds.png"))

    # Compare opens the group that the launch handed over, while the runs still train
    _nav(page, "Compare")
    main = page.get_by_test_id("stMain")
    main.get_by_role("heading", name="Over seeds").wait_for(timeout=60_000)
    assert not all(r.status == stmod.FINISHED for r in s.list_runs())  # it opened before they finished
    wait_for(lambda: all(r.status == stmod.FINISHED for r in s.list_runs()), 240, every=0.5,
             what="both seeds to finish")
    # the page follows the runs to their last epoch: two seeds of one configuration -> visible error bars
    bars = page.locator(".st-key-cmp_seed_bars")
    bars.locator(".gtitle", has_text="mean ± sd").first.wait_for(state="attached", timeout=60_000)
    page.locator(".st-key-cmp_epoch").get_by_text("60", exact=True).first.wait_for(timeout=60_000)
    wait_for(lambda: bars.locator("path.yerror").count() >= 5, 30, every=0.5, what="error bars on every metric")
    main.get_by_text("1 configuration(s)", exact=False).wait_for(timeout=10_000)
    assert main.get_by_text("mean ± sd", exact=False).count() >= 1
    band = page.locator(".st-key-cmp_seed_band")
    band.locator(".gtitle", has_text="mean ± sd over seeds").first.wait_for(state="attached", timeout=30_000)
    assert band.locator(".scatterlayer .trace").count() >= 2  # the band and the mean line
    bars.scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    assert_no_injection(page)
    assert_no_exception(page)
    page.screenshot(path=str(SHOTS / "compare_seeds.png"))
    # choose another metric for the band: the chart follows
    page.locator('.st-key-cmp_seed_metric button[aria-label="Open"]').click()
    page.get_by_role("option", name="alignment", exact=True).click()
    band.locator(".gtitle", has_text="alignment over epochs").first.wait_for(state="attached", timeout=30_000)
    band.scroll_into_view_if_needed()
    page.wait_for_timeout(600)
    page.screenshot(path=str(SHOTS / "compare_seeds_band.png"))
    assert_no_injection(page)

    # the Runs page: the table over seeds
    _nav(page, "Runs")
    heading = main.get_by_role("heading", name="Over seeds")
    heading.wait_for(timeout=60_000)
    # the runs' table and, under its heading, the table over seeds (and the chosen run's metrics)
    wait_for(lambda: page.evaluate("location.href").split("?")[0].endswith("/runs"), 30, what="the Runs page")
    wait_for(lambda: main.get_by_test_id("stDataFrame").count() >= 2, 30, what="the tables of the Runs page")
    heading.scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    assert_no_injection(page)
    assert_no_exception(page)
    page.screenshot(path=str(SHOTS / "runs_seeds.png"))
