"""System status for the health check: database reachable, schema current, integrations configured."""

from __future__ import annotations

from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.config import get_settings
from portal.db.migrations import alembic_config
from portal.db.session import get_engine
from portal.payments import configured_gateway


@dataclass(frozen=True, slots=True)
class SystemStatus:
    """What the health check reports."""

    healthy: bool
    database: str
    schema_revision: str | None
    payments: str
    sign_in: tuple[str, ...]


def system_status() -> SystemStatus:
    """Check the database with a query and compare its schema revision with the newest migration."""
    settings = get_settings()
    gateway = configured_gateway()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
            revision = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        database, revision = f"unreachable: {type(exc).__name__}", None
    else:
        database = (
            "ok" if revision == head else f"schema at {revision or 'nothing'}, expected {head}: run `portal migrate`"
        )
    return SystemStatus(
        healthy=database == "ok",
        database=database,
        schema_revision=revision,
        payments="not configured" if gateway.name == "offline" else gateway.name,
        sign_in=settings.sign_in_methods,
    )
