"""Browser tests: the real application on the production server (gunicorn, two worker
processes, started as `python -m tests.browser.server`), driven by Playwright with Debian's
Chromium (/usr/bin/chromium). A screenshot is saved to test-artifacts/ on failure.

The test process and the server share the database, the instance folder and the clock
(a frozen clock kept in a file: `frozen_clock` here is a tests.support.shared_clock.SharedClock).

Browser journeys run on SQLite only: they test the pages; the services below them are
tested on both backends in their own suites.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
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
    """`gmp serve`'s server in a child process; the test waits until it answers /healthz."""

    def __init__(self, settings, clock_file: Path, runtime_hook: str | None = None) -> None:  # type: ignore[no-untyped-def]
        from connectors.simulator.plant import free_port

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("GMP_")}
        self.log = Path(settings.instance_path) / "server.log"
        self.args = [sys.executable, "-m", "tests.browser.server", settings.instance_path, settings.database_url,
                     str(port), str(clock_file), *([runtime_hook] if runtime_hook else [])]
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "LiveServer":
        root = Path(__file__).resolve().parents[2]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(self.args, cwd=root, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:  # wait on the condition "the server answers", not a fixed time
            if self.process.poll() is not None:
                raise RuntimeError(f"the web server stopped at start:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"the web server did not answer within 60 s:\n{self.log.read_text()}")
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


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
def frozen_clock(live_settings):  # type: ignore[no-untyped-def]
    """The test's frozen clock, shared with the server process through a file."""
    from core import clock
    from tests.support.shared_clock import SharedClock

    shared = SharedClock(Path(live_settings.instance_path) / "test-clock")
    clock.set_clock(shared)
    try:
        yield shared
    finally:
        clock.set_clock(None)


@pytest.fixture
def runtime_hook() -> str | None:
    """"module:function" adding a test's own parts (a gate...) to the server's engine runtime;
    a test module overrides this fixture to use one (the server runs in another process)."""
    return None


@pytest.fixture
def live_server(live_settings, frozen_clock, runtime_hook) -> Iterator[LiveServer]:
    with LiveServer(live_settings, frozen_clock.path, runtime_hook) as server:
        yield server


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    if not os.path.exists(CHROMIUM):
        missing("chromium (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # a generous launch deadline: parallel test workers on a small machine start several at once
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS,
                                              timeout=120_000)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, request, oq_evidence):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-GB")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    failed = any(getattr(request.node, f"rep_{when}", None) is not None and getattr(request.node, f"rep_{when}").failed
                 for when in ("setup", "call"))
    if oq_evidence.active and not tab.is_closed():  # OQ evidence: the page as the journey left it
        oq_evidence.screenshot(tab, "final page of the journey")
    if failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.nodeid)
        tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    context.close()


def no_horizontal_scroll(page) -> bool:  # type: ignore[no-untyped-def]
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))
