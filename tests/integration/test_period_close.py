"""Period close and payment retries (the billing job), and paying again: on SQLite and PostgreSQL.

Time is driven by passing ``now``. Initech (the ``initech`` fixture) is on Team with 3 seats ($40 each, 2,000
AI credits each, pooled: 6,000) from the first of the month before last (``START``), and used 7,000 credits in
its first month (ann 500,000 tokens, bob 200,000: 10 credits per 1,000 tokens). Its seats of the first month were
invoiced in advance when it was provisioned ($120.00, offline: recorded as due).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TypeVar

import pytest
from sqlmodel import Session, col, func, select

from portal.db.models import Contract, Customer, InvoiceRow, LedgerEntryRow
from portal.db.uow import UnitOfWork
from portal.domain.metrics import UsageEvent
from portal.domain.payment_retries import RETRY_AFTER, next_retry
from portal.domain.periods import Frequency, Period, billing_period
from portal.jobs import billing_job, run_billing_once
from portal.payments.gateway import CollectionRequest, CollectionResult, PaymentProviderError, PaymentStatus
from portal.payments.offline import NOT_CONFIGURED
from portal.payments.stripe_gateway import DECLINED
from portal.services import billing, period_close
from portal.services.billing import NO_MORE_RETRIES, NOTHING_TO_PAY
from portal.services.dashboard import dashboard
from portal.services.demo import seed_demo
from portal.services.demo_catalog import TOKENS_EVENT
from portal.services.errors import Forbidden, InvalidInput, NotFound
from portal.services.identity import Identity
from portal.services.ingest_writer import writer
from portal.services.period_close import close_period, close_periods, open_periods, retry_payments, run_billing
from portal.services.purchase import purchase
from tests.integration.conftest import CUSTOMER_USER, STAFF, two_months_ago
from tests.support.payments import DECLINED_AT_CHARGE, GOOD_CARD, CardOnFile, stripe_charges, the_invoice
from tests.support.settings import settings_env

GRACE = timedelta(hours=24)  # INVOICE_GRACE_HOURS' default
Stored = TypeVar("Stored", InvoiceRow, Customer)


def _periods() -> tuple[Period, Period]:
    """Initech's first two (ended) monthly periods."""
    start = two_months_ago()
    return billing_period(start, Frequency.MONTHLY, 0), billing_period(start, Frequency.MONTHLY, 1)


def _closing(customer_id: str) -> list[InvoiceRow]:
    """The customer's invoices that closed a period, oldest period first."""
    return _flagged(customer_id, "closes_period")


def _flagged(customer_id: str, flag: str) -> list[InvoiceRow]:
    """The customer's invoices whose ``flag`` column is true, oldest period first."""
    with UnitOfWork() as uow:
        rows = uow.session.exec(
            select(InvoiceRow)
            .where(InvoiceRow.customer_id == customer_id, col(getattr(InvoiceRow, flag)).is_(True))
            .order_by(col(InvoiceRow.period_start))
        ).all()
        uow.session.expunge_all()
    return list(rows)


def _stored(model: type[Stored], key: str) -> Stored:
    """The row of ``model`` with primary key ``key``, as stored now (detached)."""
    with UnitOfWork() as uow:
        found = uow.session.get(model, key)
        assert found is not None
        uow.session.expunge(found)
    return found


def _row(invoice_id: str) -> InvoiceRow:
    return _stored(InvoiceRow, invoice_id)


def _contract_id(customer_id: str) -> str:
    with UnitOfWork() as uow:
        return uow.session.exec(select(Contract.id).where(Contract.customer_id == customer_id)).one()


def _ledger_size() -> int:
    with UnitOfWork() as uow:
        return uow.session.exec(select(func.count()).select_from(LedgerEntryRow)).one()


def _ledger(contract_id: str) -> list[LedgerEntryRow]:
    with UnitOfWork() as uow:
        rows = uow.session.exec(
            select(LedgerEntryRow)
            .where(LedgerEntryRow.grant_contract_id == contract_id)
            .order_by(col(LedgerEntryRow.id))
        ).all()
        uow.session.expunge_all()
    return list(rows)


def test_a_period_finalized_twice_records_its_seat_credits_start_and_draws_once(initech: str) -> None:
    """The pool's credits are finalized twice in the first month: with its seats in advance when Initech was
    provisioned, and at its close; the ledger still shows them granted once and drawn once."""
    first, _ = _periods()
    close_periods(first.end + GRACE)
    rows = [r for r in _ledger(_contract_id(initech)) if first.start <= r.at < first.end]
    assert [(r.kind, r.amount) for r in rows if r.kind == "grant_start"] == [("grant_start", Decimal(6000))]
    [pool] = {r.grant_id for r in rows}
    drawn: dict[str | None, Decimal] = {}
    for row in rows:
        if row.kind == "usage":
            drawn[row.seat_id] = drawn.get(row.seat_id, Decimal(0)) + row.amount
    # 7,000 credits used against the pool of 6,000: ann's 5,000 first, then 1,000 of bob's 2,000.
    assert drawn == {"ann": Decimal(-5000), "bob": Decimal(-1000)}
    assert sum(r.amount for r in rows if r.grant_id == pool) == 0


@dataclass
class Recording:
    """A payment provider that collects every amount and remembers which invoices it was asked to collect."""

    asked: list[str] = field(default_factory=list)
    name: str = "recording"

    def ensure_customer(self, customer_id: str, name: str, email: str | None, existing: str | None) -> str | None:
        return None

    def prepare(self, request: CollectionRequest) -> str | None:
        return f"rec_{request.invoice_id}"

    def settle(self, request: CollectionRequest, reference: str | None) -> CollectionResult:
        self.asked.append(request.invoice_id)
        return CollectionResult(PaymentStatus.PAID, self.name, "Paid by the recording provider.", reference)


class Unreachable(Recording):
    """A provider that cannot be reached (whether money moved is unknown)."""

    def settle(self, request: CollectionRequest, reference: str | None) -> CollectionResult:
        self.asked.append(request.invoice_id)
        raise PaymentProviderError("the connection timed out")


# --- period close -------------------------------------------------------------------------------------------


def test_an_ended_period_is_closed_after_the_grace_period_and_not_before(initech: str) -> None:
    first, second = _periods()
    assert close_periods(first.end + GRACE - timedelta(seconds=1)).closed == ()
    assert _closing(initech) == []
    run = close_periods(first.end + GRACE)
    [invoice] = run.closed
    # 7,000 credits used against a pool of 6,000: 1,000 credits of overage at $0.01 = $10.00; the seats were billed
    # in advance.
    assert (invoice.period_start, invoice.period_end, invoice.total_due) == (first.start, first.end, "$10.00")
    assert [(line.description, line.units, line.grants_applied, line.due) for line in invoice.lines] == [
        ("AI tokens (per 1,000)", "7,000 AI credits", "$60.00", "$10.00")
    ]
    assert (invoice.status, invoice.payment_note) == ("finalized", NOT_CONFIGURED)
    [row] = _closing(initech)
    assert (row.total_minor, row.finalized_at, row.next_payment_at) == (1000, first.end + GRACE, None)
    # The second month: no usage, and its seats were never invoiced: the close bills them (3 x $40).
    assert close_periods(second.end + GRACE - timedelta(seconds=1)).closed == ()
    [later] = close_periods(second.end + GRACE).closed
    assert (later.period_start, later.total_due) == (second.start, "$120.00")
    assert [(r.period_start, r.total_minor) for r in _closing(initech)] == [(first.start, 1000), (second.start, 12000)]


def test_the_grace_period_is_a_setting(initech: str) -> None:
    first, _ = _periods()
    with settings_env({"INVOICE_GRACE_HOURS": "2"}):
        [invoice] = close_periods(first.end + timedelta(hours=2)).closed
    assert invoice.period_start == first.start


def test_closing_twice_closes_each_period_once(initech: str) -> None:
    _, second = _periods()
    now = second.end + GRACE
    assert len(close_periods(now).closed) == 2
    ledger = _ledger_size()
    assert close_periods(now).closed == ()
    assert close_periods(now + timedelta(days=3)).closed == ()
    assert [r.total_minor for r in _closing(initech)] == [1000, 12000]
    assert _ledger_size() == ledger


def test_two_processes_closing_at_once_close_a_period_once(initech: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = _periods()
    now = first.end + GRACE
    contract_id = _contract_id(initech)
    # Both processes read the period as open; the first stores its invoice, the second's is refused by the
    # database (the unique constraint) and rolls back, ledger entries and all.
    monkeypatch.setattr(period_close, "due_periods", lambda session, at: [(contract_id, first)])
    [invoice] = close_periods(now).closed
    ledger = _ledger_size()
    assert close_period(contract_id, first, now) is None
    second = close_periods(now)
    assert (second.closed, second.failures) == ((), ())
    assert [r.id for r in _closing(initech)] == [invoice.id]
    assert _ledger_size() == ledger


def test_a_period_with_nothing_to_pay_is_stored_paid_without_asking_the_provider(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_demo(now=datetime(2026, 9, 1, 0, 30, tzinfo=UTC))  # contracts from Sep 1; no demo usage yet
    gateway = Recording()
    monkeypatch.setattr(billing, "configured_gateway", lambda: gateway)
    with UnitOfWork() as uow:
        customers = {c.name: c.id for c in uow.session.exec(select(Customer)).all()}
    close_periods(datetime(2026, 10, 2, tzinfo=UTC))
    [acme_row] = _closing(customers["Acme AI"])
    # Acme used nothing of its 6,000 credits and paid its seats in advance: $0.00, paid, and the provider never asked.
    assert (acme_row.total_minor, acme_row.status, acme_row.payment_note) == (0, "paid", NOTHING_TO_PAY)
    assert acme_row.paid_at == datetime(2026, 10, 2, tzinfo=UTC)
    assert acme_row.next_payment_at is None
    assert gateway.asked == []


def test_only_payers_get_closing_invoices_and_a_department_paid_by_its_parent_rolls_up(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_demo(now=datetime(2026, 9, 1, 0, 30, tzinfo=UTC))
    gateway = Recording()
    monkeypatch.setattr(billing, "configured_gateway", lambda: gateway)
    with UnitOfWork() as uow:
        ids = {c.name: c.id for c in uow.session.exec(select(Customer)).all()}
    at = datetime(2026, 9, 10, tzinfo=UTC)
    # Research (pays its own overage, capped at 500,000 credits of the shared commitment) uses 600,000 credits;
    # Marketing (paid for by Globex, capped at 100,000) uses 50,000.
    used = [("Globex Research", "r1", 60_000_000), ("Globex Marketing", "m1", 5_000_000)]
    writer().refresh_metrics()
    writer().submit(
        [
            UsageEvent(f"t-{seat}", ids[name], TOKENS_EVENT, at, {"tokens": str(n), "user_id": seat})
            for name, seat, n in used
        ]
    ).result()
    run = close_periods(datetime(2026, 10, 2, tzinfo=UTC))
    by_customer = {invoice.customer_id: invoice for invoice in run.closed}
    assert set(by_customer) == {ids["Acme AI"], ids["Globex Corporation"], ids["Globex Research"]}
    # Research: 100,000 credits beyond its cap at $0.01 = $1,000.00, on its own invoice, collected.
    research = by_customer[ids["Globex Research"]]
    assert (research.total_due, research.status) == ("$1,000.00", "paid")
    assert gateway.asked == [research.id]
    # Globex: Marketing's 50,000 credits come from the shared commitment, on Globex's invoice; nothing to pay.
    globex = _row(by_customer[ids["Globex Corporation"]].id)
    assert (globex.total_minor, globex.status) == (0, "paid")
    contracts = {line["contract_id"] for line in globex.document["lines"]}
    assert contracts == {_contract_id(ids["Globex Marketing"])}
    assert _closing(ids["Globex Marketing"]) == []


# --- period opening (seats in advance) ----------------------------------------------------------------------


def _opening(customer_id: str) -> list[InvoiceRow]:
    """The customer's invoices that opened a period, oldest period first."""
    return _flagged(customer_id, "opens_period")


def test_seats_are_billed_in_advance_when_a_period_starts_and_not_again_at_its_close(initech: str) -> None:
    first, second = _periods()
    # Provisioning billed (and opened) the first month: the job has nothing to open until the second starts.
    assert [(r.period_start, r.total_minor) for r in _opening(initech)] == [(first.start, 12000)]
    assert open_periods(second.start - timedelta(seconds=1)).opened == ()
    [opened] = open_periods(second.start).opened
    # 3 seats x $40, the second month in advance, billed at its first instant.
    assert (opened.period_start, opened.total_due, opened.status) == (second.start, "$120.00", "finalized")
    assert [line.description for line in opened.lines] == ["3 seats in advance"]
    assert open_periods(second.start + timedelta(days=3)).opened == ()
    # Its close bills only what is left: no usage and the seats already billed, so nothing (paid, never collected).
    close_periods(second.end + GRACE)
    assert [(r.period_start, r.total_minor, r.status) for r in _closing(initech)] == [
        (first.start, 1000, "finalized"),
        (second.start, 0, "paid"),
    ]


def test_two_processes_opening_at_once_open_a_period_once(initech: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _, second = _periods()
    contract_id = _contract_id(initech)
    [opened] = open_periods(second.start).opened
    ledger = _ledger_size()

    def another_opener(session: Session, rated: billing.Rated, at: datetime) -> None:
        """What a process that had not seen the first opening invoice stores: a second one (refused)."""
        first = session.get(InvoiceRow, opened.id)
        assert first is not None
        fields = first.model_dump(exclude={"id", "created_at"})
        session.add(InvoiceRow(**fields))

    monkeypatch.setattr(period_close, "opening_periods", lambda session, at: [(contract_id, second)])
    monkeypatch.setattr(billing, "finalize_due_now", another_opener)
    again = open_periods(second.start + timedelta(minutes=1))
    assert (again.opened, again.failures) == ((), ())
    assert [r.id for r in _opening(initech)][-1] == opened.id
    assert _ledger_size() == ledger


def test_a_seat_change_before_the_job_came_round_opens_the_period(initech: str) -> None:
    _, second = _periods()
    billing.change_seats(STAFF, initech, quantity=4, at=second.start + timedelta(hours=2))
    [opening] = _opening(initech)[1:]
    # 3 seats x $40 for the month, and the 4th for all of it but its first 2 hours (prorated by the hour).
    hours = (second.end - second.start) // timedelta(hours=1)
    fourth = (Decimal(4000) * (hours - 2) / hours).quantize(Decimal(1), ROUND_HALF_EVEN)
    assert (opening.period_start, opening.total_minor) == (second.start, 12000 + int(fourth))
    assert open_periods(second.start + timedelta(hours=3)).opened == ()


# --- retries ------------------------------------------------------------------------------------------------


def test_the_retry_schedule_counts_from_the_first_failure() -> None:
    failed = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    assert (timedelta(days=1), timedelta(days=3), timedelta(days=7)) == RETRY_AFTER
    assert next_retry(failed, failed) == failed + timedelta(days=1)
    assert next_retry(failed, failed + timedelta(days=1)) == failed + timedelta(days=3)
    assert next_retry(failed, failed + timedelta(days=2)) == failed + timedelta(days=3), "a pay-again meanwhile"
    assert next_retry(failed, failed + timedelta(days=6, hours=23)) == failed + timedelta(days=7)
    assert next_retry(failed, failed + timedelta(days=7)) is None


def test_a_declined_card_is_retried_on_schedule_and_paid_once_the_card_is_replaced(
    initech: str, fake_stripe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = _periods()
    gateway = CardOnFile(fake_stripe, DECLINED_AT_CHARGE)
    monkeypatch.setattr(billing, "configured_gateway", lambda: gateway)
    t0 = first.end + GRACE
    [failed] = close_periods(t0).closed
    assert failed.status == "payment_failed"
    assert failed.payment_note.startswith(DECLINED)
    row = _row(failed.id)
    assert (row.payment_failed_at, row.next_payment_at) == (t0, t0 + timedelta(days=1))
    assert failed.next_payment_at == t0 + timedelta(days=1)
    assert retry_payments(t0 + timedelta(hours=23)).retried == ()
    [again] = retry_payments(t0 + timedelta(days=1)).retried
    assert again.status == "payment_failed"
    assert _row(failed.id).next_payment_at == t0 + timedelta(days=3)
    customer = _stored(Customer, initech).payment_customer_id
    assert customer is not None
    assert gateway.set_default_card(customer, GOOD_CARD) is None  # the admin replaces the card
    [paid] = retry_payments(t0 + timedelta(days=3)).retried
    assert paid.status == "paid"
    row = _row(failed.id)
    assert (row.status, row.paid_at, row.next_payment_at, row.payment_attempts) == (
        "paid",
        t0 + timedelta(days=3),
        None,
        3,
    )
    assert retry_payments(t0 + timedelta(days=30)).retried == ()
    assert stripe_charges(fake_stripe)(customer) == [(1000, "failed"), (1000, "failed"), (1000, "succeeded")]


def test_after_the_last_retry_the_payment_stays_failed_and_is_not_tried_again(
    initech: str, fake_stripe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = _periods()
    monkeypatch.setattr(billing, "configured_gateway", lambda: CardOnFile(fake_stripe, DECLINED_AT_CHARGE))
    t0 = first.end + GRACE
    [invoice] = close_periods(t0).closed
    for days in (1, 3, 7):
        [retried] = retry_payments(t0 + timedelta(days=days)).retried
        assert retried.status == "payment_failed"
    row = _row(invoice.id)
    assert (row.status, row.next_payment_at, row.payment_attempts) == ("payment_failed", None, 4)
    assert row.payment_note.startswith(DECLINED)
    assert row.payment_note.endswith(NO_MORE_RETRIES)
    assert retry_payments(t0 + timedelta(days=60)).retried == ()
    customer = _stored(Customer, initech).payment_customer_id
    assert [status for _, status in stripe_charges(fake_stripe)(customer)] == ["failed"] * 4


def test_an_unreachable_provider_is_retried_and_then_the_payment_shows_as_failed(
    initech: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = _periods()
    gateway = Unreachable()
    monkeypatch.setattr(billing, "configured_gateway", lambda: gateway)
    t0 = first.end + GRACE
    [invoice] = close_periods(t0).closed
    assert invoice.status == "finalized", "nothing is known to have failed: it is still due"
    assert invoice.payment_note == "The payment could not be completed: the connection timed out"
    assert _row(invoice.id).next_payment_at == t0 + timedelta(days=1)
    for days in (1, 3):
        [retried] = retry_payments(t0 + timedelta(days=days)).retried
        assert retried.status == "finalized"
    [last] = retry_payments(t0 + timedelta(days=7)).retried
    assert (last.status, last.payment_note, last.next_payment_at) == (
        "payment_failed",
        f"The payment could not be completed: the connection timed out. {NO_MORE_RETRIES}",
        None,
    )
    assert gateway.asked == [invoice.id] * 4


def test_the_offline_gateway_is_never_retried_into_a_success(initech: str) -> None:
    first, _ = _periods()
    t0 = first.end + GRACE
    [invoice] = close_periods(t0).closed
    assert (invoice.status, invoice.payment_note) == ("finalized", NOT_CONFIGURED)
    assert _row(invoice.id).next_payment_at is None
    assert retry_payments(t0 + timedelta(days=30)).retried == ()
    assert _row(invoice.id).status == "finalized"


def test_an_attempt_that_never_recorded_its_outcome_is_collected_by_the_job_once(
    initech: str, fake_stripe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = _periods()
    gateway = CardOnFile(fake_stripe)
    gateway.crash_after_pay = True  # the process dies after Stripe charged, before our database knew
    monkeypatch.setattr(billing, "configured_gateway", lambda: gateway)
    t0 = first.end + GRACE
    run = close_periods(t0)
    assert run.closed == ()
    assert "after pay, before our database recorded it" in run.failures[0]
    [row] = _closing(initech)
    assert (row.status, row.next_payment_at) == ("finalized", t0 + billing.COLLECTION_LEASE)
    assert retry_payments(t0 + billing.COLLECTION_LEASE - timedelta(seconds=1)).retried == ()
    [paid] = retry_payments(t0 + billing.COLLECTION_LEASE).retried
    assert paid.status == "paid"
    assert stripe_charges(fake_stripe)(_stored(Customer, initech).payment_customer_id) == [(1000, "succeeded")]


def test_a_payment_being_retried_by_one_process_is_left_alone_by_another(
    initech: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = _periods()
    t0 = first.end + GRACE
    monkeypatch.setattr(billing, "configured_gateway", Unreachable)
    [invoice] = close_periods(t0).closed
    nested: list[period_close.BillingRun] = []

    class RetriedElsewhereMeanwhile(Recording):
        def settle(self, request: CollectionRequest, reference: str | None) -> CollectionResult:
            nested.append(retry_payments(t0 + timedelta(days=1)))  # another process's run, during this attempt
            return super().settle(request, reference)

    gateway = RetriedElsewhereMeanwhile()
    monkeypatch.setattr(billing, "configured_gateway", lambda: gateway)
    [paid] = retry_payments(t0 + timedelta(days=1)).retried
    assert paid.status == "paid"
    assert [run.retried for run in nested] == [()]
    assert gateway.asked == [invoice.id]


def test_one_run_of_the_job_closes_and_retries_logs_what_it_did_and_never_raises(
    initech: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="portal.jobs")
    first, _ = _periods()
    monkeypatch.setattr(billing, "configured_gateway", Unreachable)
    result = run_billing_once(first.end + GRACE)
    assert result is not None
    assert [(i.period_start, i.status) for i in result.closed] == [(first.start, "finalized")]
    assert [(i.period_start, i.status) for i in result.opened] == [(first.end, "finalized")]  # the next month's seats
    assert (
        "Billing job: closed 1 period(s) (1 finalized), opened 1 period(s) (1 finalized), retried 0 payment(s)"
        in caplog.text
    )
    monkeypatch.setattr(billing, "configured_gateway", Recording)
    result = run_billing_once(first.end + GRACE + timedelta(days=1))
    assert result is not None
    assert [i.status for i in result.retried] == ["paid", "paid"]
    assert "Billing job: closed 0 period(s), opened 0 period(s), retried 2 payment(s) (2 paid)" in caplog.text

    def broken(now: datetime | None = None, keep_going: object = None) -> period_close.BillingRun:
        raise RuntimeError("the database went away")

    monkeypatch.setattr("portal.jobs.run_billing", broken)
    assert run_billing_once() is None
    assert "The billing job failed" in caplog.text


def test_a_stopping_server_ends_the_run_between_invoices(initech: str) -> None:
    _, second = _periods()
    assert run_billing(second.end + GRACE, keep_going=lambda: False) == period_close.BillingRun()
    assert _closing(initech) == []


# --- paying again -------------------------------------------------------------------------------------------


def _failed_purchase(buyer: Identity, gateway: CardOnFile, monkeypatch: pytest.MonkeyPatch) -> tuple[Identity, str]:
    monkeypatch.setattr(billing, "configured_gateway", lambda: gateway)
    bought = purchase(buyer, "team", 3, "Initech")
    assert bought.invoice is not None
    assert bought.invoice.status == "payment_failed"
    admin = replace(buyer, customer_id=bought.customer_id, role="admin")
    return admin, bought.invoice.id


def test_an_admin_pays_again_after_replacing_the_card_and_is_charged_once(
    buyer: Identity, fake_stripe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = CardOnFile(fake_stripe, DECLINED_AT_CHARGE)
    admin, invoice_id = _failed_purchase(buyer, gateway, monkeypatch)
    _, _, customer = the_invoice()
    assert customer.payment_customer_id is not None
    # The admin is told (the dashboard's banner); a member is not.
    assert [f.invoice_id for f in dashboard(admin).failed_payments] == [invoice_id]
    assert dashboard(replace(admin, role="member")).failed_payments == ()
    declined = billing.pay_again(admin, invoice_id)
    assert (declined.status, declined.payment_note[: len(DECLINED)]) == ("payment_failed", DECLINED)
    assert gateway.set_default_card(customer.payment_customer_id, GOOD_CARD) is None
    paid = billing.pay_again(admin, invoice_id)
    assert (paid.status, paid.total_due) == ("paid", "$120.00")
    assert stripe_charges(fake_stripe)(customer.payment_customer_id) == [
        (12000, "failed"),
        (12000, "failed"),
        (12000, "succeeded"),
    ]
    with pytest.raises(InvalidInput, match=f"Invoice {invoice_id} is paid already"):
        billing.pay_again(admin, invoice_id)
    assert _row(invoice_id).next_payment_at is None


def test_only_the_accounts_admins_and_staff_pay_again(buyer: Identity, monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = Unreachable()
    monkeypatch.setattr(billing, "configured_gateway", lambda: gateway)
    bought = purchase(buyer, "team", 3, "Initech Two")
    assert bought.invoice is not None
    invoice_id = bought.invoice.id
    member = replace(buyer, customer_id=bought.customer_id, role="member", email="mo@initech.test")
    with pytest.raises(Forbidden, match="Only an admin of this account or staff can pay its invoices"):
        billing.pay_again(member, invoice_id)
    with pytest.raises(NotFound, match=f"There is no invoice {invoice_id}"):
        billing.pay_again(CUSTOMER_USER, invoice_id)
    with pytest.raises(NotFound, match="There is no invoice inv_nope"):
        billing.pay_again(STAFF, "inv_nope")
    assert gateway.asked == [invoice_id], "only the purchase itself was collected"
    assert billing.pay_again(STAFF, invoice_id).status == "finalized"
    assert gateway.asked == [invoice_id, invoice_id]
    with UnitOfWork() as uow:
        row = uow.session.get(InvoiceRow, invoice_id)
        assert row is not None
        row.status = "void"
        uow.session.add(row)
    with pytest.raises(InvalidInput, match=f"Invoice {invoice_id} was voided: there is nothing to pay"):
        billing.pay_again(replace(member, role="admin"), invoice_id)


def test_an_invoice_settled_meanwhile_is_not_overwritten_by_a_late_outcome(
    initech: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = _periods()
    t0 = first.end + GRACE

    class PaidElsewhereMeanwhile(Recording):
        def settle(self, request: CollectionRequest, reference: str | None) -> CollectionResult:
            with UnitOfWork() as uow:  # a webhook marks it paid while this attempt waits for the provider
                row = uow.session.get(InvoiceRow, request.invoice_id)
                assert row is not None
                row.status, row.payment_note = "paid", "Paid by card."
                uow.session.add(row)
            raise PaymentProviderError("the connection timed out")

    monkeypatch.setattr(billing, "configured_gateway", PaidElsewhereMeanwhile)
    [invoice] = close_periods(t0).closed
    assert (invoice.status, invoice.payment_note) == ("paid", "Paid by card.")
    assert (_row(invoice.id).status, _row(invoice.id).payment_note) == ("paid", "Paid by card.")


def test_the_lifespan_task_runs_the_job_at_startup_and_stops_cleanly_at_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs: list[datetime | None] = []

    def recorded(now: datetime | None = None, keep_going: object = None) -> period_close.BillingRun:
        runs.append(now)
        raise RuntimeError("the database went away")  # logged; the job keeps going

    monkeypatch.setattr("portal.jobs.run_billing", recorded)

    async def serve() -> float:
        async with billing_job():
            await asyncio.sleep(1.8)  # the run at startup, and one a second later
            stopping = time.monotonic()
        return time.monotonic() - stopping

    with settings_env({"BILLING_JOB_INTERVAL_SECONDS": "1"}):
        shutdown_seconds = asyncio.run(serve())
    assert len(runs) == 2
    assert shutdown_seconds < 1
