"""Fixtures of the integration tier: a customer with closed periods of real usage, for the staff's tools."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from portal.auth.passwords import hash_password
from portal.db.models import User, utcnow
from portal.db.uow import UnitOfWork
from portal.domain.metrics import UsageEvent
from portal.services.billing import provision
from portal.services.customers import create_customer
from portal.services.demo import seed_demo
from portal.services.demo_catalog import TOKENS_EVENT, ensure_catalog, ensure_tiers
from portal.services.identity import Identity, operator_identity, sign_in
from portal.services.ingest_writer import writer
from tests.support.stripe import running_fake_stripe

STAFF = replace(operator_identity(), email="staff@portal.test")
"""A staff member (the audit log names them by this email)."""
CUSTOMER_USER = replace(STAFF, is_staff=False, customer_id="cus_x", role="admin", email="admin@x.test")
"""A customer's admin, who must get nothing from staff services."""


def two_months_ago() -> datetime:
    """The first of the month before last, 00:00 UTC: the contract has two closed monthly periods."""
    now = utcnow()
    last_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    return (last_month.replace(day=1) - timedelta(days=1)).replace(day=1)


@pytest.fixture
def initech(database: str) -> str:
    """The demo tiers; Initech on Team with 3 seats from two months ago, who used 7,000 credits the first month."""
    with UnitOfWork() as uow:
        ensure_catalog(uow.session)
        ensure_tiers(uow.session)
    customer = create_customer(STAFF, "Initech")
    start = two_months_ago()
    provision(STAFF, customer.id, "team", 3, ("ann", "bob"), at=start)
    used = [("ann", 500_000), ("bob", 200_000)]  # 5,000 + 2,000 credits
    events = [
        UsageEvent(f"t-{u}", customer.id, TOKENS_EVENT, start + timedelta(days=5), {"tokens": str(n), "user_id": u})
        for u, n in used
    ]
    writer().refresh_metrics()
    writer().submit(events).result()
    return customer.id


@pytest.fixture(scope="session")
def fake_stripe() -> Iterator[str]:
    """Base URL of the Stripe-compatible fake (tests/fakes/fake_stripe), one for the whole run, stopped by PID."""
    with running_fake_stripe() as url:
        yield url


@pytest.fixture
def buyer(database: str) -> Identity:
    """The demo data and a newly signed-up user with no account yet (new@initech.test, password pw-123456)."""
    seed_demo()
    with UnitOfWork() as uow:
        uow.session.add(User(email="new@initech.test", name="Nina New", password_hash=hash_password("pw-123456")))
    return sign_in("new@initech.test", "pw-123456").identity
