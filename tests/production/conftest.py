"""Production tier: the production configuration started as an operator would, and real journeys in Chromium.

One `portal run` (the production build, frontend and backend on one port) for the whole session, on a throwaway
PostgreSQL database (Debian's server on loopback) with Reflex's state in a throwaway Redis (Debian's
``redis-server`` on loopback) and several backend workers sharing it (``GRANIAN_WORKERS``). Demo data is seeded
(``PORTAL_PRODUCTION`` is not set, so the demo accounts exist). This process uses the same database, so journeys
can compare pages with what the services say.

Every test here is marked ``production`` and ``slow``; the default run leaves them out (the build takes minutes):
run them with ``make test-production`` (``pytest -m production``). A test fails when its page reports an error
or the server writes a traceback while it runs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from tests.support.browser import watch_browser_errors
from tests.support.database import new_postgres_database, use_database
from tests.support.portal_server import PortalServer, running_portal
from tests.support.postgres import PostgresServer
from tests.support.redis import RedisServer, running_redis

WORKERS = 3
"""Backend worker processes (Granian's; without ``GRANIAN_WORKERS`` Reflex starts 2 x CPUs + 1, at most 8)."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``production`` and ``slow``."""
    for item in items:
        if "tests/production/" in str(item.path):
            item.add_marker(pytest.mark.production)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A throwaway Redis for the session, stopped by PID."""
    with running_redis() as server:
        yield server


@pytest.fixture(scope="session")
def production_portal(
    postgres_server: PostgresServer, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PortalServer]:
    """`portal run` on PostgreSQL and Redis with :data:`WORKERS` workers; this process uses its database."""
    with new_postgres_database(postgres_server) as database_url:
        env = {"REFLEX_DB_URL": database_url, "REFLEX_REDIS_URL": redis_server.url, "GRANIAN_WORKERS": str(WORKERS)}
        with running_portal(tmp_path_factory.mktemp("production"), env) as server, use_database(database_url):
            yield server


@pytest.fixture(scope="session")
def base_url(production_portal: PortalServer) -> str:
    """Pages are opened relative to the production server."""
    return production_portal.url


@pytest.fixture(autouse=True)
def no_errors_reported(page: Page, production_portal: PortalServer) -> Iterator[None]:
    """Fail the test when the page reports an error or the server writes a traceback while it runs."""
    browser_errors = watch_browser_errors(page, [])
    written = len(production_portal.output())
    yield
    written_now = production_portal.output()[written:]
    server_errors = [f"server: {written_now[-3000:]}"] if "Traceback (most recent call last)" in written_now else []
    problems = browser_errors + server_errors
    assert not problems, "errors while the test ran:\n" + "\n".join(problems)
