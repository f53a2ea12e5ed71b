"""Fixtures shared by every tier: databases on SQLite and on a throwaway PostgreSQL server, and the mail outbox."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.database import migrated, new_postgres_database, new_sqlite_url
from tests.support.mail import Outbox, attach_outbox, detach_outbox
from tests.support.postgres import PostgresServer, running_postgres

settings.register_profile("default", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole run, started on first use."""
    with running_postgres() as server:
        yield server


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a new, empty database: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        yield new_sqlite_url(tmp_path)
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    with new_postgres_database(server) as url:
        yield url


@pytest.fixture
def database(empty_database_url: str) -> Iterator[str]:
    """A migrated database the portal's services use for the test (SQLite and PostgreSQL)."""
    with migrated(empty_database_url) as url:
        yield url


@pytest.fixture
def outbox() -> Iterator[Outbox]:
    """The messages the portal "sends" while the test runs (without a mail server it writes them to its log)."""
    collected = attach_outbox()
    yield collected
    detach_outbox(collected)


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, object]:
    """Playwright launches Debian's Chromium, headless, with the machine's closed network in mind."""
    return {"executable_path": CHROMIUM, "args": CHROMIUM_ARGS}
