"""Apply and inspect Alembic migrations from Python (the CLI and tests use this)."""

from __future__ import annotations

from alembic.config import Config

from alembic import command
from portal.config import PROJECT_ROOT, get_settings


def alembic_config(url: str | None = None) -> Config:
    """The project's Alembic config, pointed at ``url`` (default: the configured database)."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", (url or get_settings().database_url).replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(url: str | None = None) -> None:
    """Bring the database at ``url`` up to the newest migration."""
    command.upgrade(alembic_config(url), "head")
