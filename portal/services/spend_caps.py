"""Spend caps: a hard cap per billing period on what a customer's, or one seat's, usage may cost.

What the rules are (also in the README, "Spend caps"):

* **Spend is money**: what the period's usage costs *before grants*, in the contract's currency (the usage
  lines of the live draft, e.g. AI tokens at 10 AI credits per 1,000 tokens and $0.01 a credit). Credits
  covering the usage do not lower spend; seat fees and fixed fees are not usage and do not count. A cap is
  kept in the currency of the customer's contract when it is set (its ``unit``, e.g. ``USD``).
* A **customer cap** weighs the whole customer's usage; a **seat cap** the usage whose events name the seat
  in the plan's seat property (e.g. ``user_id``). Only the seats assigned on the plan can be capped.
* **At the cap, usage is refused**: an event is refused when the spend it would add to has *reached* the cap
  (spend >= cap), with a reason naming who is capped, the spend, the cap and the period; nothing of a refused
  event is stored or counted. The event that *crosses* the cap (spend was below the cap before it) is
  accepted and counted in full, so spend may end a little above the cap; the next one is refused. At exactly
  the cap, usage is refused.
* The check uses readings at most a second old per process (:class:`portal.services.readings.Readings`),
  so for up to a second after the crossing event more usage may still be accepted and counted. A cap raised
  or removed lets usage through again within that second (at once in the process that made the change).
* **The cap resets each billing period**: spend is the current period's, so a capped customer or seat can
  send usage again when the next period starts. An event is judged by the current period's standing,
  whatever its timestamp.
* Who may set or remove caps: the customer's admins, and staff. Every change is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import partial

from sqlmodel import Session, col, select

from portal.db.loaders import Catalog, load_family
from portal.db.models import Customer, SpendCapRow, utcnow
from portal.db.uow import UnitOfWork
from portal.domain.invoicing import InvoiceLine, LineKind
from portal.domain.money import Currency, Money
from portal.domain.periods import Period
from portal.services import audit, billing
from portal.services.customers import visible_customer
from portal.services.errors import Forbidden, InvalidInput, NotFound
from portal.services.identity import Identity
from portal.services.readings import Readings

REFUSAL = "spend cap reached"
"""How every refusal at ingest begins."""

UNTIL = "usage is refused until an admin raises the cap or the next period starts."
"""How the member's notice ends."""

MAX_CAP = Decimal("1000000000")
"""The largest cap accepted (a typo guard)."""


# --- standings -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Standing:
    """One cap against the current period's spend."""

    seat_id: str | None
    holder: str
    cap: Decimal
    spent: Decimal
    currency: Currency
    period: Period

    @property
    def reached(self) -> bool:
        """True once the spend has reached the cap (usage is refused)."""
        return self.spent >= self.cap

    @property
    def percent(self) -> int:
        """How much of the cap is spent, 0-100 (100 for a zero cap)."""
        if self.cap <= 0:
            return 100
        return min(100, int(self.spent * 100 / self.cap))

    def money(self, amount: Decimal) -> str:
        """``amount`` formatted in the cap's currency, e.g. ``$50.00``."""
        return Money(amount, self.currency).format()

    def refusal(self) -> str:
        """The reason ingest gives for refusing usage under this cap."""
        return (
            f"{REFUSAL}: {self.holder} has spent {self.money(self.spent)} of its {self.money(self.cap)} cap for "
            f"{period_name(self.period)}; ask an admin of the account to raise or remove it"
        )


def period_name(period: Period) -> str:
    """``Nov 2026`` for a calendar month, else the period's dates."""
    start, end = period.start, period.end
    whole_month = start == start.replace(day=1, hour=0, minute=0, second=0, microsecond=0) and end == (
        start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    )
    return f"{start:%b %Y}" if whole_month else period.label()


def _usage_lines(rated: billing.Rated) -> list[InvoiceLine]:
    """The period's usage lines of the rated contract (on its own invoice or its payer's)."""
    return [
        line
        for invoice in rated.run.invoices
        for line in invoice.lines
        if line.kind is LineKind.USAGE and line.contract_id == rated.contract_id
    ]


def _spent_minor(lines: Iterable[InvoiceLine], seat: tuple[str, str] | None) -> int:
    """What the lines cost before grants, in minor units: all of it, or the part of one (seat key, seat id)."""
    if seat is None:
        return sum(line.amount_minor + line.previously_billed_minor for line in lines)
    return sum(group.amount_minor for line in lines for group in line.groups if seat in group.group)


def spent(rated: billing.Rated, seat_id: str | None = None) -> Decimal | None:
    """What the rated period's usage costs before grants, in the contract's currency: the whole customer's, or
    the part of the events naming ``seat_id`` (None when the plan has no seat property to tell seats apart)."""
    contract = rated.family.contract(rated.contract_id)
    seat = None if seat_id is None or contract.seat_key is None else (contract.seat_key, seat_id)
    if seat_id is not None and seat is None:
        return None
    return Money.from_minor(_spent_minor(_usage_lines(rated), seat), contract.currency).amount


def standings(session: Session, customer_id: str, at: datetime) -> tuple[Standing, ...]:
    """The customer's caps against its spend in the period containing ``at`` (none without caps or contract)."""
    caps = session.exec(select(SpendCapRow).where(SpendCapRow.customer_id == customer_id)).all()
    if not caps:
        return ()
    row = billing.active_contracts(session, [customer_id], at).get(customer_id)
    if row is None:
        return ()
    rated = billing.rate(session, Catalog(session), row.id, at)
    contract = rated.family.contract(rated.contract_id)
    currency = contract.currency
    customer = session.get(Customer, customer_id)
    result = []
    for cap in sorted(caps, key=lambda c: (c.seat_id is not None, c.seat_id or "")):
        if cap.unit != currency.code:
            continue  # kept in another currency than the contract now bills in: it cannot be compared
        spent_now = spent(rated, cap.seat_id)
        if spent_now is None:
            continue
        holder = f"seat {cap.seat_id}" if cap.seat_id is not None else (customer.name if customer else customer_id)
        result.append(Standing(cap.seat_id, holder, cap.amount, spent_now, currency, rated.period))
    return tuple(result)


# --- the ingest gate -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusals:
    """Why a customer's usage is refused now: all of it (``customer``), or one seat's (``seats``)."""

    customer: str | None = None
    seat_key: str | None = None
    seats: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when nothing is refused."""
        return self.customer is None and not self.seats

    def reason(self, properties: Mapping[str, str]) -> str | None:
        """Why an event with ``properties`` is refused, or None when it may be counted."""
        if self.customer is not None:
            return self.customer
        seat_id = properties.get(self.seat_key) if self.seat_key else None
        return self.seats.get(seat_id) if seat_id is not None else None


def refusals_of(session: Session, customer_id: str, at: datetime) -> Refusals:
    """What of ``customer_id``'s usage its reached caps refuse at ``at``."""
    reached = [s for s in standings(session, customer_id, at) if s.reached]
    if not reached:
        return Refusals()
    whole = next((s.refusal() for s in reached if s.seat_id is None), None)
    row = billing.active_contracts(session, [customer_id], at)[customer_id]
    return Refusals(whole, row.seat_key, {s.seat_id: s.refusal() for s in reached if s.seat_id is not None})


def _capped_customers(session: Session) -> frozenset[str]:
    return frozenset(session.exec(select(SpendCapRow.customer_id).distinct()).all())


class SpendCapGate:
    """Says which customers' (or seats') usage is refused now, from readings at most a second old."""

    def __init__(self) -> None:
        self._capped: Readings[None, frozenset[str]] = Readings()
        self._refusals: Readings[str, Refusals] = Readings()

    def refusals(self, customer_ids: Iterable[str], at: datetime | None = None) -> dict[str, Refusals]:
        """The refusals of each of ``customer_ids`` that has a reached cap (one query while none has a cap)."""
        capped = self._capped.get(None, _capped_customers)
        when = at or utcnow()
        found: dict[str, Refusals] = {}
        for customer_id in set(customer_ids) & capped:
            refused = self._refusals.get(customer_id, partial(refusals_of, customer_id=customer_id, at=when))
            if not refused.empty:
                found[customer_id] = refused
        return found

    def forget(self) -> None:
        """Drop what was read (after a cap changed, or in tests)."""
        self._capped.forget()
        self._refusals.forget()


_GATE = SpendCapGate()


def gate() -> SpendCapGate:
    """The process's spend-cap gate."""
    return _GATE


# --- setting caps ----------------------------------------------------------------------------------


def _manageable(session: Session, identity: Identity, customer_id: str) -> Customer:
    """The customer, if ``identity`` may change its caps: staff, or an admin of that very customer."""
    customer = visible_customer(session, identity, customer_id)
    if not (identity.is_staff or (identity.is_customer_admin and identity.customer_id == customer.id)):
        raise Forbidden("Only an admin of this account or staff can change its spend caps.")
    return customer


def _amount(value: object, currency: Currency) -> Decimal:
    text = str(value if value is not None else "").replace(",", "").strip()
    if isinstance(value, float) or not text:
        raise InvalidInput(f"Enter the cap as an amount in {currency.code}, such as 50 or 50.00.")
    try:
        amount = Decimal(text.removeprefix(currency.symbol) if currency.symbol else text)
    except InvalidOperation:
        raise InvalidInput(f"The cap must be an amount in {currency.code}, such as 50.00; {value!r} is not.") from None
    if not amount.is_finite():
        raise InvalidInput(f"The cap must be an amount in {currency.code}, such as 50.00; {value!r} is not.")
    if amount < 0:
        raise InvalidInput(f"The cap cannot be negative ({amount}).")
    if amount > MAX_CAP:
        raise InvalidInput(f"The cap cannot be more than {Money(MAX_CAP, currency).format()}.")
    if amount != currency.round(amount):
        raise InvalidInput(f"The cap {amount} has more decimal places than {currency.code} has ({currency.exponent}).")
    return amount


def plan_seat(session: Session, customer: Customer, seat_id: str | None, at: datetime) -> tuple[str | None, Currency]:
    """``seat_id`` if it is a seat on the customer's plan at ``at`` (None for the whole customer), and the plan's
    currency; :class:`InvalidInput` names the seats there are otherwise, or says there is no plan."""
    row = billing.active_contracts(session, [customer.id], at).get(customer.id)
    if row is None:
        raise InvalidInput(f"{customer.name} has no plan yet: seats and spend come with a plan.")
    contract = load_family(session, row.id, Catalog(session)).contract(row.id)
    seat = (seat_id or "").strip() or None
    if seat is None:
        return None, contract.currency
    held = contract.seats.state_at(at).seat_ids if contract.seats else ()
    if contract.seat_key is None or seat not in held:
        listed = ", ".join(held) if held else "none"
        raise InvalidInput(f"There is no seat {seat!r} on {customer.name}'s plan (its seats: {listed}).")
    return seat, contract.currency


def _find(session: Session, customer_id: str, seat_id: str | None) -> SpendCapRow | None:
    where = col(SpendCapRow.seat_id).is_(None) if seat_id is None else col(SpendCapRow.seat_id) == seat_id
    return session.exec(select(SpendCapRow).where(SpendCapRow.customer_id == customer_id, where)).first()


def _snapshot(cap: SpendCapRow | None) -> dict[str, str] | None:
    return None if cap is None else {"seat_id": cap.seat_id or "", "amount": str(cap.amount), "unit": cap.unit}


def _who(seat_id: str | None, customer: Customer) -> str:
    return f"seat {seat_id} of {customer.name}" if seat_id else customer.name


def set_cap(
    identity: Identity, customer_id: str, amount: object, seat_id: str | None = None, at: datetime | None = None
) -> Standing:
    """Set (or change) the cap of the customer, or of one of its seats, and return it against this period's spend.

    ``amount`` is in the currency of the customer's contract (a string such as ``"50.00"``; not a float).
    """
    at = at or utcnow()
    with UnitOfWork() as uow:
        session = uow.session
        customer = _manageable(session, identity, customer_id)
        seat, currency = plan_seat(session, customer, seat_id, at)
        units = _amount(amount, currency)
        cap = _find(session, customer.id, seat)
        before = _snapshot(cap)
        if cap is None:
            cap = SpendCapRow(
                customer_id=customer.id,
                seat_id=seat,
                amount=units,
                unit=currency.code,
                created_by=identity.audit_name,
                updated_by=identity.audit_name,
            )
        else:
            cap.amount, cap.unit, cap.updated_by, cap.updated_at = units, currency.code, identity.audit_name, at
        session.add(cap)
        summary = f"spend cap of {_who(seat, customer)} set to {Money(units, currency).format()} per period"
        audit.record(session, identity, "spend_cap.set", ("customer", customer.id), summary, before, _snapshot(cap))
        session.flush()
        result = next(s for s in standings(session, customer.id, at) if s.seat_id == seat)
    gate().forget()
    return result


def remove_cap(identity: Identity, customer_id: str, seat_id: str | None = None) -> None:
    """Remove the cap of the customer (or of one seat): its usage is let through again at once."""
    with UnitOfWork() as uow:
        session = uow.session
        customer = _manageable(session, identity, customer_id)
        seat = (seat_id or "").strip() or None
        cap = _find(session, customer.id, seat)
        if cap is None:
            raise NotFound(f"{_who(seat, customer)} has no spend cap.")
        before = _snapshot(cap)
        session.delete(cap)
        summary = f"spend cap of {_who(seat, customer)} removed"
        audit.record(session, identity, "spend_cap.removed", ("customer", customer.id), summary, before, None)
    gate().forget()


# --- views -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CapView:
    """One cap as the account page shows it (amounts formatted on the server)."""

    seat_id: str
    holder: str
    cap: str
    amount: str
    spent: str
    percent: int
    reached: bool


@dataclass(frozen=True, slots=True)
class CapsView:
    """An account's caps for its admins: the unit, the period, the caps and the seats that may be capped."""

    unit: str
    period: str
    caps: tuple[CapView, ...]
    seats: tuple[str, ...]


def _view(standing: Standing) -> CapView:
    return CapView(
        seat_id=standing.seat_id or "",
        holder=standing.holder if standing.seat_id else "Whole account",
        cap=standing.money(standing.cap),
        amount=str(standing.cap),
        spent=standing.money(standing.spent),
        percent=standing.percent,
        reached=standing.reached,
    )


def caps_view(identity: Identity, customer_id: str, at: datetime | None = None) -> CapsView:
    """The caps of a customer against this period's spend (its admins and staff)."""
    at = at or utcnow()
    with UnitOfWork() as uow:
        session = uow.session
        customer = _manageable(session, identity, customer_id)
        row = billing.active_contracts(session, [customer.id], at).get(customer.id)
        if row is None:
            return CapsView("", "", (), ())
        contract = load_family(session, row.id, Catalog(session)).contract(row.id)
        seats = contract.seats.state_at(at).seat_ids if contract.seats and contract.seat_key else ()
        period = period_name(contract.billing_period_containing(at))
        found = standings(session, customer.id, at)
    return CapsView(contract.currency.code, period, tuple(_view(s) for s in found), tuple(seats))


def own_cap_notice(identity: Identity, at: datetime | None = None) -> str:
    """For a member: a notice when their seat (or the whole account) has reached its cap; empty otherwise."""
    if identity.customer_id is None:
        return ""
    with UnitOfWork() as uow:
        found = standings(uow.session, identity.customer_id, at or utcnow())
    reached = [s for s in found if s.reached and s.seat_id in (None, identity.email)]
    if not reached:
        return ""
    if any(s.seat_id is not None for s in reached):
        return f"Your seat has reached its spend cap for this period: {UNTIL}"
    return f"Your account has reached its spend cap for this period: {UNTIL}"
