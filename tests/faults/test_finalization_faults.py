"""Faults inside our own transaction that stores a closing invoice: the billing job (in its own process,
:mod:`tests.faults.billing_job`) SIGKILLed while it holds that transaction open, right after the invoice row's INSERT
ran or at its COMMIT (every row of the invoice, its ledger draws and its outgoing events written, none committed).
On SQLite and PostgreSQL.

Nothing of the killed transaction is stored (no invoice, no ledger entry, no event), Stripe is never asked, and the
billing job run again closes the period once: one closing invoice of the amount worked out by hand, paid, charged
once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from portal.db.models import InvoiceRow, LedgerEntryRow, WebhookEvent
from portal.db.uow import UnitOfWork
from portal.jobs import run_billing_once
from tests.faults.billing_job import HOLD_POINTS
from tests.faults.conftest import CLOSING_AMOUNT, SEATS_AMOUNT, billing_job, closing_invoice, closing_time
from tests.support.payments import stripe_charges
from tests.support.settings import settings_env
from tests.support.stripe import stripe_settings

pytestmark = [pytest.mark.faults, pytest.mark.slow]

WAIT_SECONDS = 60
USAGE_DRAWN = {"ann": Decimal(-5000), "bob": Decimal(-1000)}
"""What closing Initech's first period draws from its 6,000 pooled credits, by seat: Ann's 5,000 credits, then
the 1,000 left of Bob's 2,000 (the other 1,000 is the overage billed, $10.00)."""


def _stored() -> dict[str, int]:
    """How many invoices, ledger entries and outgoing events are stored."""
    with UnitOfWork() as uow:
        return {
            table.__tablename__: uow.session.exec(select(func.count()).select_from(table)).one()
            for table in (InvoiceRow, LedgerEntryRow, WebhookEvent)
        }


def _usage_drawn() -> dict[str | None, Decimal]:
    """The usage drawn from credits, by seat, as the ledger records it."""
    with UnitOfWork() as uow:
        rows = uow.session.exec(
            select(LedgerEntryRow.seat_id, func.count(), func.min(LedgerEntryRow.amount))
            .where(LedgerEntryRow.kind == "usage")
            .group_by(col(LedgerEntryRow.seat_id))
        ).all()
    assert all(count == 1 for _, count, _ in rows), f"one usage entry per seat: {rows}"
    return {seat: amount for seat, _, amount in rows}


def _wait_until_held(marker: Path, job: subprocess.Popen[bytes], log: Path) -> None:
    """Wait for the job to say (``marker``) it holds its transaction open; fail if it ends or never does."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not marker.exists():
        ended = job.poll()
        assert ended is None, f"the job ended ({ended}) without holding: {log.read_text(errors='replace')[-3000:]}"
        assert time.monotonic() < deadline, (
            f"the job never stored an invoice: {log.read_text(errors='replace')[-3000:]}"
        )
        time.sleep(0.05)


@pytest.mark.parametrize("point", HOLD_POINTS)
def test_the_billing_job_killed_inside_the_invoice_transaction_leaves_nothing_and_a_rerun_closes_the_period_once(
    database: str, initech: str, card_on_file: str, fake_stripe: str, tmp_path: Path, point: str
) -> None:
    t0 = closing_time()
    before = _stored()
    marker, log = tmp_path / "held", tmp_path / "job.log"
    with billing_job(database, fake_stripe, t0, log, "--hold-at", point, str(marker)) as job:
        _wait_until_held(marker, job, log)
        os.kill(job.pid, signal.SIGKILL)
        assert job.wait(10) == -signal.SIGKILL
    assert _stored() == before, "nothing of the killed transaction is stored"
    charges = stripe_charges(fake_stripe)
    assert charges(card_on_file) == [], "Stripe is asked only after the commit"

    with settings_env(stripe_settings(fake_stripe)):
        rerun = run_billing_once(t0)
    assert rerun is not None
    assert rerun.failures == ()
    [closed] = rerun.closed
    assert (closed.status, closed.total_due_minor) == ("paid", CLOSING_AMOUNT)
    stored = closing_invoice(initech)
    assert (stored.id, stored.status, stored.total_minor) == (closed.id, "paid", CLOSING_AMOUNT)
    assert stored.document["lines"], "the invoice is stored with its lines"
    assert sorted(charges(card_on_file)) == [(CLOSING_AMOUNT, "succeeded"), (SEATS_AMOUNT, "succeeded")]
    assert _usage_drawn() == USAGE_DRAWN, "the period's usage is drawn from the credits once"
