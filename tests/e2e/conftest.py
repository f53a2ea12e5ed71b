"""End-to-end tier: the real app (Reflex AppHarness) driven by Debian's Chromium through pytest-playwright.

* The app runs against its own migrated and seeded SQLite file; the dev
  server is used unless ``PORTAL_E2E_PROD=1`` asks for the production build.
* Chromium is ``/usr/bin/chromium`` (``make test`` installs it); nothing is
  ever downloaded.
* Every test waits for hydration before acting (:func:`open_page`), gets a
  screenshot in ``test-results/`` when it fails (``--screenshot``), and fails
  when the app logged an error or the browser reported one while it ran.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Error, Page
from reflex.testing import AppHarness, AppHarnessProd

from portal.config import PROJECT_ROOT
from portal.services.demo import seed_demo
from tests.support.database import migrated, new_sqlite_url

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder as e2e, so `-m "not e2e"` leaves the browser out."""
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


class _ErrorRecords(logging.Handler):
    """Collects every ERROR the app logs while a test runs."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()[:2000]}")


_APP_ERRORS = _ErrorRecords()


@pytest.fixture(scope="session")
def portal_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppHarness]:
    """The running portal, on a fresh demo database, for the whole e2e session."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test`, which installs Debian's chromium package.")
    url = new_sqlite_url(tmp_path_factory.mktemp("e2e-db"))
    harness_class = AppHarnessProd if os.environ.get("PORTAL_E2E_PROD") == "1" else AppHarness
    with migrated(url):
        seed_demo()
        logging.getLogger().addHandler(_APP_ERRORS)
        harness = harness_class.create(root=PROJECT_ROOT, app_name="portal")
        try:
            with harness:
                yield harness
        finally:
            logging.getLogger().removeHandler(_APP_ERRORS)


@pytest.fixture(scope="session")
def base_url(portal_app: AppHarness) -> str:
    """Pages are opened relative to the app's frontend URL, on 127.0.0.1 like the backend (one cookie host)."""
    assert portal_app.frontend_url is not None
    return portal_app.frontend_url.rstrip("/").replace("://localhost:", "://127.0.0.1:")


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, object]:
    """Launch Debian's Chromium, headless, with the machine's closed network in mind."""
    return {"executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(autouse=True)
def no_errors_logged(page: Page) -> Iterator[None]:
    """Fail the test when the app logs an error or the page reports one while it runs."""
    _APP_ERRORS.records.clear()
    browser_errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            browser_errors.append(f"console: {message.text}")

    def on_page_error(error: Error) -> None:
        browser_errors.append(f"page error: {error.message}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    yield
    problems = _APP_ERRORS.records + browser_errors
    assert not problems, "errors while the test ran:\n" + "\n".join(problems)
