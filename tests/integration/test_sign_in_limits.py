"""Failed sign-ins are limited per account and per client address, in the database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import func, select

from portal.db.models import SignInFailure, utcnow
from portal.db.uow import UnitOfWork
from portal.services.demo import DEMO_PASSWORD, seed_demo
from portal.services.errors import InvalidInput
from portal.services.identity import sign_in
from portal.services.sign_in_limits import ACCOUNT_LIMIT, ADDRESS_LIMIT, WINDOW, TooManyFailures

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture(autouse=True)
def _demo(database: str) -> None:
    seed_demo()


def _fail(email: str, times: int, at: datetime, address: str = "203.0.113.7") -> None:
    for i in range(times):
        with pytest.raises(InvalidInput, match="do not match an account"):
            sign_in(email, "wrong password", now=at + timedelta(seconds=i), client_address=address)


def test_an_account_is_locked_after_five_failures_and_unlocks_after_the_window() -> None:
    start = utcnow()
    _fail("admin@acme.test", ACCOUNT_LIMIT, start)
    with pytest.raises(TooManyFailures, match=r"for this account: try again in 15 minutes \(after \d\d:\d\d UTC\)"):
        sign_in("admin@acme.test", DEMO_PASSWORD, now=start + timedelta(seconds=10), client_address="198.51.100.1")
    with pytest.raises(TooManyFailures, match="try again in 1 minute "):
        sign_in("admin@acme.test", DEMO_PASSWORD, now=start + WINDOW - timedelta(seconds=30))
    assert sign_in("admin@acme.test", DEMO_PASSWORD, now=start + WINDOW + timedelta(seconds=1)).identity


def test_unknown_accounts_are_locked_the_same_way() -> None:
    start = utcnow()
    _fail("nobody@acme.test", ACCOUNT_LIMIT, start)
    with pytest.raises(TooManyFailures, match="for this account"):
        sign_in("nobody@acme.test", "anything", now=start + timedelta(seconds=10))


def test_a_successful_sign_in_clears_the_accounts_failures() -> None:
    start = utcnow()
    _fail("member@acme.test", ACCOUNT_LIMIT - 1, start)
    sign_in("member@acme.test", DEMO_PASSWORD, now=start + timedelta(seconds=10))
    _fail("member@acme.test", ACCOUNT_LIMIT - 1, start + timedelta(seconds=20))
    assert sign_in("member@acme.test", DEMO_PASSWORD, now=start + timedelta(seconds=30)).identity


def test_an_address_is_locked_after_too_many_failures_across_accounts() -> None:
    start = utcnow()
    for n in range(ADDRESS_LIMIT // (ACCOUNT_LIMIT - 1)):
        _fail(f"guess{n}@acme.test", ACCOUNT_LIMIT - 1, start + timedelta(seconds=10 * n))
    later = start + timedelta(minutes=1)
    with pytest.raises(TooManyFailures, match="from your network address"):
        sign_in("admin@acme.test", DEMO_PASSWORD, now=later, client_address="203.0.113.7")
    assert sign_in("admin@acme.test", DEMO_PASSWORD, now=later, client_address="198.51.100.1").identity
    assert sign_in(
        "admin@acme.test", DEMO_PASSWORD, now=start + WINDOW + timedelta(minutes=1), client_address="203.0.113.7"
    )


def test_failures_older_than_the_window_are_forgotten() -> None:
    start = utcnow()
    _fail("admin@acme.test", 3, start)
    _fail("member@acme.test", 1, start + WINDOW + timedelta(seconds=5))
    with UnitOfWork() as uow:
        assert uow.session.exec(select(func.count()).select_from(SignInFailure)).one() == 1
