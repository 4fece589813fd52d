"""The Learn section in a real browser: the playground's Play sends an animation whose frames
advance in the browser (Plotly's own play button, no server round trip per frame) and stop on
Pause; lesson 2 takes an answer, runs, and compares it with the run. A store holding a run
with a hostile name shows nothing of it as HTML. Screenshots of the playground in 3-D and
2-D and of two lessons go to screenshots/."""

from __future__ import annotations

import re
import time

from jobs import store as stmod
from tests.app.browser import (
    HOSTILE_NAME,
    SHOTS,
    assert_no_exception,
    assert_no_injection,
    needs_chromium,
)
from tests.conftest import FAST
from trainers.config import RunConfig

pytestmark = needs_chromium

GRAPH = "document.querySelector('[data-testid=stPlotlyChart] .js-plotly-plot')"
READY = f"""() => {{ const g = {GRAPH};
    return !!(g && g._fullLayout && g._fullLayout.sliders && g._fullLayout.sliders.length
              && g._transitionData && g._transitionData._frames.length > 0); }}"""
STATE = f"""() => {{ const g = {GRAPH};
    const i = g.data.findIndex(t => t.name === 'class 0' && (t.type === 'scatter3d' || !t.xaxis || t.xaxis !== 'x'));
    return {{active: g._fullLayout.sliders[0].active, frames: g._transitionData._frames.length,
             x: Array.from(g._fullData.find(t => t.index === i).x).slice(0, 10), three: g.data.some(t => t.type === 'scatter3d')}}; }}"""


def goto_page(page, url: str, title: str) -> None:
    """Open ``url`` and follow the sidebar link ``title``, unfolding the sidebar's "View N more"
    first when the link sits beyond the pages it shows; wait for the page's title."""
    page.goto(url)
    nav = page.get_by_test_id("stSidebarNav")
    nav.wait_for(timeout=60_000)
    nav.get_by_role("link", name="Train", exact=True).wait_for(timeout=60_000)  # the router's navigation is drawn
    link = nav.get_by_role("link", name=title)
    more = page.get_by_test_id("stSidebarNavViewButton")
    if link.count() == 0 and more.count() and "more" in more.inner_text():
        more.click()
    link.click(timeout=60_000)
    page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)


def plotly_button(page, label: str) -> None:
    page.locator(".updatemenu-button", has_text=label).first.click()


def play_to_the_end(page, timeout: float = 60.0) -> dict:
    """Press the figure's own ▶ Play and wait for the last frame."""
    plotly_button(page, "Play")
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        s = page.evaluate(STATE)
        if s["active"] == s["frames"] - 1:
            return s
        time.sleep(0.25)
    raise AssertionError(f"the animation did not reach its last frame in {timeout:.0f} s: {page.evaluate(STATE)}")


def test_playground_animates_in_the_browser_and_lesson_2_compares_the_prediction(app_server, browser):
    stmod.Store(app_server.store).create_run(RunConfig(**{**FAST, "name": HOSTILE_NAME}), status=stmod.CANCELLED)
    url = app_server.start()
    SHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    goto_page(page, url, "Sphere Playground")
    assert_no_injection(page)

    t0 = time.monotonic()
    page.get_by_role("button", name=re.compile(r"Play$")).click()
    page.wait_for_function(READY, timeout=120_000)
    first_play = time.monotonic() - t0  # press to figure drawn: starts the simulation process, then simulates
    caption = page.get_by_text(re.compile(r"^computed in [0-9.]+ s")).inner_text()
    start = page.evaluate(STATE)
    assert start["three"] and start["active"] == 0 and start["frames"] == 101 and len(start["x"]) == 10

    # Plotly's play button moves the slider and the points, in the browser alone
    plotly_button(page, "Play")
    page.wait_for_timeout(2500)
    plotly_button(page, "Pause")
    paused = page.evaluate(STATE)
    assert 0 < paused["active"] < paused["frames"]
    assert paused["x"] != start["x"]
    page.wait_for_timeout(1000)
    assert page.evaluate(STATE)["active"] == paused["active"]  # paused: it stays
    end = play_to_the_end(page)
    assert end["x"] != paused["x"]
    page.get_by_test_id("stPlotlyChart").first.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "learn_playground_3d.png"))

    # 2-D with positive pairs: Play replaces the figure
    page.get_by_text("2 (circle)").click()
    page.get_by_text("Draw positive pairs as segments").click()
    t0 = time.monotonic()
    page.get_by_role("button", name=re.compile(r"Play$")).click()
    page.wait_for_function(f"() => {{ const g = {GRAPH}; return g && g.data && !g.data.some(t => t.type === 'scatter3d')"
                           " && g.data.some(t => (t.name || '').startsWith('positive pairs')); }", timeout=120_000)
    page.wait_for_function(READY, timeout=60_000)
    warm_play = time.monotonic() - t0  # the simulation process is warm now
    warm_caption = page.get_by_text(re.compile(r"^computed in [0-9.]+ s")).inner_text()
    play_to_the_end(page)
    page.get_by_test_id("stPlotlyChart").first.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "learn_playground_2d.png"))
    assert_no_exception(page)
    print(f"\nPlay to figure in the browser: first {first_play:.1f} s (starts the process), then {warm_play:.1f} s; "
          f"the page says: {caption} | {warm_caption}")

    # lesson 2: answer, run, compare
    goto_page(page, url, "Lesson 2 · Temperature")
    assert_no_injection(page)
    run = page.get_by_role("button", name=re.compile(r"Run it$"))
    assert run.is_disabled()  # predict first
    page.get_by_text("It falls: the points spread more evenly").click()
    run.click()
    verdict = page.get_by_text(re.compile(r"^You predicted “It falls: the points spread more evenly”; the run shows"))
    verdict.wait_for(timeout=120_000)
    text = verdict.inner_text()
    assert re.search(r"from -?[0-9.]+ at τ = 2 to -?[0-9.]+ at τ = 0\.05", text), text
    page.wait_for_function(READY, timeout=60_000)
    play_to_the_end(page)
    page.set_viewport_size({"width": 1500, "height": 2300})
    page.get_by_role("heading", name="Lesson 2 · Temperature").scroll_into_view_if_needed()
    page.get_by_test_id("stPlotlyChart").first.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "learn_lesson_2.png"))
    assert_no_exception(page)

    # lesson 1, as a student sees it after a wrong guess
    page.set_viewport_size({"width": 1500, "height": 1100})
    goto_page(page, url, "Lesson 1 · Alignment and uniformity")
    page.get_by_text("They spread out evenly over the sphere").click()
    page.get_by_role("button", name=re.compile(r"Run it$")).click()
    page.get_by_text(re.compile(r"^You predicted “They spread out evenly over the sphere”")).wait_for(timeout=120_000)
    page.wait_for_function(READY, timeout=60_000)
    play_to_the_end(page)
    page.set_viewport_size({"width": 1500, "height": 2300})
    page.get_by_test_id("stPlotlyChart").first.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "learn_lesson_1.png"))
    assert_no_injection(page)
    assert_no_exception(page)


def test_lesson_4_takes_an_answer_runs_and_explains_the_coupling(app_server, browser):
    stmod.Store(app_server.store).create_run(RunConfig(**{**FAST, "name": HOSTILE_NAME}), status=stmod.CANCELLED)
    url = app_server.start()
    SHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    goto_page(page, url, "Lesson 4 · Hard negatives and batch size")
    assert_no_injection(page)
    run = page.get_by_role("button", name=re.compile(r"Run it$"))
    assert run.is_disabled()  # predict first
    assert page.get_by_text("What happened").count() == 0
    page.get_by_text("DCL: the positive no longer damps the gradient").click()
    run.click()
    verdict = page.get_by_text(re.compile(r"^You predicted “DCL: the positive no longer damps the gradient”; the run "
                                          r"shows a final uniformity of"))
    verdict.wait_for(timeout=120_000)
    assert re.search(r"of -?[0-9.]+ for DCL and -?[0-9.]+ for NT-Xent with batches of 8 points", verdict.inner_text())
    coupling = page.get_by_text(re.compile(r"^At the last step of NT-Xent with batches of 8 points"))
    assert re.search(r"takes on average [0-9.]+% of each anchor's denominator \(15 terms\)", coupling.inner_text())
    assert page.get_by_role("heading", name="What happened").count() == 1
    page.wait_for_function(READY, timeout=60_000)
    s = page.evaluate(STATE)
    assert s["frames"] == 101 and s["three"]
    page.set_viewport_size({"width": 1500, "height": 2600})
    page.get_by_test_id("stPlotlyChart").first.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "learn_lesson_4.png"))
    assert_no_injection(page)
    assert_no_exception(page)
