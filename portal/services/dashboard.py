"""The customer dashboard: a customer's plan, credits, daily usage and invoices, as its admins and members see them.

:func:`dashboard` reads everything a dashboard shows in one pass: the
current period is rated once (:func:`portal.services.billing.rate`) and the
plan, the credit balances, the draft invoice and its explanations all come
from that run, so the figures on one screen always agree. Daily usage comes
from the hourly rollups (:func:`portal.services.customers.usage_series`).

Who sees what is decided here, not by the page:

* an admin of the customer sees its plan, the pooled and per-seat credits,
  every seat's usage, the draft and the finalized invoices;
* a member sees only their own seat (its id is their email address): its
  credit and its usage. Nothing of other seats, no pool figures (they would
  reveal the team's usage), no invoices. :func:`seat_figures` for another
  seat gives a member nothing.

An open dashboard stays live by asking :func:`usage_marker` every second and
reading the dashboard again only when the marker has news: new usage events
of the customer (or its departments) or an invoice that appeared or changed
status. While nothing is ingested the marker costs one indexed query.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from sqlmodel import Session, col, select

from portal.db.event_store import event_store
from portal.db.loaders import Catalog
from portal.db.models import Customer, InvoiceRow, utcnow
from portal.db.uow import UnitOfWork
from portal.domain.contracts import Contract
from portal.domain.grants import Grant, GrantKind, GrantScope, GrantSource
from portal.domain.invoicing import InvoiceLine, InvoiceStatus
from portal.domain.invoicing import balances as rated_balances
from portal.domain.money import ZERO, CreditType
from portal.domain.periods import Period
from portal.domain.pricing import ConversionOperation, RoundingMode
from portal.domain.seats import SeatBalance
from portal.services import billing
from portal.services.accounts import Member, customer_overview
from portal.services.billing import InvoiceView, LineView, Rated
from portal.services.customers import usage_series, visible_customer
from portal.services.errors import Forbidden, NotFound
from portal.services.identity import Identity

LOOKBACK_EVENTS = 1_000
"""How far behind the newest event id the marker looks, so that a commit landing late (a second writer's) is seen."""

NO_SEAT = ""
"""The series of usage that names no seat (events without the seat property)."""


# --- views -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanView:
    """The contract in force: package, current period, time left, seats and team size."""

    package: str
    period: str
    renews: str
    days_left: int
    days_left_label: str
    has_seats: bool
    seats: int
    seats_assigned: int
    members: int

    @property
    def seat_warning(self) -> str:
        """A warning when the team has more members than the plan has seats; empty otherwise."""
        short = self.members - self.seats
        if not self.has_seats or short <= 0:
            return ""
        people = "person has" if short == 1 else "people have"
        return (
            f"Your team has {self.members} members but the plan has {self.seats} seats: "
            f"{short} {people} no seat and no credits. Add seats or remove members."
        )


@dataclass(frozen=True, slots=True)
class PoolCredit:
    """What is left of the pooled grants in one credit type, against what they granted."""

    credit_type: str
    granted: str
    used: str
    remaining: str
    percent_left: int


@dataclass(frozen=True, slots=True)
class SeatCredit:
    """One seat's credit in one credit type.

    ``granted``, ``remaining`` and ``percent_left`` are about the seat's own
    allowance (``has_allowance`` is False on a pooled plan); ``used`` is all
    that the seat's usage consumed, from its allowance and from the pool;
    ``drawn_from_pool`` is the pool's part of it.
    """

    seat_id: str
    credit_type: str
    has_allowance: bool
    granted: str
    used: str
    drawn_from_pool: str
    remaining: str
    percent_left: int


@dataclass(frozen=True, slots=True)
class DayUsage:
    """One day of a metric's usage: per series, whole units (for plotting) and the exact quantity."""

    day: date
    label: str
    whole: tuple[int, ...]
    exact: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MetricUsage:
    """A metric's daily usage over the period, one series per seat (:data:`NO_SEAT` for usage naming none).

    ``quantity`` is the exact total of the shown series; ``total`` and ``totals`` (per series) are formatted.
    """

    metric_id: str
    name: str
    series: tuple[str, ...]
    totals: tuple[str, ...]
    total: str
    quantity: Decimal
    days: tuple[DayUsage, ...]


@dataclass(frozen=True, slots=True)
class GrantUse:
    """One grant's part of a line, in burn-down order, with why it was drawn when it was."""

    order: int
    grant: str
    units: str
    amount: str
    explanations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LineDetail:
    """An invoice line with its explanation: the usage behind it, the grants that absorbed it, what they left.

    ``context`` tells the line apart on its invoice: the department it bills
    (when not the customer's own) and its period (when not the invoice's).
    """

    line: LineView
    context: str
    basis: str
    grants: tuple[GrantUse, ...]
    uncovered: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InvoiceDetail:
    """An invoice with the explanation of each line; ``period`` is its period's first and last day."""

    invoice: InvoiceView
    period: str
    lines: tuple[LineDetail, ...]


@dataclass(frozen=True, slots=True)
class SeatFigures:
    """One seat's credit and daily usage."""

    seat_id: str
    credits: tuple[SeatCredit, ...]
    usage: tuple[MetricUsage, ...]


PAYMENT_FAILED = InvoiceStatus.PAYMENT_FAILED.value


@dataclass(frozen=True, slots=True)
class FailedPayment:
    """An invoice whose payment failed, and the sentence that tells the admin why and what to do."""

    invoice_id: str
    message: str

    @classmethod
    def of(cls, invoice: InvoiceView) -> FailedPayment:
        """The failure of ``invoice`` (a payment-failed one): its amount, period and reason, and when it is tried
        again, if it is."""
        reason = invoice.payment_note.strip().rstrip(".")
        retry = invoice.next_payment_at
        return cls(
            invoice.id,
            f"Payment of {invoice.total_due} for {invoice.period} failed{': ' + reason if reason else ''}. "
            + (f"We will try again on {_date_label(retry)}. " if retry else "")
            + "Update your card, then pay again.",
        )


@dataclass(frozen=True, slots=True)
class Dashboard:
    """What the customer dashboard shows the caller; ``plan`` is None while the customer has no contract.

    For a member, ``seats`` and ``usage`` hold only their own seat (``seat_id``),
    and the pools, the draft and the invoices are empty.
    """

    customer_name: str
    is_admin: bool
    seat_id: str
    members: tuple[Member, ...]
    plan: PlanView | None = None
    pools: tuple[PoolCredit, ...] = ()
    seats: tuple[SeatCredit, ...] = ()
    usage: tuple[MetricUsage, ...] = ()
    draft: InvoiceDetail | None = None
    invoices: tuple[InvoiceDetail, ...] = ()

    @property
    def failed_payments(self) -> tuple[FailedPayment, ...]:
        """Each invoice whose payment failed, with what the admin is told (newest first, as the invoices); a failed
        credit purchase is not a debt, and shows in the credits panel instead."""
        return tuple(
            FailedPayment.of(i.invoice)
            for i in self.invoices
            if i.invoice.status == PAYMENT_FAILED and not i.invoice.buys_credits
        )


@dataclass(frozen=True, slots=True)
class UsageMarker:
    """What the customer's usage and invoices looked like at one reading (compare with :meth:`news_since`)."""

    customer_ids: tuple[str, ...]
    newest_event: int
    recent_events: frozenset[int]
    invoices: tuple[tuple[str, str], ...]

    def news_since(self, previous: UsageMarker | None) -> bool:
        """True when events or invoices appeared or changed since ``previous`` (always without one)."""
        if previous is None:
            return True
        return bool(self.recent_events - previous.recent_events) or self.invoices != previous.invoices


# --- formatting ------------------------------------------------------------------------------------


def _day_label(day: date | datetime) -> str:
    return f"{day:%b} {day.day}"


def _date_label(day: date | datetime) -> str:
    return f"{day:%b} {day.day}, {day:%Y}"


def _last_day(period: Period) -> date:
    return (period.end - timedelta(microseconds=1)).date()


def _span(period: Period) -> str:
    """``Nov 1 – Nov 30, 2026``: the period's first and last day."""
    last = _last_day(period)
    first = _day_label(period.start) if period.start.year == last.year else _date_label(period.start)
    return f"{first} – {_date_label(last)}"


def _quantity(value: Decimal) -> str:
    """A metric quantity with thousands separators and no trailing zeros: ``427,560``, ``0.25``."""
    return f"{value.normalize():,f}"


def _whole(value: Decimal) -> int:
    """A quantity rounded to whole units, for plotting only (exact figures travel as strings)."""
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def _percent(part: Decimal, whole: Decimal) -> int:
    """``part`` as a whole percentage of ``whole``, rounded down, between 0 and 100."""
    if whole <= 0:
        return 0
    return max(0, min(100, int((part * 100 / whole).to_integral_value(rounding=ROUND_FLOOR))))


_SOURCE_LABELS = {
    GrantSource.PACKAGE_RECURRENCE: "Seat credits (pooled)",
    GrantSource.PURCHASE: "Purchased credits",
    GrantSource.TOP_UP: "Top-up",
    GrantSource.MANUAL: "Credit from Portal staff",
    GrantSource.MIGRATION: "Carried-over balance",
}

_ROUNDING_WORDS = {RoundingMode.UP: "up", RoundingMode.DOWN: "down", RoundingMode.HALF_UP: "to the nearest"}


def grant_label(grant: Grant) -> str:
    """A grant as a person names it: ``Seat credits (pooled)``, ``ann's seat credits``, ``Shared commitment``."""
    if grant.scope is GrantScope.SEAT:
        return f"{grant.seat_id}'s seat credits"
    if grant.scope is GrantScope.SHARED:
        return "Shared commitment" if grant.kind is GrantKind.COMMIT else "Shared credits"
    if grant.kind is GrantKind.COMMIT:
        return "Prepaid commitment"
    return _SOURCE_LABELS[grant.source]


# --- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reading:
    """The current period rated once, as of ``at``."""

    rated: Rated
    at: datetime
    catalog: Catalog

    @property
    def contract(self) -> Contract:
        """The customer's own contract (the family may hold its parent and siblings too)."""
        return self.rated.family.contract(self.rated.contract_id)

    @property
    def labels(self) -> dict[str, str]:
        """The names of the grants in play, by grant id."""
        return {g.id: grant_label(g) for g in self.rated.run.grants}

    @property
    def holders(self) -> tuple[str, ...]:
        """The seat ids assigned now."""
        seats = self.contract.seats
        return seats.state_at(self.at).seat_ids if seats else ()


def _own_customer(identity: Identity) -> str:
    if identity.customer_id is None:
        raise Forbidden("Your account does not belong to a customer.")
    return identity.customer_id


def _may_see_seat(identity: Identity, seat_id: str) -> bool:
    """Admins see every seat of their customer; a member only their own."""
    return identity.is_customer_admin or seat_id == identity.email


def _read(session: Session, identity: Identity, at: datetime) -> tuple[Customer, _Reading | None]:
    """The caller's customer and its current period rated; no reading while it has no contract."""
    customer = visible_customer(session, identity, _own_customer(identity))
    try:
        row = billing.active_contract(session, customer.id, at)
    except NotFound:
        return customer, None
    catalog = Catalog(session)
    return customer, _Reading(billing.rate(session, catalog, row.id, at), at, catalog)


def _plan(reading: _Reading, members: int) -> PlanView:
    contract, period = reading.contract, reading.rated.period
    seats = contract.seats.state_at(reading.at) if contract.seats else None
    days_left = max(1, math.ceil((period.end - reading.at) / timedelta(days=1)))
    return PlanView(
        package=contract.terms_at(reading.at).name,
        period=_span(period),
        renews=f"Renews {_date_label(period.end)}",
        days_left=days_left,
        days_left_label=f"{days_left} day{'s' if days_left != 1 else ''} left",
        has_seats=seats is not None,
        seats=seats.quantity if seats else 0,
        seats_assigned=len(seats.seat_ids) if seats else 0,
        members=members,
    )


def _credits(reading: _Reading) -> tuple[tuple[PoolCredit, ...], tuple[SeatCredit, ...]]:
    """Pooled and per-seat credit as of now, from the run's grants and the ledger with the run's entries.

    Every seat holder gets a row (zeros until they use something), then
    anyone else whose usage drew on the pool.
    """
    rated, at = reading.rated, reading.at
    result = rated_balances(rated.contract_id, rated.run.grants, (*rated.family.ledger, *rated.run.ledger_entries), at)
    pools = []
    for credit_type, remaining in result.pooled:
        pooled = (
            s.grant
            for s in result.grants
            if s.grant.scope is not GrantScope.SEAT and s.grant.active_at(at) and s.grant.credit_type == credit_type
        )
        granted = sum((g.amount for g in pooled), ZERO)
        fmt = credit_type.format
        pools.append(
            PoolCredit(
                credit_type.name, fmt(granted), fmt(granted - remaining), fmt(remaining), _percent(remaining, granted)
            )
        )
    balances = {(b.seat_id, b.credit_type.id): b for b in result.seats}
    policy = reading.contract.terms_at(at).seat_credits
    seats = (
        [_seat_credit(h, policy.credit_type, balances.pop((h, policy.credit_type.id), None)) for h in reading.holders]
        if policy
        else []
    )
    seats += [_seat_credit(b.seat_id, b.credit_type, b) for b in balances.values()]
    return tuple(pools), tuple(seats)


def _seat_credit(seat_id: str, credit_type: CreditType, balance: SeatBalance | None) -> SeatCredit:
    """A seat's row; ``balance`` is None for a seat with no allowance that has used nothing yet."""
    granted, used, pool, remaining = (
        (balance.granted, balance.used, balance.drawn_from_pool, balance.remaining) if balance else (ZERO,) * 4
    )
    fmt = credit_type.format
    return SeatCredit(
        seat_id=seat_id,
        credit_type=credit_type.name,
        has_allowance=granted > 0,
        granted=fmt(granted),
        used=fmt(used + pool),
        drawn_from_pool=fmt(pool),
        remaining=fmt(remaining),
        percent_left=_percent(remaining, granted),
    )


def _usage(identity: Identity, reading: _Reading, only: Sequence[str] | None) -> tuple[MetricUsage, ...]:
    """Daily usage of each metric the contract bills, per seat; ``only`` limits the series to these seats.

    With a limit, metrics whose events do not name the seat are left out:
    their usage cannot be told apart by seat.
    """
    contract, period = reading.contract, reading.rated.period
    first = period.start.date()
    days = [first + timedelta(days=n) for n in range((_last_day(period) - first).days + 1)]
    result = []
    for metric in contract.metrics:
        seat_key = contract.seat_key if contract.seat_key in metric.group_keys else None
        if only is not None and seat_key is None:
            continue
        cells: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
        for point in usage_series(identity, contract.customer_id, metric.id, period.start, period.end, "day", seat_key):
            if only is None or point.group in only:
                cells[(point.start.date(), point.group)] += Decimal(point.quantity)
        series = _series(reading.holders, (group for _, group in cells), only)
        totals = [sum((cells.get((d, s), ZERO) for d in days), ZERO) for s in series]
        result.append(
            MetricUsage(
                metric_id=metric.id,
                name=metric.name,
                series=series,
                totals=tuple(_quantity(t) for t in totals),
                total=_quantity(sum(totals, ZERO)),
                quantity=sum(totals, ZERO),
                days=tuple(
                    DayUsage(
                        d,
                        _day_label(d),
                        tuple(_whole(cells.get((d, s), ZERO)) for s in series),
                        tuple(_quantity(cells.get((d, s), ZERO)) for s in series),
                    )
                    for d in days
                ),
            )
        )
    return tuple(result)


def _series(holders: Sequence[str], used_by: Iterable[str], only: Sequence[str] | None) -> tuple[str, ...]:
    """The series of a chart: the seat holders in order, then others who used something, unattributed last."""
    users = set(used_by)
    ordered = [*holders, *sorted(users - set(holders) - {NO_SEAT}), *([NO_SEAT] if NO_SEAT in users else [])]
    return tuple(s for s in ordered if only is None or s in only)


def _basis(reading: _Reading, line: InvoiceLine, usage: Sequence[MetricUsage]) -> str:
    """The usage behind a usage line of the customer's own contract, and how it became the billed quantity.

    E.g. ``427,560 AI tokens in the period, billed per 1,000, rounded up to the whole unit per rating window``.
    """
    product = reading.catalog.products.get(line.product_id)
    used = {m.metric_id: m for m in usage}
    if product is None or product.metric_id not in used or line.contract_id != reading.rated.contract_id:
        return ""
    metric = used[product.metric_id]
    steps = [f"{metric.total} {metric.name} in the period"]
    if product.quantity_conversion is not None:
        per = "per" if product.quantity_conversion.operation is ConversionOperation.DIVIDE else "times"
        steps.append(f"billed {per} {_quantity(product.quantity_conversion.factor)}")
    if product.quantity_rounding is not None:
        places = product.quantity_rounding.decimal_places
        unit = "the whole unit" if places == 0 else f"{places} decimal places"
        steps.append(f"rounded {_ROUNDING_WORDS[product.quantity_rounding.mode]} to {unit} per rating window")
    return ", ".join(steps)


def _detail(
    invoice: InvoiceView,
    customer_name: str,
    labels: dict[str, str],
    explained: dict[str, tuple[str, tuple[str, ...]]] | None = None,
) -> InvoiceDetail:
    """An invoice with each line's grants in burn-down order, named by ``labels`` (a generic name otherwise).

    ``explained`` adds, by line key, the usage basis and the reasons a part was not covered (known for
    the live draft only).
    """
    lines = []
    for line in invoice.lines:
        basis, uncovered = (explained or {}).get(line.key, ("", ()))
        context = (
            line.department if line.department != customer_name else "",
            "" if line.period == invoice.period else line.period,
        )
        lines.append(
            LineDetail(
                line=line,
                context=" · ".join(part for part in context if part),
                basis=basis,
                grants=tuple(
                    GrantUse(n, labels.get(g.grant_id, "Credit grant"), g.units, g.amount, g.explanations)
                    for n, g in enumerate(line.grants, start=1)
                ),
                uncovered=uncovered,
            )
        )
    return InvoiceDetail(invoice, _span(Period(invoice.period_start, invoice.period_end)), tuple(lines))


def _draft(reading: _Reading, customer_name: str, usage: Sequence[MetricUsage]) -> InvoiceDetail:
    """The live draft of the payer's invoice, each line explained from the run's burn-down."""
    rated = reading.rated
    invoice = rated.run.invoice(rated.payer_id)
    explained = {}
    for line in invoice.lines:
        outcomes = rated.run.outcomes(line)
        uncovered = tuple(dict.fromkeys(o.explanation for o in outcomes if o.explanation and (o.overage or o.blocked)))
        explained[line.key] = (_basis(reading, line, usage), uncovered)
    return _detail(billing.invoice_view(invoice, rated.departments), customer_name, reading.labels, explained)


def _seat_figures(identity: Identity, reading: _Reading, seats: Sequence[SeatCredit], seat_id: str) -> SeatFigures:
    return SeatFigures(seat_id, tuple(s for s in seats if s.seat_id == seat_id), _usage(identity, reading, (seat_id,)))


def dashboard(identity: Identity, at: datetime | None = None) -> Dashboard:
    """The caller's customer dashboard as of ``at`` (now): everything for an admin, their own seat for a member."""
    at = at or utcnow()
    members = customer_overview(identity).members
    admin = identity.is_customer_admin
    seat_id = "" if admin else identity.email
    with UnitOfWork() as uow:
        customer, reading = _read(uow.session, identity, at)
        if reading is None:
            return Dashboard(customer.name, admin, seat_id, members)
        plan = _plan(reading, len(members))
        pools, seats = _credits(reading)
    if not admin:
        mine = _seat_figures(identity, reading, seats, seat_id)
        return Dashboard(customer.name, False, seat_id, members, plan, seats=mine.credits, usage=mine.usage)
    usage = _usage(identity, reading, None)
    invoices = tuple(_detail(i, customer.name, reading.labels) for i in billing.invoices(identity, customer.id))
    draft = _draft(reading, customer.name, usage)
    return Dashboard(customer.name, True, "", members, plan, pools, seats, usage, draft, invoices)


def seat_figures(identity: Identity, seat_id: str, at: datetime | None = None) -> SeatFigures | None:
    """One seat's credit and daily usage; None when the caller may not see that seat or there is no contract."""
    if not _may_see_seat(identity, seat_id):
        return None
    at = at or utcnow()
    with UnitOfWork() as uow:
        _, reading = _read(uow.session, identity, at)
        if reading is None:
            return None
        _, seats = _credits(reading)
    return _seat_figures(identity, reading, seats, seat_id)


def usage_marker(identity: Identity, previous: UsageMarker | None = None) -> UsageMarker:
    """The current marker of the caller's customer; one cheap query when nothing was ingested since ``previous``.

    Event ids grow as events are committed, so the customer's events among
    the newest :data:`LOOKBACK_EVENTS` ids tell whether it has new usage.
    """
    with UnitOfWork() as uow:
        session = uow.session
        customers = previous.customer_ids if previous else _family(session, identity)
        store = event_store(session.connection())
        newest = store.newest_sequence()
        if previous is not None and newest == previous.newest_event:
            recent = previous.recent_events
        else:
            recent = store.sequences_after(customers, newest - LOOKBACK_EVENTS)
        invoices = session.exec(
            select(InvoiceRow.id, InvoiceRow.status)
            .where(InvoiceRow.customer_id == customers[0])
            .order_by(col(InvoiceRow.id))
        ).all()
    return UsageMarker(customers, newest, recent, tuple((i, s) for i, s in invoices))


def _family(session: Session, identity: Identity) -> tuple[str, ...]:
    """The caller's customer and its departments (whose usage its draft includes)."""
    customer = visible_customer(session, identity, _own_customer(identity))
    children = session.exec(select(Customer.id).where(Customer.parent_id == customer.id)).all()
    return (customer.id, *children)
