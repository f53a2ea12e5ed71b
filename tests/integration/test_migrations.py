"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from alembic import command
from portal.db import models  # noqa: F401  (registers the tables)
from portal.db.migrations import alembic_config, upgrade
from portal.db.session import engine_for
from tests.support.database import new_sqlite_url


def _differences(url: str) -> list[object]:
    with engine_for(url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def test_upgrade_builds_every_table(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    tables = set(inspect(engine_for(empty_database_url)).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_and_migrations_agree(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    assert _differences(empty_database_url) == [], (
        "models changed without a migration: run alembic revision --autogenerate"
    )


def test_an_unmigrated_database_differs_from_the_models(empty_database_url: str) -> None:
    # The agreement check above can fail: on an empty database it reports every table as missing.
    assert len(_differences(empty_database_url)) >= len(SQLModel.metadata.tables)


def test_downgrade_to_nothing_and_back(empty_database_url: str) -> None:
    config = alembic_config(empty_database_url)
    upgrade(empty_database_url)
    command.downgrade(config, "base")
    assert set(inspect(engine_for(empty_database_url)).get_table_names()) <= {"alembic_version"}
    upgrade(empty_database_url)
    assert _differences(empty_database_url) == []


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    url = new_sqlite_url(tmp_path)
    upgrade(url)
    with engine_for(url).connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_upgrading_keeps_existing_rows_and_gives_them_the_new_defaults(empty_database_url: str) -> None:
    config = alembic_config(empty_database_url)
    command.upgrade(config, "ede49e6e7c98")
    with engine_for(empty_database_url).begin() as connection:
        connection.execute(
            text("INSERT INTO package (id, key, name, rank, created_at) VALUES ('p', 'team', 'Team', 1, '2026-01-01')")
        )
        connection.execute(
            text(
                "INSERT INTO package_version (id, package_id, version, status, tagline, currency, seat_price, "
                "billing_frequency, min_seats, credits_per_seat, credit_allocation, trial_days, features, created_at) "
                "VALUES ('v', 'p', 1, 'published', '', 'USD', '40', 'MONTHLY', 1, '0', 'POOLED', 0, '[]', '2026-01-01')"
            )
        )
    upgrade(empty_database_url)
    with engine_for(empty_database_url).connect() as connection:
        row = connection.execute(
            text("SELECT seat_price, seat_increases, overrides, pool_per_seat FROM package_version WHERE id = 'v'")
        ).one()
    assert tuple(str(v) for v in row) == ("40", "prorate_immediately", "[]", "0")


def test_users_from_before_self_service_sign_up_count_as_verified(empty_database_url: str) -> None:
    config = alembic_config(empty_database_url)
    command.upgrade(config, "621944864d05")
    with engine_for(empty_database_url).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO app_user (id, email, name, is_staff, created_at) "
                "VALUES ('u', 'ann@acme.test', 'Ann', false, '2026-01-02 03:04:05+00:00')"
            )
        )
    upgrade(empty_database_url)
    with engine_for(empty_database_url).connect() as connection:
        row = connection.execute(
            text("SELECT email_verified_at IS NOT NULL, company_name, oidc_subject FROM app_user WHERE id = 'u'")
        ).one()
    assert tuple(row) == (True, "", None)
