"""End-to-end tier: the real app (Reflex AppHarness) driven by Debian's Chromium through pytest-playwright.

* The app runs against its own migrated and seeded SQLite file; the dev
  server is used unless ``PORTAL_E2E_PROD=1`` asks for the production build.
  It offers sign-in through the local OpenID Connect provider
  (``tests/support/dev_idp``), which the :func:`oidc_provider` fixture starts.
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
from playwright.sync_api import Page
from reflex.config import get_config
from reflex.testing import AppHarness, AppHarnessProd

from portal.config import PROJECT_ROOT
from portal.services.demo import seed_demo
from tests.support.browser import CHROMIUM, watch_browser_errors
from tests.support.database import migrated, new_sqlite_url
from tests.support.oidc_provider import STAFF_GROUP, DevProvider, issuer_at, provider_settings, running_provider
from tests.support.postgres import free_port
from tests.support.settings import settings_env
from tests.support.stripe import running_fake_stripe, stripe_settings

E2E_OIDC_SETTINGS = {
    "OIDC_PROVIDER_NAME": "Dev IdP",
    "OIDC_SCOPES": "openid email profile groups",
    "OIDC_STAFF_GROUP": STAFF_GROUP,
    "OIDC_EMAIL_DOMAINS": "acme.test=acme",
}
CALLBACK_PATH = "/api/auth/oidc/callback"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder as e2e, so `-m "not e2e"` leaves the browser out, and run them last.

    Last, because the app they share runs in this process for the rest of the session, with its settings and
    Playwright's event loop: the other tiers must not run beside it.
    """
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


class _ErrorRecords(logging.Handler):
    """Collects every ERROR the app logs while a test runs."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()[:2000]}")


_APP_ERRORS = _ErrorRecords()


@pytest.fixture(scope="session")
def idp_port() -> int:
    """The loopback port of the OpenID Connect provider (chosen before the app starts, which must know it)."""
    return free_port()


def _browser_url(harness: AppHarness) -> str:
    """The app's frontend URL on 127.0.0.1, like the backend (one cookie host)."""
    assert harness.frontend_url is not None
    return harness.frontend_url.rstrip("/").replace("://localhost:", "://127.0.0.1:")


@pytest.fixture(scope="session")
def portal_app(tmp_path_factory: pytest.TempPathFactory, idp_port: int) -> Iterator[AppHarness]:
    """The running portal, on a fresh demo database, for the whole e2e session.

    It offers sign-in through the dev OpenID Connect provider (started by the
    :func:`oidc_provider` fixture for the tests that use it): ``alice`` is staff,
    addresses at ``acme.test`` join Acme AI. Links in the mail it logs point at
    its frontend.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test`, which installs Debian's chromium package.")
    url = new_sqlite_url(tmp_path_factory.mktemp("e2e-db"))
    harness_class = AppHarnessProd if os.environ.get("PORTAL_E2E_PROD") == "1" else AppHarness
    with migrated(url), settings_env({**provider_settings(issuer_at(idp_port)), **E2E_OIDC_SETTINGS}):
        seed_demo()
        logging.getLogger().addHandler(_APP_ERRORS)
        harness = harness_class.create(root=PROJECT_ROOT, app_name="portal")
        try:
            with harness, settings_env({"PORTAL_PUBLIC_URL": _browser_url(harness)}):
                yield harness
        finally:
            logging.getLogger().removeHandler(_APP_ERRORS)


@pytest.fixture(scope="session")
def base_url(portal_app: AppHarness) -> str:
    """Pages are opened relative to the app's frontend URL, on 127.0.0.1 like the backend (one cookie host)."""
    return _browser_url(portal_app)


@pytest.fixture(scope="session")
def oidc_provider(portal_app: AppHarness, idp_port: int) -> Iterator[DevProvider]:
    """The dev OpenID Connect provider, accepting the running app's callback."""
    backend = get_config().api_url.rstrip("/")
    callbacks = [f"{backend}{CALLBACK_PATH}", f"{backend.replace('://127.0.0.1:', '://localhost:')}{CALLBACK_PATH}"]
    with running_provider(idp_port, callbacks) as provider:
        yield provider


@pytest.fixture
def stripe_payments(portal_app: AppHarness) -> Iterator[str]:
    """For one test, the running app collects through Stripe: the local Stripe-compatible server (started here,
    stopped by PID) with test keys; it also serves the Stripe.js replacement the card forms load. Yields its URL."""
    with running_fake_stripe() as url, settings_env(stripe_settings(url)):
        yield url


@pytest.fixture(autouse=True)
def no_errors_logged(page: Page, request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test when the app logs an error or the page reports one while it runs (but the console errors a
    ``browser_error(text)`` marker says the test expects)."""
    _APP_ERRORS.records.clear()
    expected = [marker.args[0] for marker in request.node.iter_markers("browser_error")]
    browser_errors = watch_browser_errors(page, expected)
    yield
    problems = _APP_ERRORS.records + browser_errors
    assert not problems, "errors while the test ran:\n" + "\n".join(problems)
