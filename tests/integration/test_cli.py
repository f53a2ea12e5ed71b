"""The ``portal`` command migrates and seeds a database, as `make run` does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.database import new_sqlite_url

PORTAL = str(Path(sys.executable).with_name("portal"))


def _portal(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PORTAL, *args], env={**os.environ, "REFLEX_DB_URL": url}, capture_output=True, text=True, timeout=120
    )


def test_migrate_then_seed_twice_prints_the_demo_accounts(tmp_path: Path) -> None:
    url = new_sqlite_url(tmp_path)
    migrated = _portal("migrate", url=url)
    assert migrated.returncode == 0, migrated.stderr
    assert "Database is up to date" in migrated.stdout
    for _ in range(2):
        seeded = _portal("seed-demo", url=url)
        assert seeded.returncode == 0, seeded.stderr
        assert "staff@portal.test" in seeded.stdout
        assert "password for all: portal-demo" in seeded.stdout


def test_seeding_an_unmigrated_database_fails_clearly(tmp_path: Path) -> None:
    result = _portal("seed-demo", url=new_sqlite_url(tmp_path))
    assert result.returncode != 0
    assert "portal migrate" in result.stderr


@pytest.mark.parametrize("args", [[], ["no-such-command"]])
def test_unknown_or_missing_command_shows_usage(args: list[str], tmp_path: Path) -> None:
    result = _portal(*args, url=new_sqlite_url(tmp_path))
    assert result.returncode == 2
    assert "usage: portal" in result.stderr


def test_api_keys_from_the_command_line(tmp_path: Path) -> None:
    url = new_sqlite_url(tmp_path)
    _portal("migrate", url=url)
    _portal("seed-demo", url=url)
    created = _portal("api-key", "create", "--customer", "acme", "--name", "backend", "--scope", "ingest", url=url)
    assert created.returncode == 0, created.stderr
    assert "for Acme AI" in created.stdout
    token = created.stdout.strip().splitlines()[-1]
    key_id = token.split(".")[0]
    listed = _portal("api-key", "list", url=url)
    assert key_id in listed.stdout
    assert "active" in listed.stdout
    revoked = _portal("api-key", "revoke", key_id, url=url)
    assert f"Revoked {key_id}" in revoked.stdout
    assert "revoked" in _portal("api-key", "list", url=url).stdout
    unknown = _portal("api-key", "create", "--customer", "nobody", "--name", "x", url=url)
    assert unknown.returncode == 1
    assert "no customer with the id or ingest alias 'nobody'" in unknown.stderr


def test_the_invoice_run_benchmark_closes_every_period_once(tmp_path: Path) -> None:
    result = _portal("bench", "invoices", "--customers", "3", "--periods", "2", url=new_sqlite_url(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "periods due             6 (3 customers × 2 closed periods)" in result.stdout
    assert "invoice run             6 invoices rated, finalized, stored and sent for payment" in result.stdout
    assert "consistent              yes" in result.stdout
