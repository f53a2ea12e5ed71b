"""``POST /api/stripe/webhook`` against the fake Stripe: signature, staleness and replay; re-fetch wins over payload.

Events are built and signed here with the SDK (``stripe.WebhookSignature.generate_signature_header``), as Stripe
would sign them with the endpoint's secret; the invoices they name are real invoices of the fake.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import stripe
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import select

from portal.api.app import create_api
from portal.db.models import InvoiceRow, PaymentEventRow, utcnow
from portal.db.uow import UnitOfWork
from portal.payments.stripe_gateway import DECLINED
from portal.services import billing
from portal.services.identity import Identity
from portal.services.payment_events import UNCOLLECTIBLE_NOTE, VOIDED_NOTE
from portal.services.period_close import retry_payments
from portal.services.purchase import purchase
from tests.support.payments import DECLINED_AT_CHARGE, GOOD_CARD, CardOnFile, the_invoice
from tests.support.settings import settings_env
from tests.support.stripe import TEST_SECRET_KEY, TEST_WEBHOOK_SECRET, stripe_settings

SECRET = TEST_WEBHOOK_SECRET


@dataclass
class Failed:
    """An invoice whose card was declined at Stripe: ours is payment_failed, Stripe's is open."""

    gateway: CardOnFile
    invoice_id: str
    reference: str
    customer: str

    def pay_at_stripe(self) -> None:
        """The customer fixes the card and the invoice is paid at Stripe; our database is not told."""
        assert self.gateway.set_default_card(self.customer, GOOD_CARD) is None
        assert self.gateway.pay(self.reference, f"{self.reference}:test-pay").status == "paid"


@pytest.fixture
def client(database: str, fake_stripe: str) -> Iterator[TestClient]:
    env = stripe_settings(fake_stripe)
    with settings_env(env), TestClient(create_api(), base_url="http://127.0.0.1:3000") as test_client:
        yield test_client


@pytest.fixture
def failed(buyer: Identity, fake_stripe: str, monkeypatch: pytest.MonkeyPatch) -> Failed:
    gateway = CardOnFile(fake_stripe, DECLINED_AT_CHARGE)
    monkeypatch.setattr(billing, "configured_gateway", lambda: gateway)
    purchase(buyer, "team", 3, "Initech")
    _, row, customer = the_invoice()
    assert row.status == "payment_failed"
    assert row.payment_reference is not None
    assert customer.payment_customer_id is not None
    return Failed(gateway, row.id, row.payment_reference, customer.payment_customer_id)


def signed(
    event_id: str, kind: str, obj: dict[str, Any], secret: str = SECRET, timestamp: int | None = None
) -> tuple[str, str]:
    payload = json.dumps({"id": event_id, "object": "event", "type": kind, "data": {"object": obj}})
    return payload, stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)


def post(client: TestClient, payload: str, header: str | None) -> Response:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    return client.post("/api/stripe/webhook", content=payload.encode(), headers=headers)


def paid_event(event_id: str, reference: str, **kw: Any) -> tuple[str, str]:
    return signed(event_id, "invoice.paid", {"id": reference, "object": "invoice", "status": "paid"}, **kw)


def stored(invoice_id: str) -> InvoiceRow:
    with UnitOfWork() as uow:
        row = uow.session.get(InvoiceRow, invoice_id)
        assert row is not None
        uow.session.expunge(row)
    return row


def event_ids() -> list[str]:
    with UnitOfWork() as uow:
        return list(uow.session.exec(select(PaymentEventRow.id).order_by(PaymentEventRow.id)).all())


def test_a_signed_invoice_paid_marks_a_failed_invoice_paid_once(client: TestClient, failed: Failed) -> None:
    failed.pay_at_stripe()
    response = post(client, *paid_event("evt_paid_1", failed.reference))
    assert response.status_code == 200
    assert response.json()["duplicate"] is False
    assert "marked paid" in response.json()["outcome"]
    row = stored(failed.invoice_id)
    assert (row.status, row.payment_note) == ("paid", "Paid by card.")
    assert row.paid_at is not None
    # Another event (Stripe sends invoice.payment_succeeded too) finds it paid and leaves paid_at alone.
    again = post(client, *signed("evt_paid_2", "invoice.payment_succeeded", {"id": failed.reference}))
    assert again.status_code == 200
    assert "is paid" in again.json()["outcome"]
    assert stored(failed.invoice_id).paid_at == row.paid_at
    assert event_ids() == ["evt_paid_1", "evt_paid_2"]


def test_a_forged_or_missing_signature_is_refused_and_changes_nothing(client: TestClient, failed: Failed) -> None:
    failed.pay_at_stripe()  # a genuine invoice.paid would now mark it paid
    payload, forged = paid_event("evt_forged", failed.reference, secret="whsec_someone_else")
    refused = post(client, payload, forged)
    assert refused.status_code == 400
    assert "does not sign this body" in refused.json()["detail"]
    _, genuine = paid_event("evt_forged", failed.reference)
    tampered = post(client, payload.replace("evt_forged", "evt_tampered"), genuine)
    assert tampered.status_code == 400
    unsigned = post(client, payload, None)
    assert unsigned.status_code == 400
    assert "No Stripe-Signature header" in unsigned.json()["detail"]
    assert stored(failed.invoice_id).status == "payment_failed"
    assert event_ids() == []


def test_a_stale_event_is_refused_and_changes_nothing(client: TestClient, failed: Failed) -> None:
    failed.pay_at_stripe()
    response = post(client, *paid_event("evt_stale", failed.reference, timestamp=int(time.time()) - 301))
    assert response.status_code == 400
    assert "stale" in response.json()["detail"]
    assert stored(failed.invoice_id).status == "payment_failed"
    assert event_ids() == []


def test_a_replayed_event_id_is_acknowledged_and_changes_nothing(client: TestClient, failed: Failed) -> None:
    failed.pay_at_stripe()
    payload, header = paid_event("evt_once", failed.reference)
    assert post(client, payload, header).json()["duplicate"] is False
    assert stored(failed.invoice_id).status == "paid"
    with UnitOfWork() as uow:  # staff reopen the invoice; a replay of the old event must not pay it again
        row = uow.session.get(InvoiceRow, failed.invoice_id)
        assert row is not None
        row.status, row.paid_at = "payment_failed", None
        uow.session.add(row)
    replay = post(client, payload, header)
    assert replay.status_code == 200
    assert replay.json()["duplicate"] is True
    assert stored(failed.invoice_id).status == "payment_failed"
    assert event_ids() == ["evt_once"]


def test_the_payload_saying_paid_changes_nothing_while_stripe_says_open(client: TestClient, failed: Failed) -> None:
    response = post(client, *paid_event("evt_lies", failed.reference))
    assert response.status_code == 200
    assert "Stripe has the invoice as open" in response.json()["outcome"]
    row = stored(failed.invoice_id)
    assert (row.status, row.paid_at) == ("payment_failed", None)


def test_a_payment_failed_event_marks_a_due_invoice_failed_with_the_reason(client: TestClient, failed: Failed) -> None:
    with UnitOfWork() as uow:  # as if our database had not recorded the outcome of the charge
        row = uow.session.get(InvoiceRow, failed.invoice_id)
        assert row is not None
        row.status, row.payment_note = "finalized", ""
        uow.session.add(row)
    obj = {"id": failed.reference, "object": "invoice", "status": "open"}
    response = post(client, *signed("evt_failed", "invoice.payment_failed", obj))
    assert response.status_code == 200
    row = stored(failed.invoice_id)
    assert row.status == "payment_failed"
    assert row.payment_note.startswith(DECLINED), "the reason is re-fetched from Stripe"
    # Once paid, a late payment_failed event changes nothing.
    failed.pay_at_stripe()
    post(client, *paid_event("evt_paid", failed.reference))
    late = post(client, *signed("evt_failed_late", "invoice.payment_failed", obj))
    assert late.status_code == 200
    assert stored(failed.invoice_id).status == "paid"


def test_events_about_nothing_of_ours_are_acknowledged_and_recorded(client: TestClient, failed: Failed) -> None:
    unknown = post(client, *paid_event("evt_unknown", "in_not_ours"))
    assert unknown.status_code == 200
    assert "no invoice of ours" in unknown.json()["outcome"]
    card = post(client, *signed("evt_card", "payment_method.attached", {"id": "pm_1", "object": "payment_method"}))
    assert card.json()["outcome"] == "recorded; no action yet"
    assert event_ids() == ["evt_card", "evt_unknown"]
    assert stored(failed.invoice_id).status == "payment_failed"


def test_without_a_webhook_secret_the_endpoint_is_unavailable(database: str) -> None:
    with settings_env({"STRIPE_WEBHOOK_SECRET": ""}), TestClient(create_api()) as test_client:
        payload, header = paid_event("evt_x", "in_x")
        response = post(test_client, payload, header)
    assert response.status_code == 503
    assert "STRIPE_WEBHOOK_SECRET" in response.json()["detail"]
    assert event_ids() == []


def at_stripe(api_base: str) -> stripe.StripeClient:
    """The fake Stripe, as the account's owner acts on it in Stripe's dashboard."""
    return stripe.StripeClient(TEST_SECRET_KEY, base_addresses={"api": api_base})


def retried_later() -> list[str]:
    """The invoices the billing job collects again over the next month."""
    return [invoice.id for invoice in retry_payments(utcnow() + timedelta(days=30)).retried]


def test_an_invoice_voided_at_stripe_becomes_void_and_is_not_collected_again(
    client: TestClient, failed: Failed, fake_stripe: str
) -> None:
    assert stored(failed.invoice_id).next_payment_at is not None, "the declined payment was to be retried"
    obj = {"id": failed.reference, "object": "invoice", "status": "void"}
    early = post(client, *signed("evt_void_early", "invoice.voided", obj))
    assert "Stripe has the invoice as open" in early.json()["outcome"], "the payload is not believed"
    assert stored(failed.invoice_id).status == "payment_failed"
    at_stripe(fake_stripe).v1.invoices.void_invoice(failed.reference)
    response = post(client, *signed("evt_void", "invoice.voided", obj))
    assert response.status_code == 200
    assert f"invoice {failed.invoice_id} marked void" in response.json()["outcome"]
    row = stored(failed.invoice_id)
    assert (row.status, row.payment_note, row.next_payment_at) == ("void", VOIDED_NOTE, None)
    assert row.voided_at is not None
    assert failed.invoice_id not in retried_later()


def test_an_invoice_marked_uncollectible_at_stripe_fails_for_good(
    client: TestClient, failed: Failed, fake_stripe: str
) -> None:
    obj = {"id": failed.reference, "object": "invoice", "status": "uncollectible"}
    at_stripe(fake_stripe).v1.invoices.mark_uncollectible(failed.reference)
    response = post(client, *signed("evt_uncollectible", "invoice.marked_uncollectible", obj))
    assert response.status_code == 200
    assert "marked uncollectible" in response.json()["outcome"]
    row = stored(failed.invoice_id)
    assert (row.status, row.payment_note, row.next_payment_at) == ("payment_failed", UNCOLLECTIBLE_NOTE, None)
    assert failed.invoice_id not in retried_later()
