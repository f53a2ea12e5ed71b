"""Fresh, migrated databases for tests, and pointing the portal at one."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

from portal.db.migrations import upgrade
from portal.db.session import engine_for
from portal.services.ingest import directory
from portal.services.ingest_writer import writer
from tests.support.postgres import PostgresServer
from tests.support.settings import settings_env


def _forget_cached_data() -> None:
    """Drop what the process remembered from the previous database (customer aliases, metrics)."""
    directory().forget()
    writer().refresh_metrics()


@contextlib.contextmanager
def use_database(url: str) -> Iterator[str]:
    """Point the portal's settings (``REFLEX_DB_URL``) at ``url`` for the duration."""
    try:
        with settings_env({"REFLEX_DB_URL": url}):
            _forget_cached_data()
            yield url
    finally:
        _forget_cached_data()


def new_sqlite_url(folder: Path) -> str:
    """URL of a new, empty SQLite file in ``folder``."""
    return f"sqlite:///{folder / f'portal-{secrets.token_hex(4)}.db'}"


@contextlib.contextmanager
def new_postgres_database(server: PostgresServer) -> Iterator[str]:
    """A new, empty database on ``server``, dropped afterwards."""
    name = f"portal_test_{secrets.token_hex(4)}"
    server.execute(f'CREATE DATABASE "{name}"')
    url = server.url(name)
    try:
        yield url
    finally:
        engine_for(url).dispose()
        engine_for.cache_clear()
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def migrated(url: str) -> Iterator[str]:
    """Migrate ``url`` to the newest schema and point the portal at it."""
    upgrade(url)
    with use_database(url):
        yield url
