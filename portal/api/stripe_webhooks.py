"""``POST /api/stripe/webhook``: Stripe's events about our invoices (see :mod:`portal.services.payment_events`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from portal.services import payment_events

router = APIRouter(prefix="/api/stripe", tags=["payments"])


class WebhookAck(BaseModel):
    """The event was accepted: acted on, recorded, or (``duplicate``) seen before and left alone."""

    received: bool = True
    event_id: str
    type: str
    duplicate: bool
    outcome: str


class WebhookRefusal(BaseModel):
    """Why the delivery was refused."""

    detail: str


@router.post(
    "/webhook",
    response_model=WebhookAck,
    responses={400: {"model": WebhookRefusal}, 422: {"model": WebhookRefusal}, 503: {"model": WebhookRefusal}},
)
async def stripe_webhook(
    request: Request, stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None
) -> WebhookAck:
    """Receive one Stripe event; register this URL as a webhook endpoint with Stripe.

    The raw body must be signed in ``Stripe-Signature`` with ``STRIPE_WEBHOOK_SECRET``, at most 5 minutes ago:
    otherwise **400** and nothing changes. Each event id is acted on once; a replay is acknowledged (**200**,
    ``duplicate``) and does nothing. The invoice an event names is re-fetched from Stripe and we act on what Stripe
    says now, not on the payload: ``invoice.paid`` marks our invoice paid, ``invoice.payment_failed`` marks it
    failed with the reason (unless paid), ``invoice.finalized`` adds a note, ``invoice.voided`` voids it and
    ``invoice.marked_uncollectible`` marks it failed with no more automatic retries. ``payment_method.*`` and
    ``customer.updated`` re-fetch the customer's default card and update the card on file; events naming no
    invoice or customer of ours are ignored. **503** when ``STRIPE_WEBHOOK_SECRET`` (or ``STRIPE_SECRET_KEY``) is
    not set, or Stripe cannot be reached to re-fetch what the event names (nothing is recorded, so Stripe
    retries).
    """
    payload = await request.body()
    try:
        outcome = await run_in_threadpool(payment_events.receive_stripe_event, payload, stripe_signature)
    except payment_events.EventRefused as error:
        raise HTTPException(400, str(error)) from error
    except (payment_events.WebhooksNotConfigured, payment_events.ProviderUnavailable) as error:
        raise HTTPException(503, str(error)) from error
    return WebhookAck(
        event_id=outcome.event_id, type=outcome.type, duplicate=outcome.duplicate, outcome=outcome.outcome
    )
