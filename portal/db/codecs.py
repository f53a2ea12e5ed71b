"""JSON documents stored in the database, to and from domain values.

Decimals travel as strings (``"0.0025"``) and instants as ISO 8601 UTC, so a
document never passes a number through a float. Each ``*_from_doc`` raises
:class:`~portal.domain.errors.DomainError` with a message naming the bad
field, so a document typed by staff or sent to the API is refused clearly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from portal.domain.errors import DomainError
from portal.domain.invoicing import GrantApplied, Invoice, InvoiceLine, InvoiceStatus, LineGroup, LineKind, Timing
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
from portal.domain.money import CreditType, bounded_decimal, currency, fiat, to_decimal
from portal.domain.periods import Period, ensure_utc
from portal.domain.pricing import Flat, Multiplier, Override, Package, PriceModel, Tier, Tiered, TierLine, Volume

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


def required_instant(value: Any, what: str) -> datetime:
    """Parse an ISO 8601 instant that must be there."""
    instant = instant_from_doc(value, what)
    if instant is None:
        raise InvalidDocument(f"The {what} is missing.")
    return instant


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
        up_to=None if up_to in (None, "") else bounded_decimal(up_to, "tier bound"),
        unit_price=bounded_decimal(_field(doc, "unit_price", "tier"), "tier unit price"),
        flat_fee=bounded_decimal(doc.get("flat_fee", "0"), "tier flat fee"),
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
    """The price model a document describes; refuses unknown models, missing fields and numbers out of bounds
    (:func:`~portal.domain.money.bounded_decimal`) by name."""
    model = _field(doc, "model", "price")
    if model == "flat":
        return Flat(bounded_decimal(_field(doc, "unit_price", "flat price"), "unit price"))
    if model == "package":
        return Package(
            bounded_decimal(_field(doc, "size", "package price"), "package size"),
            bounded_decimal(_field(doc, "price_per_block", "package price"), "package price"),
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
        return LatestState(required_instant(timestamp, "latest timestamp"), str(transaction_id), to_decimal(value))
    if "unique" in doc:
        return UniqueState(frozenset(str(v) for v in doc["unique"]))
    raise InvalidDocument(f"Unknown aggregation state {sorted(doc)}.")


# --- overrides -------------------------------------------------------------------------------------


def override_to_doc(override: Override) -> Doc:
    """An override as ``{"product_id", "starting_at", "ending_before", "priority", "kind", ...}``."""
    doc: Doc = {
        "product_id": override.product_id,
        "starting_at": instant_to_doc(override.starting_at),
        "ending_before": instant_to_doc(override.ending_before),
        "priority": override.priority,
    }
    change = override.change
    if isinstance(change, Multiplier):
        return {**doc, "kind": "multiplier", "factor": str(change.factor)}
    credit = change.credit_type.id if change.credit_type is not None else None
    return {**doc, "kind": "overwrite", "price": price_to_doc(change.price), "credit_type_id": credit}


def override_from_doc(doc: Mapping[str, Any], credit_types: Mapping[str, CreditType]) -> Override:
    """The override a document describes; the credit type (if any) is looked up in ``credit_types``."""
    product_id = str(_field(doc, "product_id", "override"))
    start = required_instant(_field(doc, "starting_at", "override"), "override start")
    end = instant_from_doc(doc.get("ending_before"), "override end")
    priority = int(doc.get("priority", 0))
    kind = _field(doc, "kind", "override")
    if kind == "multiplier":
        factor = bounded_decimal(_field(doc, "factor", "multiplier"), "multiplier")
        return Override.multiply(product_id, start, end, factor, priority=priority)
    if kind != "overwrite":
        raise InvalidDocument(f"Unknown override kind {kind!r}: use overwrite or multiplier.")
    credit_id = doc.get("credit_type_id")
    credit = None if credit_id is None else lookup_credit_type(credit_types, str(credit_id))
    return Override.overwrite(
        product_id,
        start,
        end,
        price_from_doc(_field(doc, "price", "overwrite")),
        credit_type=credit,
        priority=priority,
    )


def lookup_credit_type(credit_types: Mapping[str, CreditType], credit_type_id: str) -> CreditType:
    """A credit type by id (an ISO currency code or a custom unit's id)."""
    found = credit_types.get(credit_type_id)
    if found is not None:
        return found
    try:
        return fiat(credit_type_id)
    except DomainError:
        raise InvalidDocument(f"Unknown credit type {credit_type_id!r}.") from None


# --- finalized invoices ----------------------------------------------------------------------------


def _tier_line_to_doc(tier: TierLine) -> Doc:
    return {
        "tier": tier.tier,
        "quantity": str(tier.quantity),
        "unit_price": str(tier.unit_price),
        "flat_fee": str(tier.flat_fee),
        "amount": str(tier.amount),
    }


def _line_to_doc(line: InvoiceLine) -> Doc:
    return {
        "key": line.key,
        "kind": line.kind.value,
        "timing": line.timing.value,
        "contract_id": line.contract_id,
        "product_id": line.product_id,
        "description": line.description,
        "period": [instant_to_doc(line.period.start), instant_to_doc(line.period.end)],
        "credit_type_id": line.credit_type.id,
        "quantity": str(line.quantity),
        "unit_price": None if line.unit_price is None else str(line.unit_price),
        "units": str(line.units),
        "overage_units": str(line.overage_units),
        "blocked_units": str(line.blocked_units),
        "amount_minor": line.amount_minor,
        "grants_minor": line.grants_minor,
        "blocked_minor": line.blocked_minor,
        "due_minor": line.due_minor,
        "pricing_group": line.pricing_group,
        "tiers": [_tier_line_to_doc(t) for t in line.tiers],
        "grants": [
            {
                "grant_id": g.grant_id,
                "units": str(g.units),
                "amount_minor": g.amount_minor,
                "explanations": list(g.explanations),
            }
            for g in line.grants
        ],
        "groups": [
            {
                "group": [list(pair) for pair in g.group],
                "units": str(g.units),
                "amount_minor": g.amount_minor,
                "grants_minor": g.grants_minor,
                "blocked_minor": g.blocked_minor,
                "due_minor": g.due_minor,
            }
            for g in line.groups
        ],
        "charge_ids": list(line.charge_ids),
        "previously_billed_minor": line.previously_billed_minor,
    }


def _line_from_doc(doc: Mapping[str, Any], credit_types: Mapping[str, CreditType]) -> InvoiceLine:
    start, end = (required_instant(v, "line period") for v in doc["period"])
    return InvoiceLine(
        key=doc["key"],
        kind=LineKind(doc["kind"]),
        timing=Timing(doc["timing"]),
        contract_id=doc["contract_id"],
        product_id=doc["product_id"],
        description=doc["description"],
        period=Period(start, end),
        credit_type=lookup_credit_type(credit_types, doc["credit_type_id"]),
        quantity=Decimal(doc["quantity"]),
        unit_price=None if doc["unit_price"] is None else Decimal(doc["unit_price"]),
        units=Decimal(doc["units"]),
        overage_units=Decimal(doc["overage_units"]),
        blocked_units=Decimal(doc["blocked_units"]),
        amount_minor=int(doc["amount_minor"]),
        grants_minor=int(doc["grants_minor"]),
        blocked_minor=int(doc["blocked_minor"]),
        due_minor=int(doc["due_minor"]),
        pricing_group=doc.get("pricing_group"),
        tiers=tuple(
            TierLine(
                t["tier"],
                Decimal(t["quantity"]),
                Decimal(t["unit_price"]),
                Decimal(t["flat_fee"]),
                Decimal(t["amount"]),
            )
            for t in doc["tiers"]
        ),
        grants=tuple(
            GrantApplied(g["grant_id"], Decimal(g["units"]), int(g["amount_minor"]), tuple(g["explanations"]))
            for g in doc["grants"]
        ),
        groups=tuple(
            LineGroup(
                tuple((k, v) for k, v in g["group"]),
                Decimal(g["units"]),
                int(g["amount_minor"]),
                int(g["grants_minor"]),
                int(g["blocked_minor"]),
                int(g["due_minor"]),
            )
            for g in doc["groups"]
        ),
        charge_ids=tuple(doc["charge_ids"]),
        previously_billed_minor=int(doc["previously_billed_minor"]),
    )


def invoice_lines_to_doc(invoice: Invoice) -> Doc:
    """What a finalized invoice stores besides its columns: its lines."""
    return {"lines": [_line_to_doc(line) for line in invoice.lines]}


def invoice_from_row(
    *,
    invoice_id: str,
    contract_id: str,
    customer_id: str,
    period: Period,
    currency_code: str,
    status: str,
    document: Mapping[str, Any],
    finalized_at: datetime,
    credit_types: Mapping[str, CreditType],
) -> Invoice:
    """A stored invoice as the domain value drafts subtract from."""
    return Invoice(
        id=invoice_id,
        contract_id=contract_id,
        customer_id=customer_id,
        period=period,
        currency=currency(currency_code),
        status=InvoiceStatus(status),
        lines=tuple(_line_from_doc(line, credit_types) for line in document["lines"]),
        as_of=finalized_at,
        finalized_at=finalized_at,
    )
