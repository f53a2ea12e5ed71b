"""Credits for money against the Stripe fake, on SQLite and PostgreSQL: buying prepaid credits and auto-recharge.

Initech (the ``initech`` fixture) is on Team with 3 seats: 6,000 pooled AI credits this period, none used yet. AI
credits cost $0.01 each, and 100,000 AI tokens use 1,000 credits. Credits are granted only once the payment
succeeded, once per purchase whoever grants them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
import stripe
from fastapi.testclient import TestClient
from sqlmodel import func, select

from portal.api.app import create_api
from portal.db.models import AutoRechargeRow, CreditPurchaseRow, Customer, GrantRow, InvoiceRow, User, utcnow
from portal.db.uow import UnitOfWork
from portal.domain.metrics import UsageEvent
from portal.domain.periods import add_months
from portal.payments.stripe_gateway import DECLINED
from portal.services import billing, credit_purchases, dashboard, payment_events, period_close
from portal.services.api_keys import create_api_key
from portal.services.credit_purchases import buy_credits, check_auto_recharge, set_auto_recharge
from portal.services.demo_catalog import TOKENS_EVENT
from portal.services.errors import Forbidden, InvalidInput, NotFound
from portal.services.identity import Identity
from portal.services.ingest_writer import writer
from tests.integration.conftest import CUSTOMER_USER, STAFF
from tests.support.mail import Outbox
from tests.support.payments import DECLINED_AT_CHARGE, GOOD_CARD, CardOnFile, Crash, stripe_charges
from tests.support.settings import settings_env
from tests.support.stripe import TEST_WEBHOOK_SECRET, stripe_settings


class Watched(CardOnFile):
    """The Stripe gateway with a saved card that notes, as it charges, how many purchased grants exist."""

    grants_when_charged: list[int]

    def pay(self, reference: str, idempotency_key: str) -> stripe.Invoice:
        self.grants_when_charged = [*getattr(self, "grants_when_charged", []), len(_purchased_grants())]
        return super().pay(reference, idempotency_key)


@pytest.fixture
def admin(initech: str) -> Identity:
    """An admin of Initech (with a user row, so that mail to the admins reaches ann@initech.test)."""
    with UnitOfWork() as uow:
        uow.session.add(User(email="ann@initech.test", name="Ann", customer_id=initech, role="admin"))
    return replace(CUSTOMER_USER, customer_id=initech, email="ann@initech.test")


@pytest.fixture
def cards(fake_stripe: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Watched]]:
    """Stripe is configured (the fake), and payments go through a gateway with the card chosen by key."""
    chosen: dict[str, Watched] = {"good": Watched(fake_stripe)}
    monkeypatch.setattr(billing, "configured_gateway", lambda: chosen["good"])
    with settings_env(stripe_settings(fake_stripe)):
        yield chosen


@pytest.fixture
def declined(cards: dict[str, Watched], fake_stripe: str) -> Watched:
    """The customer's card is declined at charge."""
    cards["good"] = Watched(fake_stripe, DECLINED_AT_CHARGE)
    return cards["good"]


def _purchased_grants() -> list[GrantRow]:
    with UnitOfWork() as uow:
        rows = list(uow.session.exec(select(GrantRow).where(GrantRow.source == "purchase")).all())
        uow.session.expunge_all()
    return rows


def _pool(customer_id: str) -> str:
    [pool] = billing.balances(STAFF, customer_id).pooled
    return pool.remaining


def _charges(fake_stripe: str, customer_id: str) -> list[tuple[int, str]]:
    """(amount, status) of every charge Stripe made to the customer, oldest first."""
    return stripe_charges(fake_stripe)(_stripe_customer(customer_id))


def _use(customer_id: str, tokens: int, txn: str) -> None:
    """Store ``tokens`` AI tokens of usage by ann a minute ago (100,000 tokens use 1,000 credits)."""
    properties = {"tokens": str(tokens), "user_id": "ann"}
    event = UsageEvent(txn, customer_id, TOKENS_EVENT, utcnow() - timedelta(minutes=1), properties)
    writer().submit([event]).result()


# --- quotes and who may buy --------------------------------------------------------------------------


def test_a_quote_is_credits_times_the_unit_price_with_clear_refusals(admin: Identity) -> None:
    customer = admin.customer_id or ""
    quote = credit_purchases.quote_credits(admin, customer, "10000")
    assert (quote.label, quote.price, quote.price_minor) == ("10,000 AI credits", "$100.00", 10000)
    assert quote.question == "Buy 10,000 AI credits for $100.00?"
    offer = credit_purchases.credit_offer(admin, customer)
    assert (offer.credit_type, offer.unit_price, offer.minimum) == ("AI credits", "$0.01", "100 AI credits")
    assert offer.refusal.startswith("Buying credits needs card payments")
    for wrong, reason in [
        ("10.5", "whole number of credits"),
        ("99", "Buy between 100 AI credits and 10,000,000 AI credits"),
        ("ten", "is not a number"),
        (1.5, "not float"),
    ]:
        with pytest.raises(InvalidInput, match=reason):
            credit_purchases.quote_credits(admin, customer, wrong)


def test_only_the_customers_admins_and_staff_may_buy(admin: Identity, cards: dict[str, Watched]) -> None:
    customer = admin.customer_id or ""
    with pytest.raises(Forbidden, match="Only an admin of this account or staff"):
        buy_credits(replace(admin, role="member"), customer, "1000")
    with pytest.raises(NotFound):
        buy_credits(replace(admin, customer_id="cus_other"), customer, "1000")
    with pytest.raises(Forbidden):
        credit_purchases.purchases(replace(admin, role="member"), customer)
    with pytest.raises(NotFound):
        set_auto_recharge(replace(admin, customer_id="cus_other"), customer, True, "1000", "5000")
    assert credit_purchases.quote_credits(STAFF, customer, "1000").price == "$10.00"
    assert _purchased_grants() == []


def test_without_a_payment_provider_a_purchase_is_refused_and_nothing_is_written(admin: Identity) -> None:
    customer = admin.customer_id or ""
    with UnitOfWork() as uow:
        invoices = uow.session.exec(select(func.count()).select_from(InvoiceRow)).one()
    with pytest.raises(InvalidInput, match=r"Buying credits needs card payments: .*STRIPE_SECRET_KEY"):
        buy_credits(admin, customer, "10000")
    with pytest.raises(InvalidInput, match="Auto-recharge needs card payments"):
        set_auto_recharge(admin, customer, True, "1000", "5000")
    with UnitOfWork() as uow:
        assert uow.session.exec(select(func.count()).select_from(InvoiceRow)).one() == invoices
        assert uow.session.exec(select(CreditPurchaseRow)).all() == []
    assert _purchased_grants() == []
    assert _pool(customer) == "6,000 AI credits"


# --- buying ----------------------------------------------------------------------------------------


def test_buying_charges_once_then_grants_the_credits_once(
    admin: Identity, cards: dict[str, Watched], fake_stripe: str
) -> None:
    customer = admin.customer_id or ""
    draft_before = billing.draft(admin, customer)
    bought = buy_credits(admin, customer, "10000", request_key="buy-1")
    assert (bought.status, bought.credits, bought.price, bought.price_minor) == (
        "paid",
        "10,000 AI credits",
        "$100.00",
        10000,
    )
    assert cards["good"].grants_when_charged == [0], "nothing was granted before the card was charged"
    assert _charges(fake_stripe, customer) == [(10000, "succeeded")]
    [grant] = _purchased_grants()
    assert (grant.id, grant.kind, grant.scope, grant.amount) == (bought.grant_id, "commit", "contract", Decimal(10000))
    assert grant.ending_before == add_months(bought.created_at, credit_purchases.VALID_MONTHS)
    assert _pool(customer) == "16,000 AI credits"
    # The purchase's invoice is paid, listed with the others, and no part of the period's draft.
    invoice = next(i for i in billing.invoices(admin, customer) if i.id == bought.invoice_id)
    assert (invoice.status, invoice.total_due_minor, invoice.lines[0].description) == (
        "paid",
        10000,
        "10,000 AI credits, prepaid",
    )
    assert billing.draft(admin, customer).lines == draft_before.lines
    # The same request again, a webhook, a reconciliation: nothing more is charged or granted.
    again = buy_credits(admin, customer, "10000", request_key="buy-1")
    assert (again.id, again.grant_id) == (bought.id, bought.grant_id)
    with UnitOfWork() as uow:
        assert credit_purchases.grant_if_paid(uow.session, bought.invoice_id) is None
    credit_purchases.reconcile(customer)
    with pytest.raises(InvalidInput, match="is paid: there is nothing to pay"):
        credit_purchases.pay_again(admin, customer, bought.id)
    assert _charges(fake_stripe, customer) == [(10000, "succeeded")]
    assert len(_purchased_grants()) == 1
    assert _pool(customer) == "16,000 AI credits"
    assert [p.status for p in credit_purchases.purchases(admin, customer)] == ["paid"]


def test_a_declined_card_grants_nothing_and_paying_again_grants_once(
    admin: Identity, declined: Watched, fake_stripe: str
) -> None:
    customer = admin.customer_id or ""
    bought = buy_credits(admin, customer, "2500")
    assert (bought.status, bought.grant_id, bought.price) == ("failed", None, "$25.00")
    assert bought.note.startswith(DECLINED)
    assert _purchased_grants() == []
    assert _pool(customer) == "6,000 AI credits"
    [listed] = credit_purchases.purchases(admin, customer)
    assert listed.status == "failed"
    # Not a debt: no automatic retry (credits bought days later would surprise), and no failed-payment banner.
    with UnitOfWork() as uow:
        purchase = uow.session.get(CreditPurchaseRow, bought.id)
        invoice = uow.session.get(InvoiceRow, purchase.invoice_id if purchase else "")
        assert invoice is not None
        uow.session.expunge(invoice)
    assert (invoice.status, invoice.next_payment_at) == ("payment_failed", None)
    retried = period_close.retry_payments(utcnow() + timedelta(days=8)).retried
    assert invoice.id not in [i.id for i in retried]
    assert invoice.id not in [f.invoice_id for f in dashboard.dashboard(admin).failed_payments]
    assert declined.set_default_card(_stripe_customer(customer), GOOD_CARD) is None
    paid = credit_purchases.pay_again(admin, customer, bought.id)
    assert (paid.status, paid.grant_id) == ("paid", f"grt_{bought.id}")
    assert [status for _, status in _charges(fake_stripe, customer)] == ["failed", "succeeded"]
    assert _pool(customer) == "8,500 AI credits"


def _stripe_customer(customer_id: str) -> str:
    with UnitOfWork() as uow:
        found = uow.session.get(Customer, customer_id)
        assert found is not None
        assert found.payment_customer_id is not None
        return found.payment_customer_id


def _deliver(event_id: str, kind: str, reference: str) -> payment_events.EventOutcome:
    """A Stripe webhook delivery, signed as Stripe signs it."""
    payload = json.dumps({"id": event_id, "object": "event", "type": kind, "data": {"object": {"id": reference}}})
    header = stripe.WebhookSignature.generate_signature_header(payload, TEST_WEBHOOK_SECRET)
    return payment_events.receive_stripe_event(payload.encode(), header)


def test_a_purchase_paid_later_at_stripe_is_granted_once_by_the_webhook(
    admin: Identity, declined: Watched, fake_stripe: str
) -> None:
    customer = admin.customer_id or ""
    bought = buy_credits(admin, customer, "1000")
    assert bought.status == "failed"
    with UnitOfWork() as uow:
        invoice = uow.session.get(InvoiceRow, bought.invoice_id)
        assert invoice is not None
        reference = invoice.payment_reference
    assert reference is not None
    # The customer fixes the card and the invoice is paid at Stripe; only the webhook tells us.
    assert declined.set_default_card(_stripe_customer(customer), GOOD_CARD) is None
    assert declined.pay(reference, f"{reference}:paid-at-stripe").status == "paid"
    assert "marked paid" in _deliver("evt_credits_1", "invoice.paid", reference).outcome
    assert _deliver("evt_credits_2", "invoice.payment_succeeded", reference).outcome.startswith("nothing to do")
    assert _deliver("evt_credits_1", "invoice.paid", reference).duplicate
    [grant] = _purchased_grants()
    assert grant.id == f"grt_{bought.id}"
    [listed] = credit_purchases.purchases(admin, customer)
    assert (listed.status, listed.grant_id) == ("paid", grant.id)
    assert _pool(customer) == "7,000 AI credits"


# --- auto-recharge ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "target", "reason"),
    [
        ("0", "5000", "threshold must be more than 0"),
        ("1000", "1000", "must be at least 100 credits above the threshold"),
        ("1000", "1050", "must be at least 100 credits above the threshold"),
        ("1000.5", "5000", "threshold must be a whole number"),
        ("1000", "20000000", "target can be at most 10,000,000"),
        ("", "5000", "threshold '' is not a number"),
    ],
)
def test_auto_recharge_settings_are_checked(
    admin: Identity, cards: dict[str, Watched], threshold: str, target: str, reason: str
) -> None:
    with pytest.raises(InvalidInput, match=reason):
        set_auto_recharge(admin, admin.customer_id or "", True, threshold, target)


def test_auto_recharge_buys_up_to_the_target_after_ingest_through_the_api(
    admin: Identity, cards: dict[str, Watched], fake_stripe: str
) -> None:
    customer = admin.customer_id or ""
    view = set_auto_recharge(admin, customer, True, "1000", "5000")
    assert (view.enabled, view.threshold, view.target) == (True, "1000", "5000")
    key = create_api_key(STAFF, "ingest", ["ingest"], customer).token
    event = {
        "transaction_id": "big-1",
        "customer_id": customer,
        "event_type": TOKENS_EVENT,
        "timestamp": (utcnow() - timedelta(minutes=1)).isoformat(),
        "properties": {"tokens": "550000", "user_id": "ann"},  # 5,500 credits: 500 of 6,000 are left
    }
    with TestClient(create_api()) as client:
        response = client.post("/api/v1/ingest", json=[event], headers={"Authorization": f"Bearer {key}"})
    assert response.json()["accepted"] == 1
    deadline = utcnow() + timedelta(seconds=15)
    while utcnow() < deadline and [p.status for p in credit_purchases.purchases(admin, customer)] in ([], ["pending"]):
        threading.Event().wait(0.1)  # the watcher stores the purchase, then collects it
    [bought] = credit_purchases.purchases(admin, customer)
    # Below 1,000 with 500 left: 4,500 credits for $45.00 bring the pool to 5,000.
    assert (bought.source, bought.status, bought.credits, bought.price) == (
        "auto",
        "paid",
        "4,500 AI credits",
        "$45.00",
    )
    assert _pool(customer) == "5,000 AI credits"
    assert _charges(fake_stripe, customer) == [(4500, "succeeded")]
    settings = credit_purchases.auto_recharge(admin, customer)
    assert settings.enabled
    assert settings.last_outcome.startswith("Bought 4,500 AI credits (the balance was 500 AI credits, below 1,000")
    assert check_auto_recharge(customer) is None, "at the target, nothing more is bought"


def test_two_checks_at_once_recharge_once(admin: Identity, cards: dict[str, Watched], fake_stripe: str) -> None:
    customer = admin.customer_id or ""
    set_auto_recharge(admin, customer, True, "1000", "3000")
    _use(customer, 575_000, "big-2")  # 5,750 credits: 250 left
    start = threading.Barrier(3)
    results: list[object] = []

    def check() -> None:
        start.wait()
        results.append(check_auto_recharge(customer))

    threads = [threading.Thread(target=check) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    bought = [r for r in results if r is not None]
    assert len(results) == 3
    assert len(bought) == 1
    assert _charges(fake_stripe, customer) == [(2750, "succeeded")]  # 3,000 − 250 credits at $0.01
    assert len(_purchased_grants()) == 1
    assert _pool(customer) == "3,000 AI credits"
    with UnitOfWork() as uow:
        row = uow.session.get(AutoRechargeRow, customer)
        assert row is not None
        assert row.recharging_since is None, "the claim is released"


def test_a_failed_auto_recharge_turns_it_off_and_mails_the_admins(
    admin: Identity, declined: Watched, outbox: Outbox, fake_stripe: str
) -> None:
    customer = admin.customer_id or ""
    set_auto_recharge(admin, customer, True, "2000", "6000")
    _use(customer, 450_000, "big-3")  # 4,500 credits: 1,500 left
    bought = check_auto_recharge(customer)
    assert bought is not None
    assert (bought.status, bought.credits, bought.price, bought.grant_id) == (
        "failed",
        "4,500 AI credits",
        "$45.00",
        None,
    )
    assert _purchased_grants() == []
    assert _pool(customer) == "1,500 AI credits"
    settings = credit_purchases.auto_recharge(admin, customer)
    assert not settings.enabled
    assert settings.last_outcome.startswith("The payment of $45.00 for 4,500 AI credits (the balance was 1,500")
    assert DECLINED in settings.last_outcome
    assert settings.turned_off.startswith("Auto-recharge was turned off on ")
    [mail] = outbox.to("ann@initech.test")
    assert "Subject: Auto-recharge is off for Initech: a payment failed" in mail
    assert "The payment of $45.00 for 4,500 AI credits" in mail
    assert "/customer" in mail
    _use(customer, 100_000, "big-4")
    assert check_auto_recharge(customer) is None, "off: nothing more is tried"
    assert [status for _, status in _charges(fake_stripe, customer)] == ["failed"]
    # Turning it on again clears the notice.
    assert set_auto_recharge(admin, customer, True, "2000", "6000").turned_off == ""


def test_a_recharge_cut_short_waits_then_is_carried_on_and_charged_once(
    admin: Identity, cards: dict[str, Watched], fake_stripe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = admin.customer_id or ""
    set_auto_recharge(admin, customer, True, "1000", "5000")
    _use(customer, 550_000, "big-5")  # 500 left
    cards["good"].crash_before_pay = True
    with pytest.raises(Crash):
        check_auto_recharge(customer)
    [waiting] = credit_purchases.purchases(admin, customer)
    assert (waiting.status, waiting.credits) == ("pending", "4,500 AI credits")
    assert check_auto_recharge(customer) is None, "another recharge waits for the one in flight"
    assert credit_purchases.auto_recharge(admin, customer).last_outcome.startswith(
        "A recharge of 4,500 AI credits waits for its payment"
    )
    monkeypatch.setattr(credit_purchases, "CLAIM_EXPIRES", timedelta(0))  # as if its process had died long ago
    carried = check_auto_recharge(customer)
    assert carried is not None
    assert (carried.id, carried.status) == (waiting.id, "paid")
    assert _charges(fake_stripe, customer) == [(4500, "succeeded")]
    assert _pool(customer) == "5,000 AI credits"
    assert check_auto_recharge(customer) is None
