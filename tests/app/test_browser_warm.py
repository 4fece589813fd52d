"""The Train button in a real browser with the warm worker on (the app's default): a visit
starts the scheduler and its warm worker, and the run a click starts is trained by that
waiting process; the queue shows its first snapshot's metrics while it trains."""

from __future__ import annotations

import re
import time

import pytest

from jobs import runner
from jobs import store as stmod
from tests.app.browser import SHOTS, assert_no_exception, needs_chromium, start_server, stop_server
from tests.conftest import kill_store_processes, wait_for

pytestmark = needs_chromium


def _ready(s: stmod.Store) -> list[int]:
    log = s.root / "warm_worker.log"
    return [int(p) for p in re.findall(r"warm worker (\d+) ready", log.read_text())] if log.exists() else []


@pytest.fixture
def warm_lab(tmp_path):
    root = tmp_path / "store"
    proc, url = start_server(root, env={"LAB_WARM": "1", "LAB_SCHEDULER_IDLE": "120"})
    s = stmod.Store(root)
    try:
        yield s, url
    finally:
        stop_server(proc)
        kill_store_processes(s)


def test_a_visit_readies_a_warm_worker_and_train_hands_it_the_run(warm_lab, page):
    s, url = warm_lab
    page.set_viewport_size({"width": 1400, "height": 1100})
    page.goto(url)
    page.get_by_role("heading", name="Train").first.wait_for(timeout=60_000)
    wait_for(lambda: _ready(s), 120, what="the visit to start a scheduler with a warm worker")
    waiting = _ready(s)[0]
    page.get_by_label("Epochs", exact=True).fill("400")
    page.get_by_label("Epochs", exact=True).press("Enter")
    page.wait_for_timeout(500)
    t0 = time.monotonic()
    page.get_by_role("button", name=re.compile(r"Train$")).first.click()
    rid = wait_for(lambda: next((r.id for r in s.list_runs()), None), 30, every=0.05, what="the run")
    wait_for(lambda: s.snapshots(rid), 60, every=0.05, what="the first snapshot")
    print(f"Train click -> first snapshot in the store: {time.monotonic() - t0:.2f} s")
    rec = s.get_run(rid)
    assert rec.pid == waiting and rec.backend == "local"  # the process that was waiting trains it
    assert f"worker {waiting} starting run {rid}" in s.log_path(rid).read_text()
    # the queue card shows the run training, with the epoch it has reached
    page.get_by_test_id("stProgress").first.wait_for(timeout=30_000)
    card = page.get_by_test_id("stMain")
    wait_for(lambda: re.search(r"epoch [1-9]\d*/400", card.inner_text()), 60,
             what="the card to show the run's epoch")
    page.screenshot(path=str(SHOTS / "train_warm_worker.png"))
    assert_no_exception(page)
    runner.cancel(s, rid)
    wait_for(lambda: s.get_run(rid).status == stmod.CANCELLED, 60, what="the cancel")
    wait_for(lambda: len(_ready(s)) >= 2, 120, what="a new warm worker")
