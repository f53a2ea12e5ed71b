"""Outgoing webhooks: customer endpoints, system events written as an outbox, and their signed, retried delivery.

* **Endpoints** (:class:`~portal.db.models.WebhookEndpoint`): a customer admin (or staff) registers an http(s) URL
  and the event types it wants (none chosen: all of :data:`EVENT_TYPES`). Each endpoint has its own signing secret
  (``whsec_...``), which the customer's admins can see at any time.
* **Events** (:class:`~portal.db.models.WebhookEvent`): the services call :func:`emit` (or one of the ``emit_*``
  helpers) with the session of the change they make, so the event and one pending
  :class:`~portal.db.models.WebhookDelivery` per subscribed endpoint are committed in the same transaction as the
  change, or not at all (an outbox: nothing is lost if the process dies after the commit, nothing is sent for a
  change that rolled back). Each event has a unique id (``evt_...``).
* **Delivery** (:func:`deliver_due`, run every few seconds by the lifespan task in :mod:`portal.jobs`): each due
  delivery is claimed first by a conditional update of ``next_attempt_at`` that only one process wins (as the
  billing job claims a payment retry), then ``POST``-ed with httpx (timeout :data:`TIMEOUT_SECONDS`), signed as
  :mod:`portal.webhooks.verify` describes. A 2xx answer marks it delivered; anything else (another status, a refused
  connection, a timeout) schedules the next attempt after :data:`RETRY_DELAYS` (10 s, 1 min, 5 min, 30 min, 2 h,
  6 h, 12 h: about 21 hours in all) and marks it failed after the last. A process that dies while sending leaves
  its claim to expire after :data:`CLAIM_LEASE`; the delivery is then sent again.
* **Order**: per endpoint, deliveries go out in the order their events were created: while an endpoint's oldest
  pending delivery waits for its retry, the later ones wait behind it. A receiver that was down gets every event,
  in order, once it is back.
* **Exactly once**: delivery is at least once (an answer lost on the way looks like a failure and the event is
  sent again); the event id in ``Portal-Event-Id`` and in the body is what lets a receiver process each event
  exactly once.
* **Redeliver** (:func:`redeliver`): an admin sends an event again; it is a new delivery of the same event (same
  id), queued behind the endpoint's pending ones.

System events: ``invoice.finalized``, ``invoice.paid``, ``invoice.payment_failed``, ``seat.added``,
``seat.removed``, ``grant.created``, ``grant.expired``, ``contract.started``, ``contract.changed``. A grant's expiry
is not a change anyone makes: the sender notices it (:func:`emit_expired_grants`, each run, for grants that ended
within :data:`GRANT_EXPIRY_LOOKBACK`), and the event's id is derived from the grant's, so it is recorded once
whichever process notices first.

Only http and https URLs whose host resolves to public addresses are accepted, when the endpoint is added and again
before each delivery (see :mod:`portal.services.webhook_targets`; an installation may allow private ones).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select, update

from portal.db.models import (
    Contract as ContractRow,
)
from portal.db.models import (
    Customer,
    GrantRow,
    InvoiceRow,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    new_id,
    utcnow,
)
from portal.db.uow import UnitOfWork
from portal.domain.contracts import Contract
from portal.domain.invoicing import InvoiceStatus
from portal.domain.seats import SeatState
from portal.services.customers import Actor, visible_customer
from portal.services.errors import Forbidden, InvalidInput, NotFound
from portal.services.webhook_targets import check_target
from portal.webhooks.verify import EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, signature_header

logger = logging.getLogger(__name__)

EVENT_TYPES = (
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_failed",
    "seat.added",
    "seat.removed",
    "grant.created",
    "grant.expired",
    "contract.started",
    "contract.changed",
    "alert.triggered",
    "alert.resolved",
)
"""The system event types an endpoint can subscribe to."""

RETRY_DELAYS = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
)
"""The wait before each retry after a failed attempt; after the last, the delivery is failed."""
TIMEOUT_SECONDS = 5.0
"""How long the sender waits for a receiver's answer."""
CLAIM_LEASE = timedelta(seconds=60)
"""How long a claimed attempt is left to its sender before another process may send it again."""
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
LOG_LIMIT = 100
"""How many deliveries the log shows (newest first)."""
_ERROR_LENGTH = 500
GRANT_EXPIRY_LOOKBACK = timedelta(days=2)
"""How far back the sender looks for grants that expired (older expiries, e.g. before an upgrade, are not sent)."""


@dataclass(frozen=True, slots=True)
class EndpointView:
    """An endpoint as its customer's admins see it (with its signing secret)."""

    id: str
    customer_id: str
    url: str
    secret: str
    event_types: tuple[str, ...]
    enabled: bool
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One delivery in the log."""

    id: int
    event_id: str
    event_type: str
    endpoint_id: str
    url: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeliveryRun:
    """What one run of the sender did: deliveries delivered, retried later, and failed for good."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    def summary(self) -> str:
        """One line for the log."""
        return f"{self.delivered} delivered, {self.retrying} to retry, {self.failed} failed"


# --- events ---------------------------------------------------------------------------------------------------


def emit(
    session: Session, customer_id: str, event_type: str, payload: dict[str, Any], event_id: str | None = None
) -> str:
    """Record a system event of ``customer_id`` in the caller's transaction, with one pending delivery per enabled
    endpoint subscribed to ``event_type``; returns the event id (``event_id`` when given, else a new one). Nothing is
    sent before the caller commits."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Unknown webhook event type {event_type!r}.")
    at = utcnow()
    event = WebhookEvent(
        id=event_id or new_id("evt"), customer_id=customer_id, type=event_type, payload=payload, created_at=at
    )
    session.add(event)
    endpoints = session.exec(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.customer_id == customer_id, col(WebhookEndpoint.enabled).is_(True))
        .order_by(col(WebhookEndpoint.created_at))
    ).all()
    session.flush()
    for endpoint in endpoints:
        if not endpoint.event_types or event_type in endpoint.event_types:
            session.add(WebhookDelivery(event_id=event.id, endpoint_id=endpoint.id, next_attempt_at=at, created_at=at))
    return event.id


def _instant(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def emit_invoice(session: Session, row: InvoiceRow, event_type: str) -> str:
    """:func:`emit` ``event_type`` (``invoice.finalized``, ``invoice.paid``, ``invoice.payment_failed``) for the
    invoice ``row`` as it stands."""
    return emit(
        session,
        row.customer_id,
        event_type,
        {
            "invoice_id": row.id,
            "contract_id": row.contract_id,
            "status": row.status,
            "currency": row.currency,
            "total_minor": row.total_minor,
            "period_start": _instant(row.period_start),
            "period_end": _instant(row.period_end),
            "payment_note": row.payment_note,
        },
    )


def emit_invoice_outcome(session: Session, row: InvoiceRow) -> str | None:
    """After a collection attempt: ``invoice.paid`` or ``invoice.payment_failed`` as the invoice now stands (each
    failed attempt is reported); None when neither (still due, void)."""
    if row.status == InvoiceStatus.PAID.value:
        return emit_invoice(session, row, "invoice.paid")
    if row.status == InvoiceStatus.PAYMENT_FAILED.value:
        return emit_invoice(session, row, "invoice.payment_failed")
    return None


def emit_seat_changes(session: Session, customer_id: str, before: Contract, after: Contract, at: datetime) -> list[str]:
    """``seat.added`` and ``seat.removed`` for a seat change from contract ``before`` to ``after`` as of ``at``
    (seat ids named or taken away, or a count raised or lowered); the event ids."""
    was, now = (c.seats.state_at(at) if c.seats else SeatState(0) for c in (before, after))
    added = sorted(set(now.seat_ids) - set(was.seat_ids))
    removed = sorted(set(was.seat_ids) - set(now.seat_ids))
    common = {"contract_id": after.id, "quantity": now.quantity, "previous_quantity": was.quantity}
    events = []
    if added or now.quantity > was.quantity:
        events.append(emit(session, customer_id, "seat.added", {**common, "seat_ids": added}))
    if removed or now.quantity < was.quantity:
        events.append(emit(session, customer_id, "seat.removed", {**common, "seat_ids": removed}))
    return events


def _grant_payload(grant: GrantRow) -> dict[str, Any]:
    return {
        "grant_id": grant.id,
        "contract_id": grant.contract_id,
        "kind": grant.kind,
        "credit_type_id": grant.credit_type_id,
        "amount": str(grant.amount),
        "starting_at": _instant(grant.starting_at),
        "ending_before": _instant(grant.ending_before),
        "source": grant.source,
    }


def emit_grant_created(session: Session, customer_id: str, grant: GrantRow) -> str:
    """``grant.created`` for ``grant`` of ``customer_id``'s contract."""
    return emit(session, customer_id, "grant.created", _grant_payload(grant))


def expiry_event_id(grant_id: str) -> str:
    """The id of a grant's ``grant.expired`` event: derived from the grant's, so there is at most one."""
    return f"evt_{hashlib.sha256(f'grant.expired:{grant_id}'.encode()).hexdigest()[:32]}"


def emit_expired_grants(now: datetime | None = None) -> int:
    """Record ``grant.expired`` for every grant that ended in the :data:`GRANT_EXPIRY_LOOKBACK` before ``now`` and
    has no such event yet; how many. Another process recording the same at the same moment makes this one roll back
    (the event ids are the same) and find them recorded next time."""
    at = now or utcnow()
    try:
        with UnitOfWork() as uow:
            session = uow.session
            ended = session.exec(
                select(GrantRow, ContractRow.customer_id)
                .join(ContractRow, col(ContractRow.id) == GrantRow.contract_id)
                .where(col(GrantRow.ending_before) <= at, col(GrantRow.ending_before) > at - GRANT_EXPIRY_LOOKBACK)
                .order_by(col(GrantRow.ending_before), col(GrantRow.id))
            ).all()
            ids = {expiry_event_id(grant.id): (grant, customer_id) for grant, customer_id in ended}
            known = set(session.exec(select(WebhookEvent.id).where(col(WebhookEvent.id).in_(list(ids)))).all())
            for event_id, (grant, customer_id) in ids.items():
                if event_id not in known:
                    emit(session, customer_id, "grant.expired", _grant_payload(grant), event_id=event_id)
            session.flush()
    except IntegrityError:
        return 0
    return len(ids) - len(known)


def emit_contract(
    session: Session, customer_id: str, event_type: str, contract_id: str, package_version_id: str, at: datetime
) -> str:
    """``contract.started`` or ``contract.changed``: the contract is on ``package_version_id`` from ``at``."""
    payload = {"contract_id": contract_id, "package_version_id": package_version_id, "effective": _instant(at)}
    return emit(session, customer_id, event_type, payload)


def event_body(event: WebhookEvent) -> bytes:
    """The JSON body sent for ``event`` (the same bytes at every attempt)."""
    document = {
        "id": event.id,
        "type": event.type,
        "created_at": _instant(event.created_at),
        "customer_id": event.customer_id,
        "data": event.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


# --- endpoints ------------------------------------------------------------------------------------------------


def _require_admin(session: Session, actor: Actor, customer_id: str) -> Customer:
    customer = visible_customer(session, actor, customer_id)
    if not (actor.is_staff or (actor.is_customer_admin and actor.customer_id == customer_id)):
        raise Forbidden("Only an admin of this account or staff can manage its webhooks.")
    return customer


def _endpoint_view(row: WebhookEndpoint) -> EndpointView:
    return EndpointView(
        id=row.id,
        customer_id=row.customer_id,
        url=row.url,
        secret=row.secret,
        event_types=tuple(row.event_types),
        enabled=row.enabled,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def check_url(url: str) -> str:
    """The URL, trimmed, if it is an absolute http or https URL whose host resolves to public addresses (unless private
    ones are allowed); otherwise :class:`InvalidInput` naming what is wrong."""
    clean = url.strip()
    parts = urlsplit(clean)
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput(f"A webhook URL starts with https:// (or http://), not {clean[:40]!r}.")
    if not parts.hostname:
        raise InvalidInput(f"The webhook URL {clean[:80]!r} names no host.")
    if len(clean) > 2000:
        raise InvalidInput("A webhook URL has at most 2000 characters.")
    check_target(clean)
    return clean


def _check_types(event_types: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(t.strip() for t in event_types if t.strip()))
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(f"Unknown event type {unknown[0]!r}: choose from {', '.join(EVENT_TYPES)}.")
    return chosen


def list_endpoints(actor: Actor, customer_id: str) -> list[EndpointView]:
    """The customer's endpoints, oldest first (admins of the customer and staff)."""
    with UnitOfWork() as uow:
        _require_admin(uow.session, actor, customer_id)
        rows = uow.session.exec(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.customer_id == customer_id)
            .order_by(col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
        ).all()
        return [_endpoint_view(row) for row in rows]


def create_endpoint(actor: Actor, customer_id: str, url: str, event_types: Sequence[str] = ()) -> EndpointView:
    """Register ``url`` to receive the customer's ``event_types`` (none: all), with a new signing secret."""
    with UnitOfWork() as uow:
        _require_admin(uow.session, actor, customer_id)
        row = WebhookEndpoint(
            customer_id=customer_id,
            url=check_url(url),
            secret=f"whsec_{secrets.token_hex(24)}",
            event_types=_check_types(event_types),
            created_by=actor.audit_name,
        )
        uow.session.add(row)
        uow.session.flush()
        return _endpoint_view(row)


def _own_endpoint(session: Session, actor: Actor, endpoint_id: str) -> WebhookEndpoint:
    row = session.get(WebhookEndpoint, endpoint_id)
    if row is None:
        raise NotFound(f"There is no webhook endpoint {endpoint_id}.")
    try:
        _require_admin(session, actor, row.customer_id)
    except NotFound:
        raise NotFound(f"There is no webhook endpoint {endpoint_id}.") from None
    return row


def set_enabled(actor: Actor, endpoint_id: str, enabled: bool) -> EndpointView:
    """Turn an endpoint on or off; a disabled endpoint gets no new deliveries (pending ones still go out)."""
    with UnitOfWork() as uow:
        row = _own_endpoint(uow.session, actor, endpoint_id)
        row.enabled = enabled
        uow.session.add(row)
        return _endpoint_view(row)


def delete_endpoint(actor: Actor, endpoint_id: str) -> None:
    """Delete an endpoint and its delivery log (nothing more is sent to it)."""
    with UnitOfWork() as uow:
        row = _own_endpoint(uow.session, actor, endpoint_id)
        uow.session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == row.id))
        uow.session.delete(row)


# --- delivery log ---------------------------------------------------------------------------------------------


def delivery_log(actor: Actor, customer_id: str, limit: int = LOG_LIMIT) -> list[DeliveryView]:
    """The customer's latest deliveries, newest first (admins of the customer and staff)."""
    with UnitOfWork() as uow:
        _require_admin(uow.session, actor, customer_id)
        rows = uow.session.exec(
            select(WebhookDelivery, WebhookEvent, WebhookEndpoint)
            .join(WebhookEvent, col(WebhookEvent.id) == WebhookDelivery.event_id)
            .join(WebhookEndpoint, col(WebhookEndpoint.id) == WebhookDelivery.endpoint_id)
            .where(WebhookEndpoint.customer_id == customer_id)
            .order_by(col(WebhookDelivery.id).desc())
            .limit(limit)
        ).all()
        return [
            DeliveryView(
                id=delivery.id or 0,
                event_id=event.id,
                event_type=event.type,
                endpoint_id=endpoint.id,
                url=endpoint.url,
                status=delivery.status,
                attempts=delivery.attempts,
                created_at=delivery.created_at,
                next_attempt_at=delivery.next_attempt_at,
                last_status_code=delivery.last_status_code,
                last_error=delivery.last_error,
                delivered_at=delivery.delivered_at,
            )
            for delivery, event, endpoint in rows
        ]


def redeliver(actor: Actor, delivery_id: int, now: datetime | None = None) -> int:
    """Send a delivery's event to its endpoint again (same event id), as a new delivery due at once; its id."""
    at = now or utcnow()
    with UnitOfWork() as uow:
        delivery = uow.session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            raise NotFound(f"There is no webhook delivery {delivery_id}.")
        try:
            _own_endpoint(uow.session, actor, delivery.endpoint_id)
        except NotFound:
            raise NotFound(f"There is no webhook delivery {delivery_id}.") from None
        again = WebhookDelivery(
            event_id=delivery.event_id, endpoint_id=delivery.endpoint_id, next_attempt_at=at, created_at=at
        )
        uow.session.add(again)
        uow.session.flush()
        return again.id or 0


# --- the sender -----------------------------------------------------------------------------------------------


def _keep_going() -> bool:
    return True


def deliver_due(
    now: datetime | None = None,
    keep_going: Callable[[], bool] = _keep_going,
    client: httpx.Client | None = None,
) -> DeliveryRun:
    """Send every delivery due as of ``now``, per endpoint in order (see the module notes), after recording the
    grants that expired (:func:`emit_expired_grants`): one run of the sender.

    ``keep_going`` is asked before each delivery; ``client`` is the HTTP client to send with (a new one otherwise).
    """
    at = now or utcnow()
    emit_expired_grants(at)
    with UnitOfWork() as uow:
        endpoint_ids = uow.session.exec(
            select(WebhookDelivery.endpoint_id).where(WebhookDelivery.status == PENDING).distinct()
        ).all()
    counts = {DELIVERED: 0, PENDING: 0, FAILED: 0}
    own_client = client is None
    http = client or httpx.Client(timeout=TIMEOUT_SECONDS)
    try:
        for endpoint_id in sorted(endpoint_ids):
            for outcome in _deliver_endpoint(http, endpoint_id, at, keep_going):
                counts[outcome] += 1
    finally:
        if own_client:
            http.close()
    return DeliveryRun(counts[DELIVERED], counts[PENDING], counts[FAILED])


def _deliver_endpoint(
    http: httpx.Client, endpoint_id: str, at: datetime, keep_going: Callable[[], bool]
) -> Iterable[str]:
    """Send the endpoint's pending deliveries oldest first while they succeed; stop at the first not yet due or
    not delivered (later events wait behind it, so the receiver sees them in order)."""
    while keep_going():
        with UnitOfWork() as uow:
            head = uow.session.exec(
                select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
                .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == PENDING)
                .order_by(col(WebhookDelivery.id))
            ).first()
        if head is None or head[0] is None or head[1] is None or head[1] > at:
            return
        claimed = _claim(head[0], head[1], at)
        if claimed is None:
            return
        outcome = _send(http, claimed, at)
        yield outcome
        if outcome != DELIVERED:
            return


@dataclass(frozen=True, slots=True)
class _Attempt:
    """A claimed delivery: where to send which event, and which attempt this is."""

    delivery_id: int
    url: str
    secret: str
    event: WebhookEvent
    attempt: int


def _claim(delivery_id: int, scheduled: datetime, at: datetime) -> _Attempt | None:
    """Take the attempt: count it and move ``next_attempt_at`` on by the lease if it still says ``scheduled``
    (another process that took it first moved it already: None)."""
    with UnitOfWork() as uow:
        session = uow.session
        taken = session.exec(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == delivery_id, col(WebhookDelivery.next_attempt_at) == scheduled)
            .where(col(WebhookDelivery.status) == PENDING)
            .values(next_attempt_at=at + CLAIM_LEASE, attempts=col(WebhookDelivery.attempts) + 1)
        )
        if taken.rowcount != 1:
            return None
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return None
        event = session.get(WebhookEvent, delivery.event_id)
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        if event is None or endpoint is None:
            return None
        session.expunge(event)
        return _Attempt(delivery_id, endpoint.url, endpoint.secret, event, delivery.attempts)


def _send(http: httpx.Client, claimed: _Attempt, at: datetime) -> str:
    """POST one claimed delivery and record the outcome; returns its status afterwards."""
    body = event_body(claimed.event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Portal-Webhooks/1",
        SIGNATURE_HEADER: signature_header(claimed.secret, body, int(utcnow().timestamp())),
        EVENT_ID_HEADER: claimed.event.id,
        EVENT_TYPE_HEADER: claimed.event.type,
    }
    code: int | None = None
    try:
        check_target(claimed.url)
        response = http.post(claimed.url, content=body, headers=headers, timeout=TIMEOUT_SECONDS)
        code = response.status_code
        error = "" if response.is_success else f"HTTP {code}: {response.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    except InvalidInput as exc:
        error = str(exc)
    with UnitOfWork() as uow:
        delivery = uow.session.get(WebhookDelivery, claimed.delivery_id)
        if delivery is None:  # its endpoint was deleted meanwhile
            return FAILED
        delivery.last_status_code, delivery.last_error, delivery.last_attempt_at = code, error[:_ERROR_LENGTH], at
        if not error:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = DELIVERED, at, None
        elif claimed.attempt > len(RETRY_DELAYS):
            delivery.status, delivery.next_attempt_at = FAILED, None
            logger.warning(
                "Webhook delivery %s of %s to %s failed for good: %s",
                claimed.delivery_id, claimed.event.id, claimed.url, error,
            )  # fmt: skip
        else:
            delivery.next_attempt_at = at + RETRY_DELAYS[claimed.attempt - 1]
        uow.session.add(delivery)
        return delivery.status
