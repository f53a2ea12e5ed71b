"""``POST /api/stripe/webhook`` against the fake Stripe: signature, staleness and replay; re-fetch wins over payload.

Events are built and signed here with the SDK (``stripe.WebhookSignature.generate_signature_header``), as Stripe
would sign them with the endpoint's secret; the invoices, customers and cards they name are real objects of the fake.
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
from portal.db.models import Customer, InvoiceRow, PaymentEventRow, utcnow
from portal.db.uow import UnitOfWork
from portal.payments.stripe_gateway import DECLINED
from portal.services import billing, cards
from portal.services.errors import InvalidInput
from portal.services.identity import Identity, sign_in
from portal.services.payment_events import UNCOLLECTIBLE_NOTE, VOIDED_NOTE
from portal.services.period_close import retry_payments
from portal.services.purchase import purchase
from tests.support.payments import (
    DECLINED_AT_CHARGE,
    GOOD_CARD,
    CardOnFile,
    confirm_in_browser,
    stripe_charges,
    the_invoice,
)
from tests.support.postgres import free_port
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
    assert card.json()["outcome"] == "ignored: no customer of ours"
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


def test_an_uncollectible_invoice_can_be_paid_again_once(client: TestClient, failed: Failed, fake_stripe: str) -> None:
    at_stripe(fake_stripe).v1.invoices.mark_uncollectible(failed.reference)
    post(client, *signed("evt_gave_up", "invoice.marked_uncollectible", {"id": failed.reference}))
    assert stored(failed.invoice_id).payment_note == UNCOLLECTIBLE_NOTE
    assert failed.gateway.set_default_card(failed.customer, GOOD_CARD) is None  # the admin fixes the card
    admin = sign_in("new@initech.test", "pw-123456").identity

    paid = billing.pay_again(admin, failed.invoice_id)

    assert (paid.status, paid.payment_note) == ("paid", "Paid by card.")
    assert at_stripe(fake_stripe).v1.invoices.retrieve(failed.reference).status == "paid"
    charged = stripe_charges(fake_stripe)(failed.customer)
    assert sorted(charged) == [(paid.total_due_minor, "failed"), (paid.total_due_minor, "succeeded")]
    with pytest.raises(InvalidInput, match="paid already"):
        billing.pay_again(admin, failed.invoice_id)
    assert len(stripe_charges(fake_stripe)(failed.customer)) == 2


# --- Cards: payment-method and customer events keep our saved card in step with Stripe ---------------------------

SAVED = "Visa ending 4242, expires 12/2034"
"""The card saved through our card form (:func:`confirm_in_browser`'s test card)."""


@dataclass
class Carded:
    """The buyer's customer with a card saved through our card form, as Stripe and we both know it."""

    admin: Identity
    customer_id: str
    stripe_customer: str
    card: str


@pytest.fixture
def carded(client: TestClient, buyer: Identity, fake_stripe: str) -> Carded:
    purchase(buyer, "team", 3, "Initech")
    admin = sign_in("new@initech.test", "pw-123456").identity
    assert admin.customer_id is not None
    form = cards.start_card_form(admin, admin.customer_id)
    assert confirm_in_browser(fake_stripe, form.client_secret) is None
    assert cards.save_card(admin, admin.customer_id, form.setup_reference).label == SAVED
    reference, card = saved_card(admin.customer_id)[:2]
    assert reference is not None
    assert card is not None
    return Carded(admin, admin.customer_id, reference, card)


def saved_card(customer_id: str) -> tuple[str | None, str | None, str, str, str]:
    """Our customer's Stripe customer and saved card: payment method, brand, last four digits, expiry."""
    with UnitOfWork() as uow:
        c = uow.session.get(Customer, customer_id)
        assert c is not None
        return c.payment_customer_id, c.card_reference, c.card_brand, c.card_last4, c.card_expires


def card_at_stripe(api_base: str, stripe_customer: str, number: str, default: bool = True) -> str:
    """A card (expiring 03/2031) attached to the Stripe customer in Stripe's dashboard, made its default if asked."""
    at = at_stripe(api_base)
    method = at.v1.payment_methods.create(
        {"type": "card", "card": {"number": number, "exp_month": 3, "exp_year": 2031, "cvc": "123"}}
    )
    at.v1.payment_methods.attach(method.id, {"customer": stripe_customer})
    if default:
        at.v1.customers.update(stripe_customer, {"invoice_settings": {"default_payment_method": method.id}})
    return method.id


def card_event(event_id: str, kind: str, obj_id: str, **kw: Any) -> tuple[str, str]:
    """A signed card event whose payload describes a card that is not the one at Stripe (it must not be believed)."""
    obj = {"id": obj_id, "object": kind.split(".")[0], "card": {"brand": "amex", "last4": "0005"}}
    return signed(event_id, kind, obj, **kw)


def card_label(carded: Carded) -> str | None:
    """The saved card as the account page shows it (None: "No card on file")."""
    view = cards.card_of(carded.admin, carded.customer_id)
    return None if view is None else view.label


@pytest.mark.parametrize(
    "kind",
    [
        "payment_method.attached",
        "payment_method.updated",
        "payment_method.automatically_updated",
        "customer.updated",
    ],
)
def test_a_card_made_default_at_stripe_becomes_our_saved_card(
    client: TestClient, carded: Carded, fake_stripe: str, kind: str
) -> None:
    new = card_at_stripe(fake_stripe, carded.stripe_customer, "4000056655665556")
    named = carded.stripe_customer if kind == "customer.updated" else new
    response = post(client, *card_event("evt_new_card", kind, named))
    assert response.status_code == 200
    assert (
        response.json()["outcome"]
        == f"customer {carded.customer_id}: card updated to Visa ending 5556, expires 03/2031"
    )
    assert saved_card(carded.customer_id)[1:] == (new, "visa", "5556", "03/2031")
    assert card_label(carded) == "Visa ending 5556, expires 03/2031"


def test_a_card_attached_at_stripe_counts_once_it_is_the_default(
    client: TestClient, carded: Carded, fake_stripe: str
) -> None:
    new = card_at_stripe(fake_stripe, carded.stripe_customer, "4000056655665556", default=False)
    attached = post(client, *card_event("evt_attached", "payment_method.attached", new))
    assert attached.json()["outcome"] == f"customer {carded.customer_id}: card unchanged ({SAVED})"
    assert card_label(carded) == SAVED
    at_stripe(fake_stripe).v1.customers.update(
        carded.stripe_customer, {"invoice_settings": {"default_payment_method": new}}
    )
    updated = post(client, *card_event("evt_default", "customer.updated", carded.stripe_customer))
    assert "card updated to Visa ending 5556" in updated.json()["outcome"]
    assert saved_card(carded.customer_id)[1] == new


def test_the_default_card_detached_at_stripe_leaves_no_card_on_file(
    client: TestClient, carded: Carded, fake_stripe: str
) -> None:
    at = at_stripe(fake_stripe)
    at.v1.payment_methods.detach(carded.card)
    response = post(client, *card_event("evt_detached", "payment_method.detached", carded.card))
    assert response.status_code == 200
    expected = f"customer {carded.customer_id}: card removed (Stripe has no default card for the customer)"
    assert response.json()["outcome"] == expected
    assert saved_card(carded.customer_id) == (carded.stripe_customer, None, "", "", "")
    assert card_label(carded) is None
    again = post(client, *card_event("evt_no_card", "customer.updated", carded.stripe_customer))
    assert again.json()["outcome"] == f"customer {carded.customer_id}: no card at Stripe, none saved"


def test_an_old_card_detached_at_stripe_leaves_the_default_alone(
    client: TestClient, carded: Carded, fake_stripe: str
) -> None:
    new = card_at_stripe(fake_stripe, carded.stripe_customer, "4000056655665556")
    post(client, *card_event("evt_replaced", "customer.updated", carded.stripe_customer))
    at_stripe(fake_stripe).v1.payment_methods.detach(carded.card)  # the card it replaced
    response = post(client, *card_event("evt_old_gone", "payment_method.detached", carded.card))
    assert response.json()["outcome"] == "ignored: no customer of ours"
    assert saved_card(carded.customer_id)[1:] == (new, "visa", "5556", "03/2031")


def test_a_replayed_card_event_changes_nothing(client: TestClient, carded: Carded, fake_stripe: str) -> None:
    new = card_at_stripe(fake_stripe, carded.stripe_customer, "4000056655665556")
    payload, header = card_event("evt_card_once", "payment_method.attached", new)
    assert post(client, payload, header).json()["duplicate"] is False
    at_stripe(fake_stripe).v1.payment_methods.detach(new)  # acting on the event again would clear our card now
    replay = post(client, payload, header)
    assert replay.status_code == 200
    assert replay.json()["duplicate"] is True
    assert saved_card(carded.customer_id)[1] == new
    assert event_ids() == ["evt_card_once"]


def test_a_forged_card_event_is_refused_and_changes_nothing(
    client: TestClient, carded: Carded, fake_stripe: str
) -> None:
    at_stripe(fake_stripe).v1.payment_methods.detach(carded.card)  # a genuine event would now clear our card
    refused = post(client, *card_event("evt_forged_card", "payment_method.detached", carded.card, secret="whsec_x"))
    assert refused.status_code == 400
    assert "does not sign this body" in refused.json()["detail"]
    assert card_label(carded) == SAVED
    assert event_ids() == []


def test_card_events_naming_no_customer_of_ours_are_recorded_and_ignored(
    client: TestClient, carded: Carded, fake_stripe: str
) -> None:
    stranger = at_stripe(fake_stripe).v1.customers.create({"name": "Not ours"}).id
    theirs = card_at_stripe(fake_stripe, stranger, "4000056655665556")
    for event_id, kind, named in [
        ("evt_theirs_1", "payment_method.attached", theirs),
        ("evt_theirs_2", "customer.updated", stranger),
        ("evt_theirs_3", "customer.updated", "cus_unknown"),
        ("evt_theirs_4", "payment_method.detached", "pm_unknown"),
    ]:
        response = post(client, *card_event(event_id, kind, named))
        assert response.status_code == 200
        assert response.json()["outcome"] == "ignored: no customer of ours"
    assert card_label(carded) == SAVED
    assert event_ids() == ["evt_theirs_1", "evt_theirs_2", "evt_theirs_3", "evt_theirs_4"]


def test_a_card_event_is_refused_while_stripe_cannot_be_asked(client: TestClient, carded: Carded) -> None:
    with settings_env({"STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}"}):  # nothing listens there
        response = post(client, *card_event("evt_outage", "customer.updated", carded.stripe_customer))
    assert response.status_code == 503
    assert "Stripe will deliver it again" in response.json()["detail"]
    assert card_label(carded) == SAVED
    assert event_ids() == [], "not recorded: Stripe's next delivery is acted on"
