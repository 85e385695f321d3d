"""Browser tests: the real application served by werkzeug in a thread, driven by Playwright
with Debian's Chromium (/usr/bin/chromium). A screenshot is saved to test-artifacts/ on failure.

Browser journeys run on SQLite only: they test the pages; the services below them are
tested on both backends in their own suites.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import TEST_PASSPHRASE, TEST_SECRET, make_database_url, missing

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


class LiveServer:
    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        from werkzeug.serving import make_server

        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join()


@pytest.fixture
def live_settings(request, tmp_path):  # type: ignore[no-untyped-def]
    from core.config import load_settings

    instance = tmp_path / "instance"
    instance.mkdir()
    return load_settings({"instance_path": str(instance), "database_url": make_database_url("sqlite", request, tmp_path),
                          "secret_key": TEST_SECRET, "server_key_passphrase": TEST_PASSPHRASE}, environ={})


@pytest.fixture
def live_db(live_settings):  # type: ignore[no-untyped-def]
    from store.db import Database

    database = Database(live_settings.database_url)
    yield database
    database.dispose()


@pytest.fixture
def live_server(live_settings, runtime) -> Iterator[LiveServer]:
    """The application served in a thread, on this test's engine runtime with the process
    library's parts (a test registers its own gates on `runtime` before it uses them)."""
    from app import create_app
    from bpmn.glue import extend
    from signatures import kdf

    app = create_app({"instance_path": live_settings.instance_path, "database_url": live_settings.database_url,
                      "secret_key": TEST_SECRET, "server_key_passphrase": TEST_PASSPHRASE}, runtime=extend(runtime))
    with kdf.unsafe_fast_kdf(), LiveServer(app) as server:
        yield server
    app.extensions["gmp.db"].dispose()


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    if not os.path.exists(CHROMIUM):
        missing("chromium (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, request):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-GB")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    failed = any(getattr(request.node, f"rep_{when}", None) is not None and getattr(request.node, f"rep_{when}").failed
                 for when in ("setup", "call"))
    if failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.nodeid)
        tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    context.close()


def no_horizontal_scroll(page) -> bool:  # type: ignore[no-untyped-def]
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))
