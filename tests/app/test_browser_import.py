"""Real browser: the Import page. Upload embeddings and a labels file, pick the options, import,
follow the link to the Embedding Map of the new run; a malformed file gets the importer's
message; a file named with HTML is shown as text. Saves screenshots of the preview, the
success and the error."""

from __future__ import annotations

import io
import re

import numpy as np
from playwright.sync_api import expect

from jobs import store as stmod
from tests.app.browser import (
    SHOTS,
    assert_no_exception,
    assert_no_injection,
    goto_page,
    needs_chromium,
)
from ui.importing import DROP_LABEL

pytestmark = needs_chromium

HTML_NAME = '<b id="inj">x</b>.npy'
IMPORT_TIMEOUT = 180_000  # ms: a child process that loads torch and scikit-learn on a busy machine


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def clusters(n_per: int = 30, dim: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, dim)) * 6
    x = np.concatenate([c + rng.normal(size=(n_per, dim)) for c in centres]).astype(np.float32)
    return x, np.repeat(np.array(["setosa", "versicolor", "virginica"]), n_per)


def upload(page, role: str, name: str, data: bytes) -> None:
    """Put a file into the page's uploader of ``role`` (embeddings, labels, view2)."""
    page.locator(f'[class*="st-key-import_{role}_"]').get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": name, "mimeType": "application/octet-stream", "buffer": data}])


def pick(page, key: str, option: str) -> None:
    page.locator(f'.st-key-{key} button[aria-label="Open"]').click()
    page.get_by_role("option", name=option, exact=True).click()


def test_import_a_file_and_open_its_map(app_server, page):
    url = app_server.start()
    s = stmod.Store(app_server.store)
    x, species = clusters()
    x[[5, 40]] = np.nan  # two rows the import refuses until they are dropped
    labels = ("species\n" + "\n".join(species) + "\n").encode()
    page.set_viewport_size({"width": 1280, "height": 1500})
    goto_page(page, url, "Import")
    main = page.get_by_test_id("stMain")
    main.get_by_text("What can I import?").wait_for(timeout=30_000)
    main.get_by_text("from jobs.importer import log_embeddings").wait_for(timeout=30_000)  # open before an upload
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "import_start.png"))

    upload(page, "embeddings", "emb.npy", npy_bytes(x))
    main.get_by_role("heading", name="Preview of emb.npy").wait_for(timeout=60_000)
    upload(page, "labels", "labels.csv", labels)
    main.get_by_text("labels file labels.csv: 90 rows").wait_for(timeout=30_000)
    error = page.get_by_test_id("stAlertContentError")
    error.wait_for(timeout=30_000)
    assert re.search(r"emb\.npy: 2 rows \(5, 40\) hold NaN or infinite values", error.inner_text())
    assert page.get_by_role("button", name="Import").is_disabled()

    pick(page, "import_label", "species")
    name = page.get_by_label("Run name")
    name.fill("three clusters")
    name.press("Enter")
    main.get_by_test_id("stCheckbox").get_by_text(DROP_LABEL).click()
    ready = main.get_by_text("Ready to import 88 rows × 8 dimensions with 3 classes (setosa, versicolor, virginica)")
    ready.wait_for(timeout=30_000)
    assert error.count() == 0
    assert_no_exception(page)
    page.get_by_role("heading", name="Import").first.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "import_preview.png"))

    page.get_by_role("button", name="Import").click()
    success = page.get_by_test_id("stAlertContentSuccess")
    success.wait_for(timeout=IMPORT_TIMEOUT)
    run = next(r for r in s.list_runs() if r.name == "three clusters")
    assert run.kind == "imported" and run.status == stmod.IMPORTED
    text = success.inner_text()
    assert f"Imported emb.npy as the run three clusters ({run.id}): 88 rows × 8 dimensions, 3 classes" in text
    metrics = main.get_by_test_id("stMetric")
    expect(metrics.filter(has_text="kNN accuracy")).to_contain_text("100.0%", timeout=30_000)
    expect(metrics.filter(has_text="Uniformity")).to_contain_text(f"{run.metrics['uniformity']:.3f}")
    # the uploaders are empty for the next file, and the upload folder is gone
    expect(main.get_by_role("heading", name="Preview of emb.npy")).to_have_count(0)
    assert list((app_server.store / "uploads").iterdir()) == []
    assert_no_exception(page)
    page.get_by_role("heading", name="Import").first.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "import_success.png"))

    main.get_by_role("link", name="Embedding Map").click()
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.wait_for(timeout=60_000)
    title = chart.locator(".gtitle")
    title.wait_for(timeout=30_000)
    assert "three clusters" in title.text_content() and "epoch 0" in title.text_content()
    points = chart.locator(".scatterlayer .point")
    points.first.wait_for(state="attached", timeout=30_000)
    assert points.count() == 88  # every imported row, none of the dropped ones
    assert_no_exception(page)


def test_a_malformed_file_gets_its_message_and_a_name_with_html_stays_text(app_server, page):
    url = app_server.start()
    s = stmod.Store(app_server.store)
    page.set_viewport_size({"width": 1280, "height": 1300})
    goto_page(page, url, "Import")
    main = page.get_by_test_id("stMain")

    upload(page, "embeddings", "broken.npy", b"these bytes are not an array")
    error = page.get_by_test_id("stAlertContentError")
    error.wait_for(timeout=60_000)
    assert "broken.npy is not an .npy file (it does not start with numpy's header" in error.inner_text()
    assert page.get_by_role("button", name="Import").count() == 0
    assert s.list_runs() == []
    assert_no_exception(page)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "import_error.png"))

    # the uploader stays usable: a good file (named with HTML) replaces the broken one
    x, _ = clusters(n_per=10, dim=4)
    upload(page, "embeddings", HTML_NAME, npy_bytes(x))
    main.get_by_role("heading", name=f"Preview of {HTML_NAME}").wait_for(timeout=60_000)
    assert error.count() == 0
    expect(page.get_by_label("Run name")).to_have_value('<b id="inj">x</b>')  # the file's name, as text
    assert_no_injection(page)
    page.get_by_role("button", name="Import").click()
    success = page.get_by_test_id("stAlertContentSuccess")
    success.wait_for(timeout=IMPORT_TIMEOUT)
    run = s.list_runs()[0]
    assert f'Imported {HTML_NAME} as the run <b id="inj">x</b> ({run.id}): 30 rows × 4 dimensions' in success.inner_text()
    assert_no_injection(page)
    main.get_by_role("link", name="Embedding Map").click()
    title = page.get_by_test_id("stPlotlyChart").first.locator(".gtitle")
    title.wait_for(timeout=60_000)
    assert '<b id="inj">x</b>' in title.text_content()
    assert_no_injection(page)
    assert_no_exception(page)
