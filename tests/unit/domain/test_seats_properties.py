"""Property tests of seats: credits split without loss, no claw-back, charges and credits prorate alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain.errors import InvalidSeatChange
from portal.domain.grants import Grant, GrantScope
from portal.domain.money import exact_arithmetic, fiat
from portal.domain.periods import Period, utc
from portal.domain.seats import (
    CreditAllocation,
    CreditProration,
    IncreasePolicy,
    SeatCreditPolicy,
    SeatPricing,
    SeatState,
    SeatSubscription,
    SubscriptionMode,
    seat_charges,
    seat_credit_grants,
)

USD = fiat("USD")
JANUARY = Period(utc(2026, 1, 1), utc(2026, 2, 1))
PEOPLE = ("ann", "bob", "cat", "dan", "eve", "fay")
ALLOWANCE = Decimal(20)
POOL = Decimal(7)

operations = st.tuples(
    st.integers(0, 40 * 24),  # hours after 25 December, so some changes fall before and after January
    st.sampled_from(("add", "remove", "unassign", "quantity")),
    st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=3, unique=True),
    st.integers(0, 8),
)


@st.composite
def subscriptions(draw: st.DrawFn) -> SeatSubscription:
    """A seat-based subscription started between 25 December and 4 January, with a random history of valid changes."""
    started = utc(2025, 12, 25) + timedelta(hours=draw(st.integers(0, 10 * 24)))
    holders = draw(st.lists(st.sampled_from(PEOPLE), max_size=3, unique=True))
    sub = SeatSubscription(
        "sub",
        "c",
        "seat",
        SubscriptionMode.SEAT_BASED,
        started,
        SeatState(len(holders) + draw(st.integers(0, 2)), tuple(holders)),
    )
    for hours, kind, people, quantity in sorted(draw(st.lists(operations, max_size=10))):
        at = max(started, utc(2025, 12, 25) + timedelta(hours=hours))
        try:
            if kind == "add":
                sub = sub.add_seat_ids(at, *people)
            elif kind == "remove":
                sub = sub.remove_seat_ids(at, *people)
            elif kind == "unassign":
                sub = sub.unassign_seat_ids(at, *people)
            else:
                sub = sub.set_quantity(at, quantity)
        except InvalidSeatChange:
            continue  # a change this history cannot take (someone already seated, too few seats...)
    return sub


def total(grants: tuple[Grant, ...]) -> Decimal:
    """All credit granted."""
    with exact_arithmetic():
        return sum((g.amount for g in grants), Decimal(0))


def credits(
    sub: SeatSubscription, allocation: CreditAllocation, proration: CreditProration, allowance: Decimal = ALLOWANCE
) -> tuple[Grant, ...]:
    """The January credits of ``sub`` under one allocation."""
    pool = POOL if allocation is CreditAllocation.HYBRID else Decimal(0)
    policy = SeatCreditPolicy("p", USD, allowance, allocation, pool_per_seat=pool, proration=proration)
    return seat_credit_grants(sub, policy, JANUARY)


def highest_quantity(sub: SeatSubscription) -> int:
    """The most seats held at once in January."""
    instants = [JANUARY.start, *(step.at for step in sub.steps_in(JANUARY))]
    return max(sub.state_at(at).quantity for at in instants)


@settings(max_examples=150, deadline=None)
@given(subscriptions(), st.sampled_from(CreditProration))
def test_splitting_credit_between_seats_and_pool_neither_creates_nor_loses_any(
    sub: SeatSubscription, proration: CreditProration
) -> None:
    pooled = credits(sub, CreditAllocation.POOLED, proration)
    individual = credits(sub, CreditAllocation.INDIVIDUAL, proration)
    hybrid = credits(sub, CreditAllocation.HYBRID, proration)
    assert total(individual) == total(pooled)
    # Hybrid: each seat earns its allowance plus POOL, as if pooled at ALLOWANCE + POOL a seat.
    assert total(hybrid) == total(credits(sub, CreditAllocation.POOLED, proration, ALLOWANCE + POOL))
    assert len({g.id for g in hybrid}) == len(hybrid)
    seat_grants = [g.seat_id for g in individual if g.scope is GrantScope.SEAT]
    assert len(seat_grants) == len(set(seat_grants)) <= highest_quantity(sub)


@settings(max_examples=150, deadline=None)
@given(subscriptions())
def test_full_credit_is_the_allowance_for_each_seat_of_the_periods_highest_count(sub: SeatSubscription) -> None:
    assert total(credits(sub, CreditAllocation.INDIVIDUAL, CreditProration.FULL)) == ALLOWANCE * highest_quantity(sub)
    prorated = total(credits(sub, CreditAllocation.INDIVIDUAL, CreditProration.PRORATED))
    assert ALLOWANCE * sub.state_at(JANUARY.start).quantity <= prorated <= ALLOWANCE * highest_quantity(sub)


@settings(max_examples=150, deadline=None)
@given(subscriptions())
def test_a_seat_is_charged_and_credited_for_the_same_share_of_the_period(sub: SeatSubscription) -> None:
    # Each charge line, rounded to the cent as an invoice shows it, matches the credit earned at that moment.
    lines = seat_charges(sub, SeatPricing(ALLOWANCE, USD), JANUARY)
    charged = sum((USD.round(line.amount) for line in lines), Decimal(0))
    assert charged == total(credits(sub, CreditAllocation.POOLED, CreditProration.PRORATED))
    full = SeatPricing(ALLOWANCE, USD, increases=IncreasePolicy.FULL_PERIOD)
    assert sum((line.amount for line in seat_charges(sub, full, JANUARY)), Decimal(0)) == ALLOWANCE * highest_quantity(
        sub
    )


@settings(max_examples=150, deadline=None)
@given(subscriptions(), st.integers(0, 31 * 24))
def test_later_changes_never_take_back_credit_or_change_past_charges(sub: SeatSubscription, hours: int) -> None:
    cutoff: datetime = JANUARY.start + timedelta(hours=hours)
    known_then = replace(sub, changes=tuple(c for c in sub.changes if c.at <= cutoff))
    started = sub.started_at <= cutoff  # before its start nothing was known of the subscription
    for allocation in CreditAllocation:
        now = credits(sub, allocation, CreditProration.PRORATED)
        then = credits(known_then, allocation, CreditProration.PRORATED) if started else ()
        assert tuple(g for g in now if g.starting_at <= cutoff) == then
    pricing = SeatPricing(ALLOWANCE, USD)
    now_lines = seat_charges(sub, pricing, JANUARY)
    then_lines = seat_charges(known_then, pricing, JANUARY) if started else ()
    assert tuple(line for line in now_lines if line.at <= cutoff) == then_lines
