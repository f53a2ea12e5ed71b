"""Usage ingest: validate events, store each once, keep rollups current, answer per event.

Rules (also in the API docs):

* A request carries 1 to 100 events. Each event needs ``transaction_id``
  (1-200 characters, its idempotency key), ``customer_id`` (the customer's
  id or one of its ingest aliases), ``event_type``, ``timestamp`` (RFC 3339
  with a timezone) and ``properties`` (an object of string values; send
  numbers as strings, ``"1200"``); no text may hold a NUL character or an
  unpaired surrogate.
* **Partial acceptance**: the valid events of a batch are stored and the
  invalid ones are refused, each reported by its index with the reason. The
  response lists every event's outcome, so the client is never left
  guessing what was written. A request that is not a list of 1 to 100
  events is refused whole.
* A ``transaction_id`` already received in the last 34 days is acknowledged
  as a **duplicate** and never counted twice (also when the same id comes
  twice in one batch, or from two clients at once).
* A timestamp more than 24 hours in the future, or older than the 34-day
  backfill window, is refused.
* An ingest key may only send usage for its own customer; a staff key for any.
* Usage of a department whose **blocking budget** is used up (see :mod:`portal.services.enterprise`) is
  refused with a "budget exhausted" reason and counts nothing, until an admin raises the budget or the next
  budget period starts.
* Usage of a customer, or of a seat, whose **spend cap** for the period is reached (see
  :mod:`portal.services.spend_caps`) is refused with a "spend cap reached" reason and counts nothing, until an
  admin raises or removes the cap or the next billing period starts.
* When the response is sent, the events are durable and every balance,
  rollup and draft invoice already includes them (read-your-writes).

Writes go through one writer (see :mod:`portal.services.ingest_writer`) that
commits the events of all concurrent requests together (group commit): fewer,
larger transactions and the same durability, since no request is answered
before its commit.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from portal.db.models import Customer, IngestAlias, utcnow
from portal.db.session import get_engine
from portal.domain.metrics import UsageEvent
from portal.services import budget_gate, spend_caps
from portal.services.api_keys import INGEST, ApiPrincipal
from portal.services.errors import InvalidInput
from portal.services.ingest_writer import Stored, writer
from portal.services.text import NUL, unstorable

MAX_EVENTS_PER_REQUEST = 100
BACKFILL_WINDOW = timedelta(days=34)
FUTURE_TOLERANCE = timedelta(hours=24)
MAX_PROPERTIES = 100
MAX_TEXT = 200
MAX_VALUE_TEXT = 1000
ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"


@dataclass(frozen=True, slots=True)
class EventResult:
    """What happened to one event of a request, by its position in the request."""

    index: int
    transaction_id: str | None
    status: str
    reason: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IngestReport:
    """The outcome of every event of a request."""

    results: tuple[EventResult, ...]

    def count(self, status: str) -> int:
        """How many events ended with ``status``."""
        return sum(1 for r in self.results if r.status == status)


# --- validation ------------------------------------------------------------------------------------


def _text(raw: Mapping[str, Any], name: str, limit: int = MAX_TEXT) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name} is missing or not a non-empty string")
    if len(value) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters")
    if reason := unstorable(value):
        raise InvalidInput(f"{name} {reason}")
    return value


def _timestamp(raw: Mapping[str, Any], now: datetime) -> datetime:
    value = _text(raw, "timestamp", 64)
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"timestamp {value!r} is not an RFC 3339 date and time") from None
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise InvalidInput(f"timestamp {value!r} has no timezone (end it with Z or an offset such as +02:00)")
    if instant > now + FUTURE_TOLERANCE:
        raise InvalidInput(f"timestamp {value} is more than 24 hours in the future")
    if instant < now - BACKFILL_WINDOW:
        raise InvalidInput(f"timestamp {value} is older than the 34-day backfill window")
    return instant


def _properties(raw: Mapping[str, Any]) -> dict[str, str]:
    value = raw.get("properties", {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("properties must be an object of string values")
    if len(value) > MAX_PROPERTIES:
        raise InvalidInput(f"properties has more than {MAX_PROPERTIES} entries")
    for key, item in value.items():
        if not isinstance(item, str):
            raise InvalidInput(f'property {key!r} is a {type(item).__name__}; send every value as a string, e.g. "12"')
        if len(key) > MAX_TEXT or len(item) > MAX_VALUE_TEXT:
            raise InvalidInput(
                f"property {key[:40]!r} is too long (names up to {MAX_TEXT}, values up to {MAX_VALUE_TEXT} characters)"
            )
        if reason := unstorable(key) or unstorable(item):
            raise InvalidInput(f"property {key[:40]!r} {reason}")
    return value


@dataclass(frozen=True, slots=True)
class ValidEvent:
    """An event of a request that passed validation, with its position in the request."""

    index: int
    event: UsageEvent


def _short_text(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= MAX_TEXT and not value.isspace() and _ascii_or_storable(value)


def _ascii_or_storable(value: str) -> bool:
    """Cheap for the usual ASCII text without a NUL character; exact otherwise."""
    return (value.isascii() and NUL not in value) or unstorable(value) is None


def _plain(raw: dict[str, Any]) -> bool:
    """A cheap test that the event's texts and properties are well formed (true for almost every event)."""
    properties = raw.get("properties")
    return (
        _short_text(raw.get("transaction_id"))
        and _short_text(raw.get("customer_id"))
        and _short_text(raw.get("event_type"))
        and (
            properties is None
            or (
                type(properties) is dict
                and len(properties) <= MAX_PROPERTIES
                and all(
                    type(v) is str
                    and len(v) <= MAX_VALUE_TEXT
                    and len(k) <= MAX_TEXT
                    and _ascii_or_storable(k)
                    and _ascii_or_storable(v)
                    for k, v in properties.items()
                )
            )
        )
    )


def _parse(index: int, raw: Any, now: datetime) -> ValidEvent | EventResult:
    if not isinstance(raw, dict):
        return EventResult(index, None, REJECTED, "an event must be a JSON object")
    transaction_id = raw.get("transaction_id") if isinstance(raw.get("transaction_id"), str) else None
    try:
        if _plain(raw):
            event = UsageEvent(
                raw["transaction_id"],
                raw["customer_id"],
                raw["event_type"],
                _timestamp(raw, now),
                raw.get("properties") or {},
            )
        else:  # find and name what is wrong
            event = UsageEvent(
                transaction_id=_text(raw, "transaction_id"),
                customer_id=_text(raw, "customer_id"),
                event_type=_text(raw, "event_type"),
                timestamp=_timestamp(raw, now),
                properties=_properties(raw),
            )
    except InvalidInput as exc:
        return EventResult(index, transaction_id, REJECTED, str(exc))
    return ValidEvent(index, event)


def parse_events(payload: Any, now: datetime) -> list[ValidEvent | EventResult]:
    """Each event of a request body, valid or refused with its reason, in request order; a body that is not a
    batch of 1 to 100 events is refused whole (:class:`InvalidInput`). Never raises anything else."""
    return [_parse(i, raw, now) for i, raw in enumerate(check_batch(payload))]


def check_batch(payload: Any) -> list[Any]:
    """The list of raw events in a request body (a list, or an object with ``events``), or refuse it whole."""
    events = payload.get("events") if isinstance(payload, dict) else payload
    if not isinstance(events, list):
        raise InvalidInput("Send a JSON array of usage events (or an object with an 'events' array).")
    if not events:
        raise InvalidInput("The batch is empty: send 1 to 100 events.")
    if len(events) > MAX_EVENTS_PER_REQUEST:
        raise InvalidInput(f"The batch has {len(events)} events: send at most {MAX_EVENTS_PER_REQUEST} per request.")
    return events


# --- customers -------------------------------------------------------------------------------------


class CustomerDirectory:
    """Resolves a customer id or ingest alias to the customer id; remembers what it found."""

    def __init__(self) -> None:
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()

    def resolve(self, names: set[str]) -> dict[str, str]:
        """The customer id of each name that is a customer id or alias (unknown names are left out)."""
        found = {n: self._known[n] for n in names if n in self._known}
        missing = names - found.keys()
        if missing:
            with Session(get_engine()) as session:
                for customer_id in session.exec(select(Customer.id).where(Customer.id.in_(missing))):  # type: ignore[attr-defined]
                    found[customer_id] = customer_id
                for alias in session.exec(select(IngestAlias).where(IngestAlias.alias.in_(missing))):  # type: ignore[attr-defined]
                    found[alias.alias] = alias.customer_id
            with self._lock:
                self._known.update(found)
        return found

    def forget(self) -> None:
        """Drop what was learned (after an alias moved to another customer, or in tests)."""
        with self._lock:
            self._known.clear()


_DIRECTORY = CustomerDirectory()


def directory() -> CustomerDirectory:
    """The process's customer directory."""
    return _DIRECTORY


# --- the use case ----------------------------------------------------------------------------------


def prepare(
    principal: ApiPrincipal, payload: Any, now: datetime | None = None
) -> tuple[list[ValidEvent], list[EventResult]]:
    """Validate a request: the events to store (customers resolved) and the refused ones with reasons."""
    principal.require(INGEST)
    now = now or utcnow()
    parsed = parse_events(payload, now)
    refused = [p for p in parsed if isinstance(p, EventResult)]
    valid = [p for p in parsed if isinstance(p, ValidEvent)]
    customers = _DIRECTORY.resolve({v.event.customer_id for v in valid})
    blocked = budget_gate.gate().refusals(customers.values()) if customers else {}
    capped = spend_caps.gate().refusals(customers.values(), now) if customers else {}
    accepted: list[ValidEvent] = []
    for item in valid:
        event = item.event
        customer_id = customers.get(event.customer_id)
        if customer_id is None:
            refused.append(
                EventResult(item.index, event.transaction_id, REJECTED, f"unknown customer {event.customer_id!r}")
            )
        elif not principal.is_staff and customer_id != principal.customer_id:
            refused.append(
                EventResult(
                    item.index, event.transaction_id, REJECTED, "this API key may only send usage for its own customer"
                )
            )
        elif customer_id in blocked:
            refused.append(EventResult(item.index, event.transaction_id, REJECTED, blocked[customer_id]))
        elif customer_id in capped and (cap := capped[customer_id].reason(event.properties)) is not None:
            refused.append(EventResult(item.index, event.transaction_id, REJECTED, cap))
        else:
            resolved = (
                event
                if customer_id == event.customer_id
                else UsageEvent(event.transaction_id, customer_id, event.event_type, event.timestamp, event.properties)
            )
            accepted.append(ValidEvent(item.index, resolved))
    return accepted, refused


def report(accepted: list[ValidEvent], refused: list[EventResult], stored: Mapping[str, Stored]) -> IngestReport:
    """Combine the writer's outcome with the refusals, in request order."""
    results = list(refused)
    seen: set[str] = set()
    for item in accepted:
        transaction_id = item.event.transaction_id
        outcome = stored[transaction_id]
        is_new = outcome.new and transaction_id not in seen
        seen.add(transaction_id)
        results.append(
            EventResult(
                item.index,
                transaction_id,
                ACCEPTED if is_new else DUPLICATE,
                "" if is_new else f"transaction_id {transaction_id!r} was already received; it is counted once",
                outcome.warnings if is_new else (),
            )
        )
    return IngestReport(tuple(sorted(results, key=lambda r: r.index)))


def ingest(principal: ApiPrincipal, payload: Any, now: datetime | None = None) -> IngestReport:
    """Validate, store and report a batch of events (blocking until they are durable)."""
    accepted, refused = prepare(principal, payload, now)
    stored = writer().submit([a.event for a in accepted]).result() if accepted else {}
    return report(accepted, refused, stored)
