"""Fixtures of the page tests: an app server on a temporary store (real-browser tests)."""

from __future__ import annotations

import pytest

from tests.app.browser import AppServers
from tests.conftest import kill_store_processes


@pytest.fixture
def app_server(tmp_path):
    """``app_server.start()`` serves the app on ``app_server.store`` (UMAP on); every server,
    worker and scheduler of that store is stopped at teardown."""
    servers = AppServers(tmp_path / "store", umap=True)
    yield servers
    servers.stop_all()
    from jobs.store import Store

    kill_store_processes(Store(servers.store))
