"""The database engine and sessions.

One engine per database URL for the process. SQLite runs in WAL mode with
foreign keys enforced and a busy timeout, so the web server, the CLI and
tests can use the same file at once.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

from portal.config import get_settings
from portal.db.usage_store import register_functions

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_POOL_SIZE = 40
"""Connections kept open to a SQLite file: as many as the server's request threads."""


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA mmap_size=268435456")
    cursor.close()
    register_functions(dbapi_connection)


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """The engine for ``url``, created once (SQLite files get their folder created)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            # Enough pooled connections for every request thread at once: a connection opened beyond the pool
            # is configured (the pragmas below) and thrown away again, which costs more than the query.
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_SIZE,
        )
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def get_engine() -> Engine:
    """The engine for the configured database (``REFLEX_DB_URL``)."""
    return engine_for(get_settings().database_url)


def new_session() -> Session:
    """A new session on the configured database; the caller closes it."""
    return Session(get_engine(), expire_on_commit=False)
