"""Real browser: the Embedding Map follows a run while it trains, and a click on a digit
opens its panel (index, label, the 8x8 image). Saves screenshots before and after the click."""

from __future__ import annotations

import re

import numpy as np

from jobs import store as stmod
from tests.app.browser import (
    HOSTILE_NAME,
    SHOTS,
    assert_no_exception,
    assert_no_injection,
    goto_page,
    needs_chromium,
    train_in_background,
)
from tests.conftest import wait_for

pytestmark = needs_chromium

EPOCHS = 4


def test_click_a_digit_on_the_map_of_a_live_run(app_server, page):
    url = app_server.start()
    s = stmod.Store(app_server.store)
    rid = train_in_background(app_server.store, epochs=EPOCHS, name=HOSTILE_NAME)
    wait_for(lambda: s.snapshots(rid), timeout=120, what="the run's first snapshot")
    page.set_viewport_size({"width": 1280, "height": 1800})  # the map and the panel in one screenshot
    goto_page(page, url, "Embedding Map")
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.wait_for(timeout=60_000)

    # the run finishes while the page is open: the map moves on to the last epoch by itself
    wait_for(lambda: s.get_run(rid).status == stmod.FINISHED, timeout=180, what="the run to finish")
    title = chart.locator(".gtitle")
    wait_for(lambda: f"epoch {EPOCHS}" in (title.text_content() or ""), timeout=60, what=f"the map of epoch {EPOCHS}")
    assert (title.text_content() or "").startswith("PCA")  # no UMAP in this store: PCA, said on the page
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "map_before_click.png"))

    # the sample behind the 6th point of the first trace (class 0, training split)
    arr = s.load_snapshot(rid, EPOCHS)
    first = np.flatnonzero((arr["y"] == 0) & ~arr["is_test"])
    sample = int(arr["index"][first[5]])
    chart.locator(".scatterlayer .trace").first.locator(".point").nth(5).click(force=True)

    panel = page.locator(".st-key-map_sample")
    panel.wait_for(timeout=60_000)
    # the panel is drawn element by element: wait for its last line before reading it
    panel.get_by_text(f"Sample {sample} as the encoder sees it").wait_for(timeout=30_000)
    text = panel.inner_text()
    assert re.search(rf"Selected sample {sample}\s*·\s*label 0\s*·\s*training split", text), text
    assert f"epoch {EPOCHS}" in text
    assert panel.get_by_test_id("stPlotlyChart").count() == 1  # the digit's 8x8 image
    assert f"Sample {sample} as the encoder sees it" in text
    # the map rings the clicked sample
    ring = chart.locator(".scatterlayer .trace").last.locator(".point")
    wait_for(lambda: ring.count() == 1, timeout=30, what="the ring around the selected sample")
    assert_no_exception(page)
    assert_no_injection(page)
    panel.get_by_role("button", name="Clear selection").wait_for(timeout=30_000)
    page.screenshot(path=str(SHOTS / "map_after_click.png"))



def test_colour_the_map_of_a_live_shapes_run_by_colour_and_click_an_rgb_sample(app_server, page):
    from html import escape

    url = app_server.start()
    s = stmod.Store(app_server.store)
    shapes = dict(dataset="shapes", encoder="cnn_rgb", n_samples=1200, batch_size=64, hidden_dim=32, rep_dim=16,
                  proj_dim=8, aug_grayscale=0.0, aug_colour=0.0)
    rid = train_in_background(app_server.store, **shapes, epochs=16, name=HOSTILE_NAME)
    wait_for(lambda: s.snapshots(rid), timeout=120, what="the run's first snapshot")
    page.set_viewport_size({"width": 1280, "height": 1800})
    page.goto(f"{url}/embedding_map?runs={rid}")
    page.get_by_role("heading", name="Embedding Map").first.wait_for(timeout=60_000)
    page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=60_000)
    assert s.get_run(rid).status in (stmod.QUEUED, stmod.RUNNING)  # the map is open while the run trains
    page.locator(".st-key-map_method").get_by_text("PCA", exact=True).click()

    # colour by the shapes' colour factor: one legend entry per hue class, titled "colour"
    page.locator(".st-key-map_colour").click()
    page.get_by_role("option", name="colour", exact=True).click()
    chart = page.locator(".st-key-map_chart")
    legend = chart.locator(".legendtitletext").last
    wait_for(lambda: (legend.text_content() or "") == "colour", timeout=60, what="the legend of the colour factor")

    wait_for(lambda: s.get_run(rid).status == stmod.FINISHED, timeout=240, what="the run to finish")
    title = chart.locator(".gtitle").last
    wait_for(lambda: "epoch 16" in (title.text_content() or ""), timeout=120, what="the map of epoch 16")
    arr = s.load_snapshot(rid, 16)
    factor = arr["factor_colour"]
    shown = chart.locator(".js-plotly-plot").last.evaluate(
        "d => d._fullData.map(t => ({name: t.name, colour: t.marker.color, "
        "index: Array.from(t.customdata || [], r => Number(r[0]))}))")
    named = [t for t in shown if t["name"].startswith("colour ")]
    assert {t["name"].split(" (")[0] for t in named} == {f"colour {c}" for c in np.unique(factor)}
    for t in named:
        value = int(t["name"].split()[1])
        rows = np.array([np.flatnonzero(arr["index"] == i)[0] for i in t["index"]])
        assert (factor[rows] == value).all()  # the points of "colour k" are the samples of hue k
    assert len({t["colour"] for t in named}) == len(np.unique(factor))
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "map_shapes_by_colour.png"))

    # a click on a point opens the sample as its 20x20 RGB image
    chart.locator(".scatterlayer .trace").first.locator(".point").nth(3).click(force=True)
    panel = page.locator(".st-key-map_sample")
    panel.get_by_text("as the encoder sees it").wait_for(timeout=60_000)
    sample = int(re.search(r"Selected sample (\d+)", panel.inner_text()).group(1))
    # a sample of the map (the click lands on the topmost point under the cursor, of whichever trace)
    assert any(sample in t["index"] for t in named)
    panel.get_by_text(f"Sample {sample} as the encoder sees it (20×20 RGB pixels).").wait_for(timeout=30_000)
    image = panel.locator(".js-plotly-plot").last.evaluate("d => d._fullData[0].type")
    assert image == "image"
    assert_no_exception(page)
    assert_no_injection(page)
    assert escape(HOSTILE_NAME, quote=False) not in (page.title() or "")
    page.screenshot(path=str(SHOTS / "map_shapes_rgb_sample.png"))
