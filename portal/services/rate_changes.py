"""Rate cards for staff, and price changes scheduled for a future date.

Rules:

* A rate card holds dated rates; every customer billed by the card (through
  its package version or directly) is billed by the rate in force at each
  hour, so a scheduled change reaches every subscriber at its effective time
  with no migration step.
* A change is proposed as a draft (product, effective instant on a whole
  hour in the future, price model, unit), simulated like a package draft,
  and scheduled only once a simulation of exactly that draft (its
  fingerprint also covers the card's current rates) has been acknowledged.
* Scheduling ends the rate in force at the effective instant there, and adds
  the new rate from then until the next rate already scheduled (or for good).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from portal.db.codecs import lookup_credit_type, price_from_doc, price_to_doc
from portal.db.loaders import Catalog
from portal.db.models import (
    ContractTerms,
    PackageVersion,
    ProductRow,
    RateCardRow,
    RateChangeRow,
    RateRow,
    SimulationRow,
    utcnow,
)
from portal.db.uow import UnitOfWork
from portal.domain import contracts as dc
from portal.domain.errors import DomainError
from portal.domain.metrics import on_the_hour
from portal.domain.money import CreditType
from portal.domain.periods import ensure_utc
from portal.domain.pricing import Flat, Package, PriceModel, Rate, RateCard, Tiered
from portal.services import simulation_gate
from portal.services.audit import record, require_staff
from portal.services.customers import Actor
from portal.services.errors import InvalidInput, NotFound
from portal.services.products import PRICED_KINDS

DRAFT, SCHEDULED = "draft", "scheduled"


def _amount(value: Decimal) -> str:
    return f"{value.normalize():,f}"


def price_label(price: PriceModel, credit_type: CreditType) -> str:
    """A price in words, e.g. ``10 AI credits per unit`` or ``first 5,000 at 2 AI credits, then 1.5``."""
    unit = credit_type.name if not credit_type.is_fiat else credit_type.currency.code
    if isinstance(price, Flat):
        return f"{_amount(price.unit_price)} {unit} per unit"
    if isinstance(price, Package):
        return f"{_amount(price.price_per_block)} {unit} per {_amount(price.size)} units"
    steps = [
        (f"up to {_amount(t.up_to)}" if t.up_to is not None else "beyond")
        + f" at {_amount(t.unit_price)}"
        + (f" + {_amount(t.flat_fee)} flat" if t.flat_fee else "")
        for t in price.tiers
    ]
    kind = "tiered" if isinstance(price, Tiered) else "volume"
    return f"{kind} ({unit} per unit): " + "; ".join(steps)


@dataclass(frozen=True, slots=True)
class RateView:
    """One dated rate of a card, in words."""

    product_id: str
    product: str
    starts: str
    ends: str
    price: str
    credit_type_id: str
    """The unit the price is in: an ISO currency code or a custom credit type id."""
    scheduled: bool
    """True for a rate that starts in the future."""


@dataclass(frozen=True, slots=True)
class RateChangeView:
    """A proposed or scheduled price change, with why it cannot be scheduled yet (empty when it can)."""

    id: str
    rate_card_id: str
    product_id: str
    product: str
    starting_at: datetime
    price: dict[str, Any]
    price_label: str
    credit_type_id: str
    status: str
    fingerprint: str
    schedule_blocker: str


@dataclass(frozen=True, slots=True)
class RateCardView:
    """A rate card: its rates over time and its price changes (drafts and scheduled)."""

    id: str
    name: str
    rates: tuple[RateView, ...]
    changes: tuple[RateChangeView, ...]
    products: tuple[tuple[str, str], ...]
    """(id, name) of every product a card may price, for a new change (one without a rate gets its first)."""


def fingerprint(session: Session, change: RateChangeRow) -> str:
    """SHA-256 of a change and of the card's current rates (another change scheduled first needs a new look)."""
    rates = session.exec(
        select(RateRow).where(RateRow.rate_card_id == change.rate_card_id).order_by(col(RateRow.id))
    ).all()
    doc = {
        "change": [change.rate_card_id, change.product_id, change.starting_at.isoformat(), change.price,
                   change.credit_type_id],
        "rates": [r.model_dump(mode="json", exclude={"created_at"}) for r in rates],
    }  # fmt: skip
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def schedule_blocker(session: Session, change: RateChangeRow, print_: str | None = None) -> str:
    """Why the change cannot be scheduled yet ('' when it can, or when it is not a draft)."""
    if change.status != DRAFT:
        return ""
    if change.starting_at <= utcnow():
        return "Its effective time has passed: propose the change again with a future date."
    return simulation_gate.blocker(
        session,
        SimulationRow.rate_change_id,
        change.id,
        print_ or fingerprint(session, change),
        "change",
        "scheduling",
        "The rate card changed since the last simulation: simulate this change again.",
    )


def _change_view(session: Session, change: RateChangeRow, catalog: Catalog) -> RateChangeView:
    product = catalog.products.get(change.product_id)
    print_ = fingerprint(session, change)
    return RateChangeView(
        id=change.id,
        rate_card_id=change.rate_card_id,
        product_id=change.product_id,
        product=product.name if product else change.product_id,
        starting_at=change.starting_at,
        price=change.price,
        price_label=price_label(price_from_doc(change.price), catalog.credit_type(change.credit_type_id)),
        credit_type_id=change.credit_type_id,
        status=change.status,
        fingerprint=print_,
        schedule_blocker=schedule_blocker(session, change, print_),
    )


def _card_row(session: Session, rate_card_id: str) -> RateCardRow:
    card = session.get(RateCardRow, rate_card_id)
    if card is None:
        raise NotFound(f"There is no rate card {rate_card_id}.")
    return card


def list_rate_cards(actor: Actor) -> list[tuple[str, str]]:
    """Every rate card, (id, name), by name (staff only)."""
    require_staff(actor)
    with UnitOfWork() as uow:
        return [(c.id, c.name) for c in uow.session.exec(select(RateCardRow).order_by(col(RateCardRow.name)))]


def rate_card(actor: Actor, rate_card_id: str) -> RateCardView:
    """A rate card with its rates over time and its price changes (staff only)."""
    require_staff(actor)
    now = utcnow()
    with UnitOfWork() as uow:
        session = uow.session
        card = _card_row(session, rate_card_id)
        catalog = Catalog(session)
        rates = sorted(catalog.rate_card(card.id).rates, key=lambda r: (r.product_id, r.starting_at))
        names = {p.id: p.name for p in catalog.products.values() if p.kind.value in PRICED_KINDS}
        changes = session.exec(
            select(RateChangeRow)
            .where(RateChangeRow.rate_card_id == card.id)
            .order_by(col(RateChangeRow.starting_at), col(RateChangeRow.created_at))
        ).all()
        return RateCardView(
            id=card.id,
            name=card.name,
            rates=tuple(
                RateView(
                    r.product_id,
                    names[r.product_id],
                    f"{r.starting_at:%Y-%m-%d %H:%M}",
                    f"{r.ending_before:%Y-%m-%d %H:%M}" if r.ending_before else "",
                    price_label(r.price, r.credit_type) if r.entitled else "not included",
                    r.credit_type.id,
                    r.starting_at > now,
                )
                for r in rates
            ),
            changes=tuple(_change_view(session, c, catalog) for c in changes),
            products=tuple(sorted(names.items(), key=lambda item: item[1])),
        )


def _change(session: Session, change_id: str) -> RateChangeRow:
    change = session.get(RateChangeRow, change_id)
    if change is None:
        raise NotFound(f"There is no price change {change_id}.")
    return change


def change_detail(actor: Actor, change_id: str) -> RateChangeView:
    """One price change (staff only)."""
    require_staff(actor)
    with UnitOfWork() as uow:
        return _change_view(uow.session, _change(uow.session, change_id), Catalog(uow.session))


def propose(
    actor: Actor,
    rate_card_id: str,
    product_id: str,
    starting_at: datetime,
    price: dict[str, Any],
    credit_type_id: str,
) -> RateChangeView:
    """Propose a new price for one product of a card from a future whole hour (a draft, to simulate)."""
    require_staff(actor)
    try:
        start = ensure_utc(starting_at, "effective time")
        model = price_from_doc(price)
    except (DomainError, ValueError) as exc:
        raise InvalidInput(str(exc)) from None
    if not on_the_hour(start):
        raise InvalidInput(
            f"The effective time {start:%Y-%m-%d %H:%M} is not on a whole hour: prices change by the hour."
        )
    if start <= utcnow():
        raise InvalidInput(
            f"The effective time {start:%Y-%m-%d %H:%M} UTC has passed: schedule changes for the future."
        )
    with UnitOfWork() as uow:
        session = uow.session
        card = _card_row(session, rate_card_id)
        catalog = Catalog(session)
        product = session.get(ProductRow, product_id)
        if product is None:
            raise InvalidInput(f"There is no product {product_id!r}.")
        if product.kind not in PRICED_KINDS:
            raise InvalidInput(f"{product.name} is priced on each tier (its seat price), not on a rate card.")
        try:
            lookup_credit_type(catalog.credit_types, credit_type_id)
        except DomainError as exc:
            raise InvalidInput(str(exc)) from None
        change = RateChangeRow(
            rate_card_id=card.id,
            product_id=product_id,
            starting_at=start,
            price=price_to_doc(model),
            credit_type_id=credit_type_id,
            created_by=actor.audit_name,
        )
        session.add(change)
        session.flush()
        view = _change_view(session, change, catalog)
        record(
            session,
            actor,
            "rate.propose",
            ("rate_change", change.id),
            f"{card.name}: {view.product} at {view.price_label} from {start:%Y-%m-%d %H:%M} UTC proposed",
            after={"rate_card_id": card.id, "product_id": product_id, "starting_at": start.isoformat(),
                   "price": change.price, "credit_type_id": credit_type_id},
        )  # fmt: skip
        return view


def discard(actor: Actor, change_id: str) -> None:
    """Drop a draft change and its simulations."""
    require_staff(actor)
    with UnitOfWork() as uow:
        session = uow.session
        change = _change(session, change_id)
        if change.status != DRAFT:
            raise InvalidInput("This change is scheduled: propose another change to set a new price.")
        record(session, actor, "rate.discard", ("rate_change", change.id), "price change discarded",
               before={"product_id": change.product_id, "starting_at": change.starting_at.isoformat(),
                       "price": change.price})  # fmt: skip
        for simulation in session.exec(select(SimulationRow).where(SimulationRow.rate_change_id == change.id)):
            session.delete(simulation)
        session.flush()
        session.delete(change)


def schedule(actor: Actor, change_id: str) -> RateChangeView:
    """Add the change to its card (after an acknowledged simulation): every subscriber gets it at its time."""
    require_staff(actor)
    with UnitOfWork() as uow:
        session = uow.session
        change = _change(session, change_id)
        if change.status != DRAFT:
            raise InvalidInput("This change is already scheduled.")
        blocker = schedule_blocker(session, change)
        if blocker:
            raise InvalidInput(f"Not scheduled. {blocker}")
        rows = session.exec(
            select(RateRow).where(RateRow.rate_card_id == change.rate_card_id, RateRow.product_id == change.product_id)
        ).all()
        start = change.starting_at
        later = [r.starting_at for r in rows if r.starting_at > start]
        if any(r.starting_at == start for r in rows):
            raise InvalidInput(f"A rate already starts at {start:%Y-%m-%d %H:%M}: pick another time.")
        for row in rows:  # the rate in force at the change's time ends there
            if row.starting_at < start and (row.ending_before is None or row.ending_before > start):
                row.ending_before = start
        session.add(
            RateRow(
                rate_card_id=change.rate_card_id,
                product_id=change.product_id,
                starting_at=start,
                ending_before=min(later) if later else None,
                price=change.price,
                credit_type_id=change.credit_type_id,
            )
        )
        change.status = SCHEDULED
        change.scheduled_at = utcnow()
        catalog = Catalog(session)
        session.flush()
        view = _change_view(session, change, catalog)
        record(
            session,
            actor,
            "rate.schedule",
            ("rate_change", change.id),
            f"{view.product} at {view.price_label} from {start:%Y-%m-%d %H:%M} UTC scheduled for every subscriber",
            after={"product_id": change.product_id, "starting_at": start.isoformat(), "price": change.price},
        )
        return view


# --- what the simulator needs ------------------------------------------------------------------------


def subscribers(session: Session, rate_card_id: str, current: dict[str, ContractTerms]) -> list[str]:
    """The contracts whose terms in force (``current``: contract id to its terms row) bill by the card."""
    versions = set(session.exec(select(PackageVersion.id).where(PackageVersion.rate_card_id == rate_card_id)).all())
    return sorted(c for c, t in current.items() if t.rate_card_id == rate_card_id or t.package_version_id in versions)


def with_new_price(contract: dc.Contract, change: RateChangeRow, catalog: Catalog) -> dc.Contract:
    """The contract as if the change's price had always been in force on the card (to replay closed periods)."""
    price = price_from_doc(change.price)
    credit_type = catalog.credit_type(change.credit_type_id)

    def repriced(terms: dc.Terms) -> dc.Terms:
        card = terms.rate_card
        if card.id != change.rate_card_id:
            return terms
        own = [r for r in card.rates if r.product_id == change.product_id]
        first = min([*(r.starting_at for r in own or card.rates), contract.starting_at])
        others = tuple(r for r in card.rates if r.product_id != change.product_id)
        new = Rate(change.product_id, first, None, price, credit_type)
        return replace(terms, rate_card=RateCard(card.id, card.name, (*others, new)))

    moved = replace(
        contract,
        terms=repriced(contract.terms),
        changes=tuple(replace(c, terms=repriced(c.terms)) for c in contract.changes),
    )
    seat_product = contract.seats.product_id if contract.seats else None
    products, metrics = catalog.billed_by(moved.all_terms(), seat_product)
    return replace(moved, products=products, metrics=metrics)
