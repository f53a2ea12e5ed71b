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
4. The event id is stored in the same transaction as the change, so the change happens exactly once.

``payment_method.attached`` and ``customer.updated`` are recorded and acknowledged without action for now (card
entry in the browser will use them); other types, and events naming no invoice of ours, are recorded and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal.config import get_settings
from portal.db.models import InvoiceRow, PaymentEventRow, utcnow
from portal.db.uow import UnitOfWork
from portal.domain.invoicing import InvoiceStatus
from portal.payments.gateway import InvalidEvent, PaymentProviderError, ProviderEvent, ProviderInvoiceState
from portal.services import credit_purchases
from portal.services.errors import InvalidInput, ServiceError

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
RECORDED_ONLY = frozenset({"payment_method.attached", "customer.updated"})
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
    state: ProviderInvoiceState | None = None
    if event.type in INVOICE_EVENTS and event.object_id and _ours(event.object_id):
        gateway = StripeGateway(settings.stripe_secret_key, settings.stripe_api_base)
        try:
            state = gateway.invoice_state(event.object_id)
        except PaymentProviderError as error:
            raise ProviderUnavailable(f"{error} The event was not recorded; Stripe will deliver it again.") from error
    try:
        with UnitOfWork() as uow:
            row = PaymentEventRow(id=event.id, provider=PROVIDER, type=event.type, object_id=event.object_id)
            uow.session.add(row)
            uow.session.flush()  # a concurrent delivery of the same id waits here, then fails on the primary key
            row.outcome = _act(uow.session, event, state)[:500]
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


def _ours(reference: str) -> bool:
    """Whether one of our invoices was collected through the Stripe invoice ``reference``."""
    with UnitOfWork() as uow:
        return _invoice(uow.session, reference, lock=False) is not None


def _invoice(session: Session, reference: str, lock: bool) -> InvoiceRow | None:
    query = select(InvoiceRow).where(InvoiceRow.payment_provider == PROVIDER, InvoiceRow.payment_reference == reference)
    return session.exec(query.with_for_update() if lock else query).first()


def _act(session: Session, event: ProviderEvent, state: ProviderInvoiceState | None) -> str:
    """Apply what Stripe says now of the invoice the event names; returns what was done (stored with the event)."""
    if event.type in RECORDED_ONLY:
        return "recorded; no action yet"
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
        return f"invoice {row.id} marked uncollectible: payment failed, no more retries"
    if event.type == "invoice.payment_failed" and state.status in ("open", "uncollectible"):
        row.status, row.payment_note = InvoiceStatus.PAYMENT_FAILED.value, state.failure_message or FAILED_NOTE
        session.add(row)
        return f"invoice {row.id} marked payment failed"
    if event.type == "invoice.finalized" and row.status == InvoiceStatus.FINALIZED.value and state.status == "open":
        row.payment_note = FINALIZED_NOTE
        session.add(row)
        return f"invoice {row.id}: note added"
    return f"nothing changed: Stripe has the invoice as {state.status}"
