"""Fixtures of the fault tier: those of the integration tier (Initech with closed periods, the fake Stripe), Initech's
card on file, and the billing job in a process of its own (:mod:`tests.faults.billing_job`) the tests kill.

Initech (the ``initech`` fixture) has a card on file; its first period closes at :func:`closing_time` with an
invoice of :data:`CLOSING_AMOUNT` cents, and its second period opens then with its seats billed in advance.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from portal.db.models import Customer, InvoiceRow
from portal.db.uow import UnitOfWork
from portal.domain.periods import Frequency, billing_period
from tests.integration.conftest import fake_stripe, initech, two_months_ago
from tests.support.payments import CardOnFile
from tests.support.processes import stop
from tests.support.stripe import PROJECT_ROOT, stripe_settings

__all__ = ["card_on_file", "fake_stripe", "initech"]

CLOSING_AMOUNT, SEATS_AMOUNT = 1000, 12000
"""Initech's first period's closing invoice, and its seats billed in advance when its second period opens."""


def closing_time() -> datetime:
    """When the billing job closes Initech's first period (its end plus the 24 hours of grace)."""
    return billing_period(two_months_ago(), Frequency.MONTHLY, 0).end + timedelta(hours=24)


@pytest.fixture
def card_on_file(initech: str, fake_stripe: str) -> str:
    """Initech's Stripe customer, with a card that pays, recorded with our customer."""
    reference = CardOnFile(fake_stripe).ensure_customer(initech, "Initech", None, None)
    assert reference is not None
    with UnitOfWork() as uow:
        customer = uow.session.get(Customer, initech)
        assert customer is not None
        customer.payment_customer_id = reference
        uow.session.add(customer)
    return reference


def closing_invoice(customer_id: str) -> InvoiceRow:
    """The one invoice that closed a period of the customer (detached from its session)."""
    with UnitOfWork() as uow:
        [row] = uow.session.exec(
            select(InvoiceRow).where(InvoiceRow.customer_id == customer_id, col(InvoiceRow.closes_period).is_(True))
        ).all()
        uow.session.expunge(row)
    return row


@contextmanager
def billing_job(
    database: str, stripe_url: str, at: datetime, log: Path, *options: str
) -> Iterator[subprocess.Popen[bytes]]:
    """The billing job run as of ``at`` (with ``options``) in its own process, against ``database`` and the Stripe at
    ``stripe_url``, writing to ``log``; SIGKILLed by PID on the way out if it still runs."""
    environment = {**os.environ, **stripe_settings(stripe_url), "REFLEX_DB_URL": database}
    with open(log, "wb") as output:
        job = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.billing_job", at.isoformat(), *options],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            yield job
        finally:
            stop(job, signal.SIGKILL, 10)
