"""Alembic environment: migrates the database named by the portal's settings.

The URL comes from ``REFLEX_DB_URL`` (see ``portal/config.py``) unless the
caller put one in the Alembic config (tests do, to migrate a throwaway
database). Batch mode keeps ALTER TABLE working on SQLite.
"""

from logging.config import fileConfig

from sqlmodel import SQLModel

from alembic import context
from portal.config import get_settings
from portal.db import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from portal.db.session import engine_for

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().database_url


def run_migrations_offline() -> None:
    """Emit SQL without a database connection (``alembic upgrade --sql``)."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Apply migrations over a live connection."""
    with engine_for(_url()).connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
