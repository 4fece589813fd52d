"""The Train page in a real browser (Debian chromium + Playwright), with runs that train while
the test watches: the queue of a group (running card and live chart first, queued runs after),
a sweep preset that launches the shared edits of the form, delete only after a confirmation,
and hostile run names and failure reasons shown as text. Saves screenshots."""

from __future__ import annotations

import os
import time

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
from tests.conftest import FAST, kill_store_processes, wait_for
from trainers.config import RunConfig

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One app server for the module on a store whose scheduler trains one run at a time."""
    old = os.environ.get("LAB_CONCURRENCY")
    os.environ["LAB_CONCURRENCY"] = "1"  # inherited by the scheduler, whoever starts it
    servers = AppServers(tmp_path_factory.mktemp("train_store"))
    url = servers.start()
    s = stmod.Store(servers.store)
    SHOTS.mkdir(exist_ok=True)
    try:
        yield s, url
    finally:
        servers.stop_all()
        kill_store_processes(s)
        if old is None:
            os.environ.pop("LAB_CONCURRENCY", None)
        else:
            os.environ["LAB_CONCURRENCY"] = old


def _stop_all(s: stmod.Store) -> None:
    """Cancel what is queued or running, and wait until nothing runs (the next test starts clean)."""
    for r in s.list_runs(status=stmod.ACTIVE):
        runner.cancel(s, r.id)
    wait_for(lambda: not s.list_runs(status=stmod.ACTIVE), 60, every=0.2, what="active runs to stop")


def _open(page, url: str) -> None:
    page.set_viewport_size({"width": 1400, "height": 1100})
    page.goto(url)
    page.get_by_role("heading", name="Train").first.wait_for(timeout=60_000)


def _click(page, key: str) -> None:
    """Click the button with widget key ``key`` (during a queue refresh its old copy may still be there)."""
    page.locator(f".st-key-{key} button").first.click()


def test_group_queue_shows_the_running_run_and_its_live_chart_before_the_queued_ones(lab, page):
    s, url = lab
    # run 1 trains for longer than the test watches (it is cancelled at the end), so it is running throughout
    configs = [RunConfig(**{**FAST, "epochs": 2000, "name": "group run 1"}),
               *[RunConfig(**{**FAST, "epochs": 2, "name": f"group run {i}"}) for i in (2, 3, 4)]]
    ids = runner.submit_group(s, configs)
    try:
        _open(page, url)
        main = page.get_by_test_id("stMain")
        wait_for(lambda: s.get_run(ids[0]).status == stmod.RUNNING, 60, what="run 1 to start")
        page.get_by_test_id("stProgress").first.wait_for(timeout=30_000)
        queued = page.locator(".st-key-train_queued_list")
        queued.get_by_text("3 queued", exact=True).wait_for(timeout=30_000)
        assert page.get_by_test_id("stProgress").count() == 1  # one card: the running run
        card = main.get_by_text("group run 1", exact=False).first
        assert card.bounding_box()["y"] < queued.bounding_box()["y"]  # running runs first, queued ones after
        # the live chart follows run 1 (running) and shows its loss curve as it grows
        page.locator(".gtitle", has_text="Loss · group run 1 · running").first.wait_for(state="attached", timeout=30_000)
        points = page.locator(".scatterlayer .trace .point")
        points.first.wait_for(state="attached", timeout=30_000)
        n0 = points.count()
        queued.locator("summary").click()
        for i in (2, 3, 4):
            queued.get_by_text(f"group run {i}", exact=False).wait_for(timeout=10_000)
        assert_no_exception(page)
        page.screenshot(path=str(SHOTS / "train_queue.png"))
        wait_for(lambda: points.count() > n0, 30, every=0.2, what="the chart to grow while run 1 trains")
    finally:
        _stop_all(s)


def test_sweep_preset_launches_the_shared_edits_of_the_form(lab, page):
    s, url = lab
    name = "Compare: NT-Xent vs DCL vs SupCon (digits)"
    _open(page, url)
    page.locator('.st-key-train_preset button[aria-label="Open"]').click()
    page.get_by_role("option", name=name).click()
    page.get_by_text("This preset launches 3 runs").wait_for(timeout=30_000)
    page.get_by_text("Loss, Temperature τ, Run name: set per run by the preset").wait_for(timeout=10_000)
    assert page.locator(".st-key-train_loss input").is_disabled()
    epochs = page.get_by_label("Epochs", exact=True)
    assert epochs.is_enabled()
    epochs.fill("2")
    epochs.press("Enter")
    page.get_by_label("Batch size", exact=True).fill("64")
    page.get_by_label("Batch size", exact=True).press("Enter")
    page.wait_for_timeout(800)
    table = page.get_by_test_id("stDataFrame").first
    table.wait_for(timeout=10_000)
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "train_sweep_form.png"))
    page.get_by_role("button", name="Train (3 runs)").click()
    notice = page.get_by_test_id("stAlertContentSuccess")
    notice.wait_for(timeout=30_000)
    assert "Queued 3 run(s)" in notice.inner_text()
    try:
        runs = sorted(wait_for(lambda: s.list_runs(group=None) if len(s.list_runs()) >= 3 else None, 10),
                      key=lambda r: r.created)[-3:]
        assert [r.config["loss"] for r in runs] == ["nt_xent", "dcl", "supcon"]
        assert {(r.config["epochs"], r.config["batch_size"]) for r in runs} == {(2, 64)}
        assert len({r.group for r in runs}) == 1 and runs[0].group.startswith(name)
        # the confirmation goes away by itself (the queue shows the runs from then on)
        notice.wait_for(state="detached", timeout=20_000)
        assert_no_exception(page)
    finally:
        _stop_all(s)


def test_delete_asks_first_keep_keeps_the_run_and_delete_removes_it(lab, page):
    s, url = lab
    rid = s.create_run(RunConfig(**{**FAST, "name": "delete me"}), status=stmod.QUEUED)
    s.update_run(rid, status=stmod.FINISHED, epoch=4, total_epochs=4, finished=time.time())
    _open(page, url)
    main = page.get_by_test_id("stMain")
    main.get_by_text("delete me", exact=False).first.wait_for(timeout=30_000)
    _click(page, f"train_delete_{rid}")
    ask = main.get_by_text("Delete run delete me", exact=False)
    ask.wait_for(timeout=10_000)
    page.wait_for_timeout(1200)  # let the queue refresh settle before the picture
    page.screenshot(path=str(SHOTS / "train_delete_confirm.png"))
    assert s.get_run(rid).status == stmod.FINISHED  # one click deleted nothing
    _click(page, f"train_delete_no_{rid}")
    ask.wait_for(state="detached", timeout=10_000)
    page.wait_for_timeout(1500)  # a few queue refreshes later the run is still there
    assert s.get_run(rid).status == stmod.FINISHED and main.get_by_text("delete me").count() >= 1
    _click(page, f"train_delete_{rid}")
    _click(page, f"train_delete_yes_{rid}")
    wait_for(lambda: rid not in [r.id for r in s.list_runs()], 10, what="the run to be deleted")
    main.get_by_text("delete me", exact=False).first.wait_for(state="detached", timeout=10_000)
    assert not s.run_dir(rid).exists()
    assert_no_exception(page)


def test_hostile_names_and_reasons_show_as_text(lab, page):
    s, url = lab
    failed = s.create_run(RunConfig(**{**FAST, "name": HOSTILE_NAME + " failed"}), status=stmod.QUEUED)
    s.update_run(failed, status=stmod.FAILED, finished=time.time(),
                 reason='worker said <b id="inj">boom</b><style>body{background:red}</style>')
    # trains for longer than the test watches (cancelled at the end): its card stays on the page
    rid = runner.submit(s, RunConfig(**{**FAST, "epochs": 2000, "name": HOSTILE_NAME}))
    try:
        _open(page, url)
        main = page.get_by_test_id("stMain")
        main.get_by_text(HOSTILE_NAME + " failed", exact=False).first.wait_for(timeout=30_000)  # recent runs
        main.get_by_text('worker said <b id="inj">boom</b>', exact=False).first.wait_for(timeout=10_000)
        wait_for(lambda: s.get_run(rid).status == stmod.RUNNING, 60, what="the run to start")
        main.get_by_test_id("stProgress").first.wait_for(timeout=30_000)  # its card, with the name as text
        assert main.get_by_text(HOSTILE_NAME, exact=False).count() >= 2
        assert_no_injection(page)
        page.screenshot(path=str(SHOTS / "train_hostile.png"))
        page.locator(".gtitle", has_text="Loss · " + HOSTILE_NAME).first.wait_for(state="attached", timeout=30_000)  # chart title as text
        assert_no_injection(page)
        assert_no_exception(page)
    finally:
        _stop_all(s)
