"""Closing billing periods and retrying failed payments: the billing job's work (run by :mod:`portal.jobs`).

* :func:`close_periods` finalizes, for every contract that pays for itself (a payer: a contract without a parent,
  or a department that pays its own overage), each billing period that ended at least ``INVOICE_GRACE_HOURS``
  ago and has no closing invoice yet. The invoice is the rating engine's draft of the period as of its end:
  usage in arrears with grants applied, and whatever else the period's earlier invoices (seats in advance,
  changes) did not bill; departments whose payer is their parent are on the parent's invoice. It is stored with
  the ledger entries of the period, then collected after the commit; an invoice with nothing to pay is stored as
  paid and the payment provider is never asked.
* :func:`open_periods` bills seats in advance at the start of each period: for every payer with seats whose
  current period has no opening invoice yet (the first invoice of what is due in advance, ``opens_period``), the
  in-advance lines of the period's draft are finalized and collected. Buying, and a seat change made before the
  job came round, open the period themselves. Contracts without seats have nothing billed in advance (a fixed
  fee of such a contract is billed with the period's closing invoice).
* :func:`retry_payments` collects again every invoice whose ``next_payment_at`` has come: a failed payment on
  the schedule of :mod:`portal.domain.payment_retries`, or an attempt that never recorded its outcome.
* :func:`run_billing` does all three, once: one iteration of the job.

A period is opened and closed once whatever runs at the same time (several server processes, a re-run): the
closing and opening invoices are unique per contract and period in the database (``uq_invoice_period_close``,
``uq_invoice_period_open``), so a second attempt rolls back. Each retry is claimed first (``next_payment_at``
moved on by a conditional update that only one process wins), so only one process collects an invoice at a time;
collection itself never charges twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select, update

from portal.config import get_settings
from portal.db.loaders import Catalog
from portal.db.models import Contract, InvoiceRow, SeatSubscriptionRow, utcnow
from portal.db.uow import UnitOfWork
from portal.domain import invoicing
from portal.domain.invoicing import InvoiceStatus
from portal.domain.periods import Frequency, Period, billing_period, billing_periods, period_index
from portal.services import billing
from portal.services.billing import COLLECTION_LEASE, SETTLED, InvoiceView

logger = logging.getLogger(__name__)

UNPAID = (InvoiceStatus.FINALIZED.value, InvoiceStatus.PAYMENT_FAILED.value)
"""Statuses of invoices that may still be collected."""
Item = TypeVar("Item")


@dataclass(frozen=True, slots=True)
class BillingRun:
    """What one run of the billing job did: invoices that closed a period, payments retried (each as it stands
    after its collection attempt), what could not be done (with the reason), and invoices that opened a period."""

    closed: tuple[InvoiceView, ...] = ()
    retried: tuple[InvoiceView, ...] = ()
    failures: tuple[str, ...] = ()
    opened: tuple[InvoiceView, ...] = ()

    def summary(self) -> str:
        """One line for the log: counts by outcome, and the failures."""
        parts = [
            f"closed {len(self.closed)} period(s){_by_status(self.closed)}",
            f"opened {len(self.opened)} period(s){_by_status(self.opened)}",
            f"retried {len(self.retried)} payment(s){_by_status(self.retried)}",
        ]
        if self.failures:
            parts.append(f"{len(self.failures)} could not be done: {'; '.join(self.failures)}")
        return ", ".join(parts)


def _by_status(invoices: Iterable[InvoiceView]) -> str:
    counts: dict[str, int] = {}
    for invoice in invoices:
        counts[invoice.status] = counts.get(invoice.status, 0) + 1
    return f" ({', '.join(f'{n} {status}' for status, n in sorted(counts.items()))})" if counts else ""


def _keep_going() -> bool:
    return True


def run_billing(now: datetime | None = None, keep_going: Callable[[], bool] = _keep_going) -> BillingRun:
    """Close the periods due and retry the payments due as of ``now``: one iteration of the billing job.

    ``keep_going`` is asked before each invoice; the run stops early when it says no (the server is stopping).
    """
    now = now or utcnow()
    closed = close_periods(now, keep_going)
    opened = open_periods(now, keep_going)
    retried = retry_payments(now, keep_going)
    return BillingRun(
        closed.closed, retried.retried, closed.failures + opened.failures + retried.failures, opened.opened
    )


def due_periods(session: Session, now: datetime) -> list[tuple[str, Period]]:
    """(payer contract id, period) of every billing period that ended at least the grace period before ``now`` and
    has no closing invoice yet, oldest first per contract."""
    cutoff = now - timedelta(hours=get_settings().invoice_grace_hours)
    payers = session.exec(
        select(Contract)
        .where(or_(col(Contract.payer) == "self", col(Contract.parent_contract_id).is_(None)))
        .where(col(Contract.starting_at) < cutoff)
        .order_by(col(Contract.id))
    ).all()
    closed = set(
        session.exec(
            select(InvoiceRow.contract_id, InvoiceRow.period_start).where(col(InvoiceRow.closes_period).is_(True))
        ).all()
    )
    due = []
    for contract in payers:
        until = min(cutoff, contract.ending_before or cutoff)
        if until <= contract.starting_at:
            continue
        calendar = billing_periods(
            contract.starting_at, Frequency[contract.billing_frequency], Period(contract.starting_at, until)
        )
        due += [(contract.id, p) for p in calendar if p.end <= cutoff and (contract.id, p.start) not in closed]
    return due


def close_periods(now: datetime | None = None, keep_going: Callable[[], bool] = _keep_going) -> BillingRun:
    """Finalize and collect the closing invoice of every period due as of ``now`` (see the module notes)."""
    at = now or utcnow()
    with UnitOfWork() as uow:
        due = due_periods(uow.session, at)

    def close(item: tuple[str, Period]) -> InvoiceView | None:
        invoice = close_period(*item, at)
        if invoice is None or invoice.status in SETTLED:
            return invoice
        return billing.collect_invoice(invoice, at)

    closed, failures = _each(due, close, lambda item: f"closing {item[1].label()} of contract {item[0]}", keep_going)
    return BillingRun(closed=closed, failures=failures)


def close_period(contract_id: str, period: Period, now: datetime) -> InvoiceView | None:
    """Store the closing invoice of the payer ``contract_id`` for ``period`` (not collected yet).

    None when the period is closed already: by an earlier run, or by another process at the same moment (the
    unique constraint refuses the second invoice and this transaction rolls back, ledger entries and all).
    """
    try:
        with UnitOfWork() as uow:
            session = uow.session
            rated = billing.rate(
                session, Catalog(session), contract_id, period.end, period, aggregated_by_database=True
            )
            final = invoicing.finalize(rated.run.invoice(contract_id), now)
            invoice = billing.store_final(session, rated, final, now, closes_period=True)
            session.flush()
    except IntegrityError:
        if _is_closed(contract_id, period):
            return None
        raise
    return invoice


def opening_periods(session: Session, now: datetime) -> list[tuple[str, Period]]:
    """(payer contract id, period) of every payer with seats whose period containing ``now`` has no opening
    invoice yet."""
    payers = session.exec(
        select(Contract)
        .join(SeatSubscriptionRow, col(SeatSubscriptionRow.contract_id) == Contract.id)
        .where(or_(col(Contract.payer) == "self", col(Contract.parent_contract_id).is_(None)))
        .where(col(Contract.starting_at) <= now)
        .where(or_(col(Contract.ending_before).is_(None), col(Contract.ending_before) > now))
        .order_by(col(Contract.id))
    ).all()
    opened = set(
        session.exec(
            select(InvoiceRow.contract_id, InvoiceRow.period_start).where(col(InvoiceRow.opens_period).is_(True))
        ).all()
    )
    due = []
    for contract in payers:
        frequency = Frequency[contract.billing_frequency]
        period = billing_period(contract.starting_at, frequency, period_index(contract.starting_at, frequency, now))
        if (contract.id, period.start) not in opened:
            due.append((contract.id, period))
    return due


def open_periods(now: datetime | None = None, keep_going: Callable[[], bool] = _keep_going) -> BillingRun:
    """Bill and collect the seats in advance of every period that started without its opening invoice."""
    at = now or utcnow()
    with UnitOfWork() as uow:
        due = opening_periods(uow.session, at)

    def open_(item: tuple[str, Period]) -> InvoiceView | None:
        invoice = open_period(item[0], at)
        if invoice is None or invoice.status in SETTLED:
            return invoice
        return billing.collect_invoice(invoice, at)

    opened, failures = _each(due, open_, lambda item: f"opening {item[1].label()} of contract {item[0]}", keep_going)
    return BillingRun(opened=opened, failures=failures)


def open_period(contract_id: str, now: datetime) -> InvoiceView | None:
    """Store the opening invoice (what is due in advance) of the payer ``contract_id``'s period containing ``now``.

    None when there is nothing to bill in advance, or when another process opened the period at the same moment
    (the unique constraint refuses the second invoice and this transaction rolls back).
    """
    try:
        with UnitOfWork() as uow:
            session = uow.session
            invoice = billing.finalize_due_now(session, billing.rate(session, Catalog(session), contract_id, now), now)
            session.flush()
    except IntegrityError:
        return None
    return invoice


def _is_closed(contract_id: str, period: Period) -> bool:
    with UnitOfWork() as uow:
        found = uow.session.exec(
            select(InvoiceRow.id).where(
                InvoiceRow.contract_id == contract_id,
                InvoiceRow.period_start == period.start,
                col(InvoiceRow.closes_period).is_(True),
            )
        ).first()
        return found is not None


def retry_payments(now: datetime | None = None, keep_going: Callable[[], bool] = _keep_going) -> BillingRun:
    """Collect every unpaid invoice whose ``next_payment_at`` is at or before ``now``, one process per invoice."""
    at = now or utcnow()
    with UnitOfWork() as uow:
        due = uow.session.exec(
            select(InvoiceRow.id, InvoiceRow.next_payment_at)
            .where(col(InvoiceRow.next_payment_at) <= at, col(InvoiceRow.status).in_(UNPAID))
            .order_by(col(InvoiceRow.next_payment_at), col(InvoiceRow.id))
        ).all()

    def retry(item: tuple[str, datetime | None]) -> InvoiceView | None:
        invoice = _claim(*item, at)
        return None if invoice is None else billing.collect_invoice(invoice, at)

    retried, failures = _each(due, retry, lambda item: f"retrying invoice {item[0]}", keep_going)
    return BillingRun(retried=retried, failures=failures)


def _each(
    items: Iterable[Item],
    attempt: Callable[[Item], InvoiceView | None],
    describe: Callable[[Item], str],
    keep_going: Callable[[], bool],
) -> tuple[tuple[InvoiceView, ...], tuple[str, ...]]:
    """``attempt`` each item in turn while ``keep_going`` says yes: the invoices they gave, and what failed (logged
    with its traceback). One item's trouble never holds up the others."""
    done: list[InvoiceView] = []
    failures: list[str] = []
    for item in items:
        if not keep_going():
            break
        try:
            invoice = attempt(item)
        except Exception as error:
            logger.exception("Billing job: %s failed", describe(item))
            failures.append(f"{describe(item)}: {error}")
            continue
        if invoice is not None:
            done.append(invoice)
    return tuple(done), tuple(failures)


def _claim(invoice_id: str, scheduled: datetime | None, now: datetime) -> InvoiceView | None:
    """Take the invoice for this attempt: move ``next_payment_at`` on by the collection lease if it still says
    ``scheduled`` (another process that took it first moved it already: None)."""
    with UnitOfWork() as uow:
        session = uow.session
        taken = session.exec(
            update(InvoiceRow)
            .where(col(InvoiceRow.id) == invoice_id, col(InvoiceRow.next_payment_at) == scheduled)
            .where(col(InvoiceRow.status).in_(UNPAID))
            .values(next_payment_at=now + COLLECTION_LEASE)
        )
        if taken.rowcount != 1:
            return None
        row = session.get(InvoiceRow, invoice_id)
        if row is None:
            return None
        return billing.stored_view(row, Catalog(session).credit_types)
