"""Stripe webhook events: verified, stored once by id, and acted on only after re-fetching what they name.

:func:`receive_stripe_event` is the whole use case behind ``POST /api/stripe/webhook``:

1. The signature (``Stripe-Signature``, with ``STRIPE_WEBHOOK_SECRET``) and its timestamp are checked by the
   Stripe gateway module; a forged, unsigned or stale event is refused (:class:`EventRefused`) and changes nothing.
2. An event id already stored is acknowledged and does nothing (Stripe delivers at least once, and a captured
   event replayed within the tolerance has an id we have seen).
3. For an invoice event naming one of our invoices (by ``payment_reference``, the Stripe invoice id), the Stripe
   invoice is re-fetched and we act on what Stripe says now, never on the payload: paid marks ours paid (once);
   a failed payment marks ours failed with the reason, unless it is paid; a finalization only adds a note; a
   voided invoice becomes void; one marked uncollectible becomes payment failed with no more automatic retries.
4. For a card event (``payment_method.attached``, ``.updated``, ``.detached``, ``.automatically_updated`` or
   ``customer.updated``), our customers it concerns are found: the one whose Stripe customer the payment method is
   attached to now (re-fetched), or the event's customer for ``customer.updated``, and any whose saved card is the
   payment method (how a detached card is found). For each, the card Stripe charges its invoices to now is
   re-fetched and becomes ours, or ours is cleared when Stripe has none: a card changed or removed at Stripe (its
   dashboard, its billing portal, a card updated by the bank) shows correctly on the account page.
5. The event id is stored in the same transaction as the change, so the change happens exactly once. What is
   re-fetched is asked before that transaction; when Stripe cannot be asked, the event is refused
   (:class:`ProviderUnavailable`), nothing is stored and Stripe delivers it again.

Other types, and events naming no invoice or customer of ours, are recorded and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal.config import get_settings
from portal.db.models import Customer, InvoiceRow, PaymentEventRow, utcnow
from portal.db.uow import UnitOfWork
from portal.domain.invoicing import InvoiceStatus
from portal.payments.gateway import (
    InvalidEvent,
    PaymentProviderError,
    ProviderEvent,
    ProviderInvoiceState,
    SavedCard,
)
from portal.services import credit_purchases, outgoing_webhooks
from portal.services.cards import CardView, keep_card
from portal.services.errors import InvalidInput, ServiceError

if TYPE_CHECKING:
    from portal.payments.stripe_gateway import StripeGateway

PROVIDER = "stripe"
INVOICE_EVENTS = frozenset(
    {
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
        "invoice.finalized",
        "invoice.voided",
        "invoice.marked_uncollectible",
    }
)
CARD_EVENTS = frozenset(
    {
        "payment_method.attached",
        "payment_method.updated",
        "payment_method.detached",
        "payment_method.automatically_updated",
        "customer.updated",
    }
)
PAID_NOTE = "Paid by card."
FAILED_NOTE = "The payment failed at Stripe: add or change the card, then pay the invoice again."
FINALIZED_NOTE = "Stripe finalized the invoice; the payment is pending."
VOIDED_NOTE = "The invoice was voided: nothing is owed."
UNCOLLECTIBLE_NOTE = (
    "The invoice was marked uncollectible after the payment failed: there will be no more automatic attempts."
)


class WebhooksNotConfigured(ServiceError):
    """Stripe webhooks cannot be received: ``STRIPE_WEBHOOK_SECRET`` (or ``STRIPE_SECRET_KEY``) is not set."""


class EventRefused(InvalidInput):
    """The webhook is not a genuine, fresh Stripe event; nothing was changed."""


class ProviderUnavailable(ServiceError):
    """Stripe could not be asked about the object the event names; nothing was stored, so Stripe will retry."""


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """What happened to one delivery: ``duplicate`` when the event id was seen before (nothing was done again)."""

    event_id: str
    type: str
    duplicate: bool
    outcome: str


@dataclass(frozen=True, slots=True)
class _AtStripe:
    """What Stripe says now of what an event names, asked before the event's transaction.

    ``invoice``: the state of the Stripe invoice of an invoice event naming one of ours. ``cards``: for a card
    event, each of our customers it concerns (by id) with the default card Stripe has for it now (None: no card).
    """

    invoice: ProviderInvoiceState | None = None
    cards: Mapping[str, SavedCard | None] = field(default_factory=dict)


def receive_stripe_event(payload: bytes, signature: str | None) -> EventOutcome:
    """Verify, deduplicate and act on one Stripe webhook delivery (raw ``payload`` and ``Stripe-Signature``)."""
    settings = get_settings()
    if not settings.stripe_webhook_secret:
        raise WebhooksNotConfigured(
            "Stripe webhooks are not configured: set STRIPE_WEBHOOK_SECRET to the signing secret (whsec_...)."
        )
    if not settings.stripe_secret_key:
        raise WebhooksNotConfigured(
            "Stripe webhooks need STRIPE_SECRET_KEY too: the objects an event names are re-fetched from Stripe."
        )
    from portal.payments.stripe_gateway import StripeGateway, verify_event

    try:
        event = verify_event(payload, signature, settings.stripe_webhook_secret)
    except InvalidEvent as error:
        raise EventRefused(str(error)) from error
    seen = _seen(event.id)
    if seen is not None:
        return seen
    gateway = StripeGateway(settings.stripe_secret_key, settings.stripe_api_base, settings.stripe_timeout_seconds)
    try:
        now = _at_stripe(gateway, event)
    except PaymentProviderError as error:
        raise ProviderUnavailable(f"{error} The event was not recorded; Stripe will deliver it again.") from error
    try:
        with UnitOfWork() as uow:
            row = PaymentEventRow(id=event.id, provider=PROVIDER, type=event.type, object_id=event.object_id)
            uow.session.add(row)
            uow.session.flush()  # a concurrent delivery of the same id waits here, then fails on the primary key
            row.outcome = _act(uow.session, event, now)[:500]
            uow.session.add(row)
            outcome = row.outcome
    except IntegrityError:
        seen = _seen(event.id)
        if seen is None:
            raise
        return seen
    return EventOutcome(event.id, event.type, False, outcome)


def _seen(event_id: str) -> EventOutcome | None:
    """The stored outcome of an event id already received, as a duplicate; None if it is new."""
    with UnitOfWork() as uow:
        row = uow.session.get(PaymentEventRow, event_id)
        if row is None:
            return None
        return EventOutcome(row.id, row.type, True, row.outcome)


def _at_stripe(gateway: StripeGateway, event: ProviderEvent) -> _AtStripe:
    """Re-fetch from Stripe what the event names, when it concerns an invoice or customer of ours.

    :class:`PaymentProviderError` when Stripe cannot be asked.
    """
    if not event.object_id:
        return _AtStripe()
    if event.type in INVOICE_EVENTS and _ours(event.object_id):
        return _AtStripe(invoice=gateway.invoice_state(event.object_id))
    if event.type == "customer.updated":
        holders = _card_holders(event.object_id, None)
    elif event.type in CARD_EVENTS:
        holders = _card_holders(gateway.payment_method_owner(event.object_id), event.object_id)
    else:
        return _AtStripe()
    return _AtStripe(cards={customer_id: gateway.default_card(ref) for customer_id, ref in holders.items()})


def _card_holders(provider_customer: str | None, payment_method: str | None) -> dict[str, str]:
    """Our customers (id: Stripe customer) that are ``provider_customer`` or whose saved card is ``payment_method``."""
    matches = []
    if provider_customer:
        matches.append(col(Customer.payment_customer_id) == provider_customer)
    if payment_method:
        matches.append(col(Customer.card_reference) == payment_method)
    if not matches:
        return {}
    with UnitOfWork() as uow:
        rows = uow.session.exec(
            select(Customer.id, Customer.payment_customer_id).where(
                or_(*matches), col(Customer.payment_customer_id).is_not(None)
            )
        ).all()
    return {customer_id: reference for customer_id, reference in rows if reference}


def _ours(reference: str) -> bool:
    """Whether one of our invoices was collected through the Stripe invoice ``reference``."""
    with UnitOfWork() as uow:
        return _invoice(uow.session, reference, lock=False) is not None


def _invoice(session: Session, reference: str, lock: bool) -> InvoiceRow | None:
    query = select(InvoiceRow).where(InvoiceRow.payment_provider == PROVIDER, InvoiceRow.payment_reference == reference)
    return session.exec(query.with_for_update() if lock else query).first()


def _act(session: Session, event: ProviderEvent, now: _AtStripe) -> str:
    """Apply what Stripe says now of what the event names; returns what was done (stored with the event)."""
    if event.type in CARD_EVENTS and event.object_id:
        return _sync_cards(session, now.cards)
    state = now.invoice
    if event.type not in INVOICE_EVENTS or not event.object_id:
        return "ignored: not an event the portal acts on"
    row = _invoice(session, event.object_id, lock=True)
    if row is None or state is None:
        return "ignored: no invoice of ours"
    if row.status == InvoiceStatus.PAID.value:
        credit_purchases.grant_if_paid(session, row.id)  # paid by another attempt first: its credits, once
        return f"nothing to do: invoice {row.id} is paid"
    if row.status == InvoiceStatus.VOID.value:
        return f"nothing to do: invoice {row.id} is void"
    if state.status == "paid":
        row.status, row.paid_at, row.payment_note = InvoiceStatus.PAID.value, utcnow(), PAID_NOTE
        row.next_payment_at = None
        session.add(row)
        credit_purchases.grant_if_paid(session, row.id)  # a credit purchase's credits, granted once paid
        outgoing_webhooks.emit_invoice(session, row, "invoice.paid")
        return f"invoice {row.id} marked paid"
    if event.type == "invoice.voided" and state.status == "void":
        row.status, row.voided_at, row.payment_note = InvoiceStatus.VOID.value, utcnow(), VOIDED_NOTE
        row.next_payment_at = None
        session.add(row)
        return f"invoice {row.id} marked void"
    if event.type == "invoice.marked_uncollectible" and state.status == "uncollectible":
        row.status, row.payment_note = InvoiceStatus.PAYMENT_FAILED.value, UNCOLLECTIBLE_NOTE
        row.next_payment_at = None
        session.add(row)
        outgoing_webhooks.emit_invoice(session, row, "invoice.payment_failed")
        return f"invoice {row.id} marked uncollectible: payment failed, no more retries"
    if event.type == "invoice.payment_failed" and state.status in ("open", "uncollectible"):
        row.status, row.payment_note = InvoiceStatus.PAYMENT_FAILED.value, state.failure_message or FAILED_NOTE
        session.add(row)
        outgoing_webhooks.emit_invoice(session, row, "invoice.payment_failed")
        return f"invoice {row.id} marked payment failed"
    if event.type == "invoice.finalized" and row.status == InvoiceStatus.FINALIZED.value and state.status == "open":
        row.payment_note = FINALIZED_NOTE
        session.add(row)
        return f"invoice {row.id}: note added"
    return f"nothing changed: Stripe has the invoice as {state.status}"


def _sync_cards(session: Session, cards: Mapping[str, SavedCard | None]) -> str:
    """Make each customer's saved card the one Stripe has as its default now (``cards``), or none."""
    done = []
    for customer_id, card in sorted(cards.items()):
        customer = session.exec(select(Customer).where(Customer.id == customer_id).with_for_update()).first()
        if customer is not None:
            done.append(f"customer {customer_id}: {_sync_card(customer, card)}")
            session.add(customer)
    return "; ".join(done) or "ignored: no customer of ours"


def _sync_card(customer: Customer, card: SavedCard | None) -> str:
    """Record ``card`` (None: no card) as the customer's saved card; says what changed."""
    if card is None:
        if customer.card_reference is None:
            return "no card at Stripe, none saved"
        customer.card_reference = None
        customer.card_brand = customer.card_last4 = customer.card_expires = ""
        return "card removed (Stripe has no default card for the customer)"
    label = CardView(card.brand, card.last4, card.expires).label
    saved = (customer.card_reference, customer.card_brand, customer.card_last4, customer.card_expires)
    if saved == (card.reference, card.brand, card.last4, card.expires):
        return f"card unchanged ({label})"
    keep_card(customer, card)
    return f"card updated to {label}"
