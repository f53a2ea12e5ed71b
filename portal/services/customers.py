"""Customers and their usage: create and list customers, and usage time series from the hourly rollups.

Who may see a customer: staff; the customer's own users and ``read`` keys;
and for a child customer (a department) also the parent's admins and keys.
Anyone else is told the customer does not exist, so ids cannot be probed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlmodel import Session, col, select

from portal.db.event_store import event_store
from portal.db.models import BillableMetricRow, Contract, Customer, GrantRow, IngestAlias
from portal.db.repositories import metric_from_row
from portal.db.uow import UnitOfWork
from portal.domain.metrics import AggregationState, merge, quantity
from portal.domain.money import currency
from portal.domain.periods import ensure_utc
from portal.services import payment_customers
from portal.services.audit import record
from portal.services.errors import Forbidden, InvalidInput, NotFound

GRANULARITIES = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
MAX_SERIES_POINTS = 5_000


class Actor(Protocol):
    """Who asks: a signed-in user or an API key."""

    @property
    def is_staff(self) -> bool:
        """Staff see every customer."""
        ...

    @property
    def customer_id(self) -> str | None:
        """The customer the actor belongs to, if any."""
        ...

    @property
    def is_customer_admin(self) -> bool:
        """An admin of their customer (who may change its seats and tier)."""
        ...

    @property
    def audit_name(self) -> str:
        """Who made a change, as the audit log shows it."""
        ...


@dataclass(frozen=True, slots=True)
class CustomerView:
    """A customer as the API shows it."""

    id: str
    name: str
    currency: str
    parent_id: str | None
    ingest_aliases: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UsagePoint:
    """The quantity of a metric in one time bucket, for one group value ("" when not grouped)."""

    start: datetime
    group: str
    quantity: str


def visible_customer(session: Session, actor: Actor, customer_id: str) -> Customer:
    """The customer, if ``actor`` may see it; otherwise :class:`NotFound` (never reveals other customers)."""
    customer = session.get(Customer, customer_id)
    own = actor.customer_id
    if customer is None or not (
        actor.is_staff
        or own == customer.id
        or (own is not None and own in {a.id for a in ancestors(session, customer)})
    ):
        raise NotFound(f"There is no customer {customer_id}.")
    return customer


MAX_DEPTH = 5
"""How many levels a customer hierarchy may have (an enterprise, divisions, departments, teams, ...)."""


def is_enterprise(session: Session, customer: Customer) -> bool:
    """True for a customer with departments, or whose contract holds a commitment shared with departments."""
    if session.exec(select(Customer.id).where(Customer.parent_id == customer.id)).first() is not None:
        return True
    shared = (
        select(GrantRow.id)
        .join(Contract, col(Contract.id) == GrantRow.contract_id)
        .where(Contract.customer_id == customer.id, GrantRow.scope == "shared")
    )
    return session.exec(shared).first() is not None


def customers_under(session: Session, customer_ids: Iterable[str]) -> list[str]:
    """``customer_ids`` and the ids of every customer under them, level by level."""
    found = list(dict.fromkeys(customer_ids))
    seen = set(found)
    level = list(found)
    while level:
        below = session.exec(select(Customer.id).where(col(Customer.parent_id).in_(level))).all()
        level = [c for c in below if c not in seen]
        seen.update(level)
        found += level
    return found


def ancestors(session: Session, customer: Customer) -> list[Customer]:
    """The customers above ``customer``, nearest first."""
    found: list[Customer] = []
    seen = {customer.id}
    parent_id = customer.parent_id
    while parent_id is not None and parent_id not in seen:
        parent = session.get(Customer, parent_id)
        if parent is None:
            break
        found.append(parent)
        seen.add(parent.id)
        parent_id = parent.parent_id
    return found


def _view(session: Session, customer: Customer) -> CustomerView:
    aliases = session.exec(select(IngestAlias.alias).where(IngestAlias.customer_id == customer.id)).all()
    return CustomerView(
        customer.id, customer.name, customer.currency, customer.parent_id, tuple(sorted(aliases)), customer.created_at
    )


def create_customer(
    actor: Actor,
    name: str,
    currency_code: str = "USD",
    parent_id: str | None = None,
    ingest_aliases: tuple[str, ...] = (),
) -> CustomerView:
    """Create a customer (staff only), optionally as a child of ``parent_id``, with its ingest aliases."""
    if not actor.is_staff:
        raise Forbidden("Only staff can create customers.")
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("A customer needs a name of 1 to 200 characters.")
    code = currency(currency_code).code
    with UnitOfWork() as uow:
        if parent_id is not None:
            parent = uow.session.get(Customer, parent_id)
            if parent is None:
                raise InvalidInput(f"The parent customer {parent_id} does not exist.")
            if len(ancestors(uow.session, parent)) + 2 > MAX_DEPTH:
                raise InvalidInput(
                    f"{parent.name} is already {MAX_DEPTH - 1} levels down: a hierarchy has at most {MAX_DEPTH} levels."
                )
        taken = uow.session.exec(select(IngestAlias.alias).where(col(IngestAlias.alias).in_(ingest_aliases))).all()
        if taken:
            raise InvalidInput(f"The ingest alias {taken[0]!r} already belongs to another customer.")
        customer = Customer(name=name, currency=code, parent_id=parent_id)
        uow.session.add(customer)
        uow.session.flush()
        for alias in dict.fromkeys(a.strip() for a in ingest_aliases if a.strip()):
            uow.session.add(IngestAlias(alias=alias, customer_id=customer.id))
        uow.session.flush()
        view = _view(uow.session, customer)
        record(
            uow.session,
            actor,
            "customer.create",
            ("customer", customer.id),
            f"customer {name} created" + (f" under {parent_id}" if parent_id else ""),
            after={"name": name, "currency": code, "parent_id": parent_id, "ingest_aliases": list(view.ingest_aliases)},
        )
    payment_customers.register(view.id)
    return view


def list_customers(actor: Actor) -> list[CustomerView]:
    """Every customer the actor may see, by name."""
    with UnitOfWork() as uow:
        query = select(Customer).order_by(col(Customer.name))
        if not actor.is_staff:
            own = actor.customer_id or ""
            query = query.where((col(Customer.id) == own) | (col(Customer.parent_id) == own))
        return [_view(uow.session, c) for c in uow.session.exec(query).all()]


def get_customer(actor: Actor, customer_id: str) -> CustomerView:
    """One customer the actor may see."""
    with UnitOfWork() as uow:
        return _view(uow.session, visible_customer(uow.session, actor, customer_id))


def usage_series(
    actor: Actor,
    customer_id: str,
    metric_id: str,
    start: datetime,
    end: datetime,
    granularity: str = "day",
    group_by: str | None = None,
) -> list[UsagePoint]:
    """A metric's quantity per hour or day bucket in ``[start, end)``, optionally per value of one group key.

    Buckets are aligned on UTC hours or days. Amounts are exact decimals, sent as strings.
    """
    step = GRANULARITIES.get(granularity)
    if step is None:
        raise InvalidInput(f"Unknown granularity {granularity!r}: use hour or day.")
    start, end = ensure_utc(start, "start"), ensure_utc(end, "end")
    if end <= start:
        raise InvalidInput("The end of the range must come after its start.")
    if (end - start) / step > MAX_SERIES_POINTS:
        raise InvalidInput(f"That range has more than {MAX_SERIES_POINTS} {granularity}s: ask for a shorter range.")
    with UnitOfWork() as uow:
        visible_customer(uow.session, actor, customer_id)
        row = uow.session.get(BillableMetricRow, metric_id)
        if row is None:
            raise NotFound(f"There is no metric {metric_id}.")
        metric = metric_from_row(row)
        if group_by is not None and group_by not in metric.group_keys:
            keys = ", ".join(metric.group_keys) or "none"
            raise InvalidInput(f"Metric {metric.name!r} cannot be grouped by {group_by!r}; its group keys: {keys}.")
        rollups = event_store(uow.session.connection()).load_rollups([customer_id], start, end)
    position = metric.group_keys.index(group_by) if group_by is not None else None
    origin = start.replace(minute=0, second=0, microsecond=0)
    if granularity == "day":
        origin = origin.replace(hour=0)
    merged: dict[tuple[datetime, str], AggregationState] = {}
    for key, state in rollups:
        if key.metric_id != metric_id:
            continue
        bucket = origin + ((key.bucket_start - origin) // step) * step
        group = json.loads(key.group_values)[position] if position is not None else ""
        previous = merged.get((bucket, group))
        merged[(bucket, group)] = state if previous is None else merge(previous, state)
    return [UsagePoint(bucket, group, str(quantity(state))) for (bucket, group), state in sorted(merged.items())]
