"""Seats: subscriptions bought in advance, seat charges, seat-based recurring credits, per-seat balances.

Rules (see ``portal/domain/README.md``):

**Subscriptions.** A ``QUANTITY_ONLY`` subscription is a count of seats. A
``SEAT_BASED`` one also names who holds each seat (seat ids, e.g. user ids);
seats nobody holds are *unassigned*. Adding seat ids fills unassigned seats
first and raises the quantity only for the rest (the ids are placed in the
order given, so the last ones are those that raise the quantity). Removing
seat ids lowers the quantity; unassigning them keeps the seats, unassigned.
The quantity can be lowered only down to the number of assigned seats.
Changes are dated and recorded in time order; the seats at any instant are
the subscription's start followed by every change dated at or before it.

**Seat charges** (per billing period, at full precision; invoices round):

* Seats are charged in advance: the seats held at the start of the period
  are charged the full price per seat at the start.
* A rise in the number of seats above the number already paid for in the
  period is charged, per the package's increase policy, at the moment of the
  change: ``PRORATE_IMMEDIATELY`` (default) the price × the share of the
  period left, by seconds, so a seat added on the last day of a 31-day
  period costs 1/31 of the price; ``FULL_PERIOD`` the full price;
  ``NEXT_PERIOD`` nothing until the next period starts.
* A fall is handled per the decrease policy: ``AT_PERIOD_END`` (default)
  nothing is refunded and the next period is charged for fewer seats (seats
  paid for stay paid, so refilling them later in the period costs nothing);
  ``IMMEDIATELY_WITH_CREDIT`` a credit of the price × the share of the period
  left for each paid seat given up.
* Several changes at the same instant count as one: removing one person and
  adding another at the same moment costs nothing.

**Seat-based credits** (per recurrence period, free credits expiring at the
end of the period):

* Each paid seat earns its allowance once per period. The seats held at the
  start of the period earn the full allowance. When the number of seats rises
  above the highest number so far in the period, each extra seat earns the
  allowance from that moment: prorated by the share of the period left
  (``PRORATED``, so a seat added on the last day of a 31-day period earns
  1/31) or in full (``FULL``), as a new grant that starts at the change.
* ``POOLED``: what the seats earn goes to one pool, a contract grant every
  usage of the contract may draw from.
* ``INDIVIDUAL``: each seat holder gets their own seat grant, used by usage
  attributed to that seat id. What unassigned seats earn goes to the pool,
  so paid-for credit is never lost; a person who takes over a seat that has
  already earned this period (an unassigned seat, or one given up by someone
  else) draws from the pool until the next period, when their own grant
  starts.
* ``HYBRID``: individual grants as for ``INDIVIDUAL``, plus a pool that gets
  the policy's pool amount for every seat (and unassigned seats' allowance).
* What the seats earn at one moment is rounded once to the credit type's
  places (cents for dollars, whole units for a custom credit kept in whole
  units), half up, then split between the seat holders' grants and the pool
  in proportion to what each earned, with the total-preserving allocation:
  no cent appears or disappears, and two seats added at the same moment
  may differ by one cent.
* Usage with no seat id, or by someone without a seat, can draw only from
  the pool and other contract grants; with no pool it is overage.
* Removing a seat never takes back credit: its grant stays until the end of
  the period, and whatever was used stays used.

**Per-seat balances** show, for each seat id, what its own grants gave,
what was used from them, expired or adjusted, what is left, and what the
seat's usage drew from the pool.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import Enum

from portal.domain.errors import InvalidSeatChange, InvalidSeatPolicy
from portal.domain.grants import DEFAULT_PRIORITY, Grant, GrantKind, GrantScope, GrantSource
from portal.domain.ledger import EntryKind, LedgerEntry
from portal.domain.money import ZERO, CreditType, allocate, exact_arithmetic, quantum, to_decimal
from portal.domain.periods import Period, ensure_utc, prorate, proration_fraction, stamp

MAX_SEATS = 1_000_000
"""The most seats a subscription may have: more is surely a typo (and the database counts seats in 32 bits)."""


class SubscriptionMode(Enum):
    """Whether a subscription only counts seats or also names who holds them."""

    QUANTITY_ONLY = "quantity_only"
    SEAT_BASED = "seat_based"


@dataclass(frozen=True, slots=True)
class SeatState:
    """The seats at one instant: how many, and the ids of those assigned (sorted)."""

    quantity: int
    seat_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int) or self.quantity < 0:
            raise InvalidSeatChange(f"A number of seats is a whole number of zero or more, not {self.quantity!r}.")
        ids = tuple(sorted(set(self.seat_ids)))
        if len(ids) != len(self.seat_ids):
            raise InvalidSeatChange("A seat id is listed twice: each person holds at most one seat.")
        if any(not seat_id for seat_id in ids):
            raise InvalidSeatChange("A seat id is empty: name who holds the seat, e.g. their user id.")
        if len(ids) > self.quantity:
            raise InvalidSeatChange(
                f"{len(ids)} people are assigned but there are only {self.quantity} seats: raise the quantity."
            )
        object.__setattr__(self, "seat_ids", ids)

    @property
    def unassigned(self) -> int:
        """Seats nobody holds."""
        return self.quantity - len(self.seat_ids)


EMPTY_SEATS = SeatState(0)
"""No seats: the state before a subscription starts."""


class SeatChangeKind(Enum):
    """A change to a subscription's seats."""

    SET_QUANTITY = "set_quantity"
    ADD_SEAT_IDS = "add_seat_ids"
    REMOVE_SEAT_IDS = "remove_seat_ids"
    UNASSIGN_SEAT_IDS = "unassign_seat_ids"


@dataclass(frozen=True, slots=True)
class SeatChange:
    """One dated change: a new quantity, or seat ids added, removed or unassigned (in the order given)."""

    at: datetime
    kind: SeatChangeKind
    seat_ids: tuple[str, ...] = ()
    quantity: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", ensure_utc(self.at, "seat change time"))
        if self.kind is SeatChangeKind.SET_QUANTITY:
            if self.seat_ids or isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
                raise InvalidSeatChange("Setting the number of seats takes a whole-number quantity and no seat ids.")
            if self.quantity < 0:
                raise InvalidSeatChange(f"A subscription cannot have {self.quantity} seats: use zero or more.")
            return
        if self.quantity is not None or not self.seat_ids:
            raise InvalidSeatChange(f"To {self.kind.value.replace('_', ' ')}, list the seat ids (and no quantity).")
        if len(set(self.seat_ids)) != len(self.seat_ids):
            raise InvalidSeatChange(f"Seat ids {', '.join(self.seat_ids)} name someone twice: list each once.")


def _apply(state: SeatState, change: SeatChange, mode: SubscriptionMode) -> SeatState:
    if change.kind is SeatChangeKind.SET_QUANTITY:
        quantity = change.quantity or 0
        if quantity < len(state.seat_ids):
            raise InvalidSeatChange(
                f"{len(state.seat_ids)} seats are assigned, so the quantity cannot go down to {quantity}: "
                "remove or unassign seat ids first."
            )
        return SeatState(quantity, state.seat_ids)
    if mode is SubscriptionMode.QUANTITY_ONLY:
        raise InvalidSeatChange(
            "This subscription only counts seats: change its quantity, or make it SEAT_BASED to name seat holders."
        )
    held = set(state.seat_ids)
    if change.kind is SeatChangeKind.ADD_SEAT_IDS:
        already = [s for s in change.seat_ids if s in held]
        if already:
            raise InvalidSeatChange(f"{', '.join(already)} already hold a seat.")
        extra = max(0, len(change.seat_ids) - state.unassigned)
        return SeatState(state.quantity + extra, (*state.seat_ids, *change.seat_ids))
    missing = [s for s in change.seat_ids if s not in held]
    if missing:
        raise InvalidSeatChange(f"{', '.join(missing)} hold no seat, so they cannot be removed or unassigned.")
    remaining = tuple(s for s in state.seat_ids if s not in set(change.seat_ids))
    removed = len(change.seat_ids) if change.kind is SeatChangeKind.REMOVE_SEAT_IDS else 0
    return SeatState(state.quantity - removed, remaining)


@dataclass(frozen=True, slots=True)
class SeatStep:
    """The seats just before and just after the changes at one instant, and who gained a seat then."""

    at: datetime
    before: SeatState
    after: SeatState
    added_seat_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SeatSubscription:
    """A seat subscription and its history: the seats at ``started_at``, then dated changes in time order."""

    id: str
    contract_id: str
    product_id: str
    mode: SubscriptionMode
    started_at: datetime
    initial: SeatState
    changes: tuple[SeatChange, ...] = ()
    _states: tuple[SeatState, ...] = field(init=False, repr=False, compare=False)
    _times: tuple[datetime, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "started_at", ensure_utc(self.started_at, "subscription start"))
        if self.mode is SubscriptionMode.QUANTITY_ONLY and self.initial.seat_ids:
            raise InvalidSeatChange(
                f"Subscription {self.id} only counts seats but names seat holders: make it SEAT_BASED."
            )
        states = [self.initial]
        previous = self.started_at
        for change in self.changes:
            if change.at < previous:
                raise InvalidSeatChange(
                    f"A seat change at {change.at.isoformat()} comes before {previous.isoformat()}: "
                    "seat changes are recorded in time order, none before the subscription starts."
                )
            previous = change.at
            states.append(_apply(states[-1], change, self.mode))
        object.__setattr__(self, "_states", tuple(states))
        object.__setattr__(self, "_times", tuple(c.at for c in self.changes))

    def state_at(self, at: datetime) -> SeatState:
        """The seats at ``at``, after every change dated at or before it (none before the start)."""
        at = ensure_utc(at)
        if at < self.started_at:
            return EMPTY_SEATS
        return self._states[bisect_right(self._times, at)]

    def _state_before(self, at: datetime) -> SeatState:
        if at <= self.started_at:
            return EMPTY_SEATS
        return self._states[bisect_left(self._times, at)]

    def steps_in(self, period: Period) -> tuple[SeatStep, ...]:
        """Each instant strictly inside ``period`` at which the seats changed (or the subscription started)."""
        instants = {c.at for c in self.changes if period.start < c.at < period.end}
        if period.start < self.started_at < period.end:
            instants.add(self.started_at)
        steps = []
        for at in sorted(instants):
            before, after = self._state_before(at), self.state_at(at)
            added = list(self.initial.seat_ids) if at == self.started_at else []
            added += [
                s for c in self.changes if c.at == at and c.kind is SeatChangeKind.ADD_SEAT_IDS for s in c.seat_ids
            ]
            gained = tuple(dict.fromkeys(s for s in added if s in after.seat_ids and s not in before.seat_ids))
            steps.append(SeatStep(at, before, after, gained))
        return tuple(steps)

    def _with(self, change: SeatChange) -> SeatSubscription:
        return replace(self, changes=(*self.changes, change))

    def add_seat_ids(self, at: datetime, *seat_ids: str) -> SeatSubscription:
        """Give seats to ``seat_ids`` at ``at``: unassigned seats first, then new seats for the rest."""
        return self._with(SeatChange(at, SeatChangeKind.ADD_SEAT_IDS, seat_ids))

    def remove_seat_ids(self, at: datetime, *seat_ids: str) -> SeatSubscription:
        """Take seats away from ``seat_ids`` at ``at``, lowering the quantity by as many seats."""
        return self._with(SeatChange(at, SeatChangeKind.REMOVE_SEAT_IDS, seat_ids))

    def unassign_seat_ids(self, at: datetime, *seat_ids: str) -> SeatSubscription:
        """Free the seats of ``seat_ids`` at ``at``; the quantity stays, the seats become unassigned."""
        return self._with(SeatChange(at, SeatChangeKind.UNASSIGN_SEAT_IDS, seat_ids))

    def set_quantity(self, at: datetime, quantity: int) -> SeatSubscription:
        """Set the number of seats at ``at`` (not below the number of assigned seats)."""
        return self._with(SeatChange(at, SeatChangeKind.SET_QUANTITY, quantity=quantity))


class IncreasePolicy(Enum):
    """How a rise in seats within a period is charged."""

    PRORATE_IMMEDIATELY = "prorate_immediately"
    FULL_PERIOD = "full_period"
    NEXT_PERIOD = "next_period"


class DecreasePolicy(Enum):
    """How a fall in seats within a period is handled."""

    AT_PERIOD_END = "at_period_end"
    IMMEDIATELY_WITH_CREDIT = "immediately_with_credit"


@dataclass(frozen=True, slots=True)
class SeatPricing:
    """A package's seat price per billing period and its policies for changes within a period."""

    price_per_seat: Decimal
    credit_type: CreditType
    increases: IncreasePolicy = IncreasePolicy.PRORATE_IMMEDIATELY
    decreases: DecreasePolicy = DecreasePolicy.AT_PERIOD_END

    def __post_init__(self) -> None:
        price = to_decimal(self.price_per_seat, "price per seat")
        if price < 0:
            raise InvalidSeatPolicy(f"The price per seat is {price}: a price is zero or more.")
        object.__setattr__(self, "price_per_seat", price)


class SeatLineKind(Enum):
    """Why a seat charge line exists."""

    IN_ADVANCE = "in_advance"
    INCREASE = "increase"
    DECREASE_CREDIT = "decrease_credit"


@dataclass(frozen=True, slots=True)
class SeatChargeLine:
    """A seat charge: ``quantity`` seats × ``unit_price`` for the ``covered`` part of the period.

    ``amount`` is at full precision, computed with :func:`~portal.domain.periods.prorate`
    (one division: 1 seat at $31 for 1 day of a 31-day month is exactly $1);
    it is negative for a credit on a decrease. ``fraction`` is the share of
    the period covered (1 when not prorated), shown to the customer; it is
    rounded to 28 digits, so the amount is not computed from it.
    """

    subscription_id: str
    contract_id: str
    product_id: str
    kind: SeatLineKind
    at: datetime
    quantity: int
    covered: Period
    unit_price: Decimal
    fraction: Decimal
    amount: Decimal
    credit_type: CreditType


def seat_charges(subscription: SeatSubscription, pricing: SeatPricing, period: Period) -> tuple[SeatChargeLine, ...]:
    """The seat charge lines of one billing period, in time order; see the module rules."""
    price = pricing.price_per_seat

    def line(kind: SeatLineKind, at: datetime, quantity: int, prorated: bool, sign: int) -> SeatChargeLine:
        covered = Period(at, period.end)
        with exact_arithmetic():
            full = sign * quantity * price
        return SeatChargeLine(
            subscription_id=subscription.id,
            contract_id=subscription.contract_id,
            product_id=subscription.product_id,
            kind=kind,
            at=at,
            quantity=quantity,
            covered=covered,
            unit_price=price,
            fraction=proration_fraction(covered, period) if prorated else Decimal(1),
            amount=prorate(full, covered, period) if prorated else full,
            credit_type=pricing.credit_type,
        )

    paid = subscription.state_at(period.start).quantity
    lines = [line(SeatLineKind.IN_ADVANCE, period.start, paid, False, 1)] if paid else []
    for step in subscription.steps_in(period):
        quantity = step.after.quantity
        if quantity > paid and pricing.increases is not IncreasePolicy.NEXT_PERIOD:
            prorated = pricing.increases is IncreasePolicy.PRORATE_IMMEDIATELY
            lines.append(line(SeatLineKind.INCREASE, step.at, quantity - paid, prorated, 1))
            paid = quantity
        elif quantity < paid and pricing.decreases is DecreasePolicy.IMMEDIATELY_WITH_CREDIT:
            lines.append(line(SeatLineKind.DECREASE_CREDIT, step.at, paid - quantity, True, -1))
            paid = quantity
    return tuple(lines)


class CreditAllocation(Enum):
    """How seat-based credits are held: one pool, one grant per seat, or both."""

    POOLED = "pooled"
    INDIVIDUAL = "individual"
    HYBRID = "hybrid"


class CreditProration(Enum):
    """What a seat added within a period earns."""

    PRORATED = "prorated"
    FULL = "full"


@dataclass(frozen=True, slots=True)
class SeatCreditPolicy:
    """A package's recurring credit per seat.

    ``allowance_per_seat`` is what each seat earns per period (into the pool
    for ``POOLED``, into the seat's own grant otherwise). ``pool_per_seat`` is
    the extra pooled amount per seat of a ``HYBRID`` allocation.
    """

    id: str
    credit_type: CreditType
    allowance_per_seat: Decimal
    allocation: CreditAllocation = CreditAllocation.POOLED
    pool_per_seat: Decimal = ZERO
    proration: CreditProration = CreditProration.PRORATED
    priority: int = DEFAULT_PRIORITY
    applicable_product_ids: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        allowance = to_decimal(self.allowance_per_seat, "credit allowance per seat")
        pool = to_decimal(self.pool_per_seat, "pool amount per seat")
        if allowance < 0 or pool < 0:
            raise InvalidSeatPolicy(f"Seat credit policy {self.id}: allowances are zero or more.")
        if self.allocation is CreditAllocation.HYBRID and pool == 0:
            raise InvalidSeatPolicy(
                f"Seat credit policy {self.id} is HYBRID without a pool amount per seat: "
                "set one, or use INDIVIDUAL allocation."
            )
        if self.allocation is not CreditAllocation.HYBRID and pool != 0:
            raise InvalidSeatPolicy(
                f"Seat credit policy {self.id} sets a pool amount per seat, which only a HYBRID allocation uses."
            )
        object.__setattr__(self, "allowance_per_seat", allowance)
        object.__setattr__(self, "pool_per_seat", pool)


def seat_credit_grants(subscription: SeatSubscription, policy: SeatCreditPolicy, period: Period) -> tuple[Grant, ...]:
    """The free-credit grants the seats of ``subscription`` earn in one recurrence ``period``.

    Amounts are rounded to the credit type's places (see the module rules).
    Grants start when earned (the period start, or the moment seats rose
    above the period's highest count) and expire at the period end. Ids are
    stable: ``{policy}/{subscription}/{period start}/seat/{seat id}``, and
    ``.../pool`` or ``.../pool@{instant}`` for the pool.
    """
    individual = policy.allocation is not CreditAllocation.POOLED
    if individual and subscription.mode is SubscriptionMode.QUANTITY_ONLY:
        raise InvalidSeatPolicy(
            f"Seat credit policy {policy.id} gives each seat its own grant, but subscription {subscription.id} "
            "does not name seat holders: make it SEAT_BASED, or use POOLED allocation."
        )
    prefix = f"{policy.id}/{subscription.id}/{stamp(period.start)}"
    start = subscription.state_at(period.start)
    earnings = [(period.start, start.quantity, start.seat_ids)]
    earnings += [(s.at, s.after.quantity, s.added_seat_ids) for s in subscription.steps_in(period)]
    step = quantum(policy.credit_type.places)
    highest = 0
    earned: set[str] = set()
    grants: list[Grant] = []
    for at, quantity, added in earnings:
        slots = quantity - highest
        if slots <= 0:
            continue
        highest = quantity
        candidates = [s for s in added if s not in earned] if individual else []
        holders = candidates[len(candidates) - slots :] if len(candidates) > slots else candidates
        earned.update(holders)
        pool_weight = policy.allowance_per_seat * (slots - len(holders)) + policy.pool_per_seat * slots
        weights = [policy.allowance_per_seat] * len(holders) + [pool_weight]
        with exact_arithmetic():
            full = sum(weights, ZERO)
        if at != period.start and policy.proration is CreditProration.PRORATED:
            full = prorate(full, Period(at, period.end), period)
        earned_now = policy.credit_type.round(full)
        if earned_now == 0:
            continue
        *seat_parts, pool_part = allocate(earned_now, weights, step)
        for seat_id, part in zip(holders, seat_parts, strict=True):
            if part:
                grants.append(_credit(policy, subscription, f"{prefix}/seat/{seat_id}", part, at, period, seat_id))
        if pool_part:
            pool_id = f"{prefix}/pool" if at == period.start else f"{prefix}/pool@{stamp(at)}"
            grants.append(_credit(policy, subscription, pool_id, pool_part, at, period, None))
    return tuple(grants)


def _credit(
    policy: SeatCreditPolicy,
    subscription: SeatSubscription,
    grant_id: str,
    amount: Decimal,
    at: datetime,
    period: Period,
    seat_id: str | None,
) -> Grant:
    return Grant(
        id=grant_id,
        contract_id=subscription.contract_id,
        kind=GrantKind.CREDIT,
        credit_type=policy.credit_type,
        amount=amount,
        starting_at=at,
        ending_before=period.end,
        priority=policy.priority,
        applicable_product_ids=policy.applicable_product_ids,
        scope=GrantScope.CONTRACT if seat_id is None else GrantScope.SEAT,
        seat_id=seat_id,
        source=GrantSource.PACKAGE_RECURRENCE,
    )


@dataclass(frozen=True, slots=True)
class SeatBalance:
    """One seat's credit in one credit type: its own grants' movements, and its draws on the pool.

    ``remaining`` = ``granted`` - ``used`` - ``expired`` + ``adjusted``.
    ``drawn_from_pool`` is what this seat's usage took from contract and
    shared grants.
    """

    contract_id: str
    seat_id: str
    credit_type: CreditType
    granted: Decimal
    used: Decimal
    expired: Decimal
    adjusted: Decimal
    remaining: Decimal
    drawn_from_pool: Decimal


def seat_balances(
    contract_id: str,
    grants: Iterable[Grant],
    ledger: Iterable[LedgerEntry],
    as_of: datetime | None = None,
    seat_id: str | None = None,
) -> tuple[SeatBalance, ...]:
    """Per-seat balances of a contract from the ledger, as of ``as_of`` (all entries when None).

    Without ``seat_id``: every seat with its own grant or with draws on the
    pool (the customer admin's view), by seat id then credit type. With it:
    only that seat (a member's own view).
    """
    cutoff = None if as_of is None else ensure_utc(as_of, "balance time")
    by_id = {g.id: g for g in grants}
    own = {g.id for g in by_id.values() if g.scope is GrantScope.SEAT and g.contract_id == contract_id}
    rows: dict[tuple[str, str], dict[str, Decimal]] = {}
    with exact_arithmetic():
        for g in by_id.values():
            if g.id in own and g.seat_id is not None and seat_id in (None, g.seat_id):
                rows.setdefault((g.seat_id, g.credit_type.id), {})
        for e in ledger:
            grant = by_id.get(e.grant_id)
            if grant is None or (cutoff is not None and e.at > cutoff):
                continue
            if grant.id in own and grant.seat_id is not None:
                holder, figure = grant.seat_id, _SEAT_FIGURE[e.kind]
            elif e.kind is EntryKind.USAGE and e.contract_id == contract_id and e.seat_id is not None:
                holder, figure = e.seat_id, "pool"
            else:
                continue
            if seat_id not in (None, holder):
                continue
            row = rows.setdefault((holder, grant.credit_type.id), {})
            row[figure] = row.get(figure, ZERO) + e.amount
        types = {g.credit_type.id: g.credit_type for g in by_id.values()}
        return tuple(
            SeatBalance(
                contract_id=contract_id,
                seat_id=holder,
                credit_type=types[type_id],
                granted=row.get("granted", ZERO),
                used=-row.get("used", ZERO),
                expired=-row.get("expired", ZERO),
                adjusted=row.get("adjusted", ZERO),
                remaining=sum((row.get(k, ZERO) for k in _SEAT_FIGURE.values()), ZERO),
                drawn_from_pool=-row.get("pool", ZERO),
            )
            for (holder, type_id), row in sorted(rows.items())
        )


_SEAT_FIGURE = {
    EntryKind.GRANT_START: "granted",
    EntryKind.USAGE: "used",
    EntryKind.EXPIRY: "expired",
    EntryKind.ADJUSTMENT: "adjusted",
}
