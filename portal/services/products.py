"""Products for staff: what appears on invoices, priced by rate cards.

A usage product bills a billable metric (optionally converting its quantity,
e.g. per 1,000 tokens, and rounding it); a fixed product is a flat fee each
period. Seats are priced on the tier itself. A new product gets its first
price on a rate card through a price change (:mod:`portal.services.rate_changes`),
simulated and scheduled like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlmodel import col, select

from portal.db.loaders import product_from_row
from portal.db.models import BillableMetricRow, ProductRow
from portal.db.uow import UnitOfWork
from portal.domain.errors import DomainError, InvalidAmount
from portal.domain.money import bounded_decimal
from portal.domain.pricing import ConversionOperation, ProductKind, RoundingMode
from portal.services.audit import record, require_staff
from portal.services.customers import Actor
from portal.services.errors import InvalidInput

PRICED_KINDS = (ProductKind.USAGE.value, ProductKind.FIXED.value)
"""The kinds of product a rate card prices (seats are priced on the tier)."""


@dataclass(frozen=True, slots=True)
class ProductView:
    """A product as staff see it."""

    id: str
    name: str
    kind: str
    metric: str
    per: str
    """How the metric's quantity is turned into the billed quantity, in words (e.g. ``÷ 1,000, rounded up``)."""


def _per(row: ProductRow) -> str:
    if row.conversion_factor is None:
        return ""
    sign = "÷" if row.conversion_operation == ConversionOperation.DIVIDE.value else "×"
    rounded = f", rounded {row.rounding_mode.replace('_', ' ')}" if row.rounding_mode else ""
    return f"{sign} {row.conversion_factor.normalize():,f}{rounded}"


def list_products(actor: Actor) -> list[ProductView]:
    """Every product a rate card may price, by name (staff only)."""
    require_staff(actor)
    with UnitOfWork() as uow:
        metrics = dict(uow.session.exec(select(BillableMetricRow.id, BillableMetricRow.name)).all())
        rows = uow.session.exec(
            select(ProductRow).where(col(ProductRow.kind).in_(PRICED_KINDS)).order_by(col(ProductRow.name))
        ).all()
        return [ProductView(r.id, r.name, r.kind, metrics.get(r.metric_id or "", ""), _per(r)) for r in rows]


def _text(definition: Mapping[str, Any], name: str) -> str | None:
    value = str(definition.get(name) or "").strip()
    return value or None


def create_product(actor: Actor, definition: Mapping[str, Any]) -> ProductView:
    """Add a usage or fixed product ({name, kind, metric_id, per, rounding, pricing_group_key,
    presentation_group_key}); wrong fields are refused by name."""
    require_staff(actor)
    name = _text(definition, "name")
    if name is None or len(name) > 200:
        raise InvalidInput("Give the product a name of 1 to 200 characters, as invoices will show it.")
    kind = (_text(definition, "kind") or "").lower()
    if kind not in PRICED_KINDS:
        raise InvalidInput(f"The kind must be usage or fixed (seats are priced on the tier), not {kind!r}.")
    per = _text(definition, "per")
    factor: Decimal | None = None
    if per is not None:
        try:
            factor = bounded_decimal(per.replace(",", ""), "quantity divisor")
        except InvalidAmount as exc:
            raise InvalidInput(str(exc)) from None
        if factor <= 0:
            raise InvalidInput(f"The quantity divisor must be more than zero, not {factor}.")
    rounding = (_text(definition, "rounding") or "").lower() or None
    if rounding is not None and rounding.upper() not in RoundingMode.__members__:
        choices = ", ".join(m.lower() for m in RoundingMode.__members__)
        raise InvalidInput(f"The rounding must be one of {choices}, not {rounding!r}.")
    with UnitOfWork() as uow:
        session = uow.session
        if session.exec(select(ProductRow).where(ProductRow.name == name)).first() is not None:
            raise InvalidInput(f"A product is already named {name!r}: pick another name.")
        metric_id = _text(definition, "metric_id")
        metric = session.get(BillableMetricRow, metric_id) if metric_id else None
        if metric_id and (metric is None or metric.archived_at is not None):
            raise InvalidInput(f"There is no active metric {metric_id!r}.")
        groups = set(metric.group_keys) if metric else set()
        for key in ("pricing_group_key", "presentation_group_key"):
            value = _text(definition, key)
            if value is not None and value not in groups:
                raise InvalidInput(
                    f"The {key.replace('_', ' ')} {value!r} is not a group key of the metric "
                    f"(it has {', '.join(sorted(groups)) or 'none'})."
                )
        row = ProductRow(
            name=name,
            kind=kind,
            metric_id=metric_id,
            conversion_factor=factor,
            conversion_operation=ConversionOperation.DIVIDE.value if factor is not None else None,
            rounding_mode=rounding,
            rounding_places=0 if rounding else None,
            pricing_group_key=_text(definition, "pricing_group_key"),
            presentation_group_key=_text(definition, "presentation_group_key"),
        )
        try:
            product_from_row(row.model_copy(update={"id": "new"}))
        except DomainError as exc:
            raise InvalidInput(str(exc).replace("'new' ", "")) from None
        session.add(row)
        session.flush()
        view = ProductView(row.id, row.name, row.kind, metric.name if metric else "", _per(row))
        after = {"name": name, "kind": kind, "metric_id": metric_id, "per": per, "rounding": rounding}
        record(session, actor, "product.create", ("product", row.id), f"product {name!r} ({kind}) created", after=after)
        return view
