"""JSON documents stored in the database, to and from domain values.

Decimals travel as strings (``"0.0025"``) and instants as ISO 8601 UTC, so a
document never passes a number through a float. Each ``*_from_doc`` raises
:class:`~portal.domain.errors.DomainError` with a message naming the bad
field, so a document typed by staff or sent to the API is refused clearly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from portal.domain.errors import DomainError
from portal.domain.metrics import (
    AggregationState,
    CountState,
    FilterOp,
    LatestState,
    MaxState,
    PropertyFilter,
    SumState,
    UniqueState,
)
from portal.domain.money import to_decimal
from portal.domain.periods import ensure_utc
from portal.domain.pricing import Flat, Package, PriceModel, Tier, Tiered, Volume

Doc = dict[str, Any]


class InvalidDocument(DomainError):
    """A stored or submitted document lacks a field or has one of the wrong form."""


def _field(doc: Mapping[str, Any], name: str, what: str) -> Any:
    if name not in doc:
        raise InvalidDocument(f"The {what} needs the field {name!r}.")
    return doc[name]


def instant_to_doc(instant: datetime | None) -> str | None:
    """An instant as ISO 8601 in UTC (``2026-01-31T00:00:00+00:00``)."""
    return None if instant is None else ensure_utc(instant).isoformat()


def instant_from_doc(value: Any, what: str) -> datetime | None:
    """Parse an ISO 8601 instant with a timezone; None stays None."""
    if value is None:
        return None
    try:
        return ensure_utc(datetime.fromisoformat(str(value)), what)
    except ValueError:
        raise InvalidDocument(f"The {what} {value!r} is not an ISO 8601 date and time.") from None


# --- price models ---------------------------------------------------------------------------------


def _tier_to_doc(tier: Tier) -> Doc:
    return {
        "up_to": None if tier.up_to is None else str(tier.up_to),
        "unit_price": str(tier.unit_price),
        "flat_fee": str(tier.flat_fee),
    }


def _tier_from_doc(doc: Mapping[str, Any]) -> Tier:
    up_to = doc.get("up_to")
    return Tier(
        up_to=None if up_to in (None, "") else to_decimal(up_to, "tier bound"),
        unit_price=to_decimal(_field(doc, "unit_price", "tier"), "tier unit price"),
        flat_fee=to_decimal(doc.get("flat_fee", "0"), "tier flat fee"),
    )


def price_to_doc(price: PriceModel) -> Doc:
    """A price model as a document: ``{"model": "flat", "unit_price": "0.01"}`` and so on."""
    if isinstance(price, Flat):
        return {"model": "flat", "unit_price": str(price.unit_price)}
    if isinstance(price, Package):
        return {"model": "package", "size": str(price.size), "price_per_block": str(price.price_per_block)}
    model = "tiered" if isinstance(price, Tiered) else "volume"
    return {"model": model, "tiers": [_tier_to_doc(t) for t in price.tiers]}


def price_from_doc(doc: Mapping[str, Any]) -> PriceModel:
    """The price model a document describes; refuses unknown models and missing fields by name."""
    model = _field(doc, "model", "price")
    if model == "flat":
        return Flat(to_decimal(_field(doc, "unit_price", "flat price"), "unit price"))
    if model == "package":
        return Package(
            to_decimal(_field(doc, "size", "package price"), "package size"),
            to_decimal(_field(doc, "price_per_block", "package price"), "package price"),
        )
    if model in ("tiered", "volume"):
        tiers = tuple(_tier_from_doc(t) for t in _field(doc, "tiers", f"{model} price"))
        return Tiered(tiers) if model == "tiered" else Volume(tiers)
    raise InvalidDocument(f"Unknown price model {model!r}: use flat, tiered, volume or package.")


# --- metric filters -------------------------------------------------------------------------------


def filter_to_doc(rule: PropertyFilter) -> Doc:
    """A property filter as ``{"key": ..., "op": "in", "values": [...]}``."""
    return {"key": rule.key, "op": rule.op.value, "values": sorted(rule.values)}


def filter_from_doc(doc: Mapping[str, Any]) -> PropertyFilter:
    """The property filter a document describes."""
    op = _field(doc, "op", "property filter")
    try:
        operation = FilterOp(op)
    except ValueError:
        raise InvalidDocument(f"Unknown filter {op!r}: use exists, in or not_in.") from None
    return PropertyFilter(str(_field(doc, "key", "property filter")), operation, tuple(doc.get("values", ())))


# --- aggregation states (usage rollups) -----------------------------------------------------------

_STATE_TO_DOC: dict[type, Callable[[Any], Doc]] = {
    CountState: lambda s: {"count": s.count},
    SumState: lambda s: {"sum": str(s.total)},
    MaxState: lambda s: {"max": str(s.value)},
    LatestState: lambda s: {"latest": [s.timestamp.isoformat(), s.transaction_id, str(s.value)]},
    UniqueState: lambda s: {"unique": sorted(s.values)},
}


def state_to_doc(state: AggregationState) -> Doc:
    """A mergeable aggregation state as a small document."""
    return _STATE_TO_DOC[type(state)](state)


def state_from_doc(doc: Mapping[str, Any]) -> AggregationState:
    """The aggregation state a rollup document holds."""
    if "count" in doc:
        return CountState(int(doc["count"]))
    if "sum" in doc:
        return SumState(to_decimal(doc["sum"]))
    if "max" in doc:
        return MaxState(to_decimal(doc["max"]))
    if "latest" in doc:
        timestamp, transaction_id, value = doc["latest"]
        instant = instant_from_doc(timestamp, "latest timestamp")
        assert instant is not None
        return LatestState(instant, str(transaction_id), to_decimal(value))
    if "unique" in doc:
        return UniqueState(frozenset(str(v) for v in doc["unique"]))
    raise InvalidDocument(f"Unknown aggregation state {sorted(doc)}.")
