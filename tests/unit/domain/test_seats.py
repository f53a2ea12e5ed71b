"""Seats: subscription history, seat charges, seat-based credits and per-seat balances, with hand-computed figures."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from portal.domain.charges import Charge
from portal.domain.errors import InvalidPeriod, InvalidSeatChange, InvalidSeatPolicy
from portal.domain.grants import Grant, GrantKind, GrantScope, GrantSource, burn_down
from portal.domain.money import fiat
from portal.domain.periods import Period, prorate, proration_fraction, utc
from portal.domain.seats import (
    CreditAllocation,
    CreditProration,
    DecreasePolicy,
    IncreasePolicy,
    SeatChange,
    SeatChangeKind,
    SeatCreditPolicy,
    SeatLineKind,
    SeatPricing,
    SeatState,
    SeatSubscription,
    SubscriptionMode,
    seat_balances,
    seat_charges,
    seat_credit_grants,
)

USD = fiat("USD")
JPY = fiat("JPY")
JAN_1 = utc(2026, 1, 1)
FEB_1 = utc(2026, 2, 1)
JANUARY = Period(JAN_1, FEB_1)  # 31 days
FEBRUARY = Period(FEB_1, utc(2026, 3, 1))
PRICE = SeatPricing(Decimal(20), USD)
PREFIX = "credits/sub/2026-01-01T00:00:00Z"


def subscription(quantity: int, *seat_ids: str, started_at: datetime = JAN_1, **fields: Any) -> SeatSubscription:
    """A seat-based subscription of contract ``c`` started on 1 January unless told otherwise."""
    mode = fields.pop("mode", SubscriptionMode.SEAT_BASED)
    return SeatSubscription("sub", "c", "seat", mode, started_at, SeatState(quantity, seat_ids))


def policy(allocation: CreditAllocation = CreditAllocation.POOLED, **fields: Any) -> SeatCreditPolicy:
    """100 USD of credit per seat per month."""
    return SeatCreditPolicy("credits", USD, Decimal(100), allocation, **fields)


def cents(amount: Decimal) -> Decimal:
    """An amount as an invoice would show it."""
    return USD.currency.round(amount)


# --- Subscriptions and their history ------------------------------------------------------------


def test_adding_seat_ids_fills_unassigned_seats_first_then_raises_the_quantity() -> None:
    sub = subscription(5, "ann", "bob", "cat")
    sub = sub.add_seat_ids(utc(2026, 1, 5), "dan", "eve")
    # 5 seats, 3 assigned: dan and eve take the 2 unassigned seats, the quantity stays 5.
    assert sub.state_at(utc(2026, 1, 5)) == SeatState(5, ("ann", "bob", "cat", "dan", "eve"))
    sub = sub.add_seat_ids(utc(2026, 1, 6), "fay", "gus", "hal")
    # No unassigned seat is left, so 3 more seats: 5 + 3 = 8.
    assert sub.state_at(utc(2026, 1, 6)).quantity == 8
    assert sub.state_at(utc(2026, 1, 6)).unassigned == 0


def test_removing_seat_ids_lowers_the_quantity_and_unassigning_keeps_it() -> None:
    sub = subscription(4, "ann", "bob", "cat").remove_seat_ids(utc(2026, 1, 5), "ann")
    assert sub.state_at(utc(2026, 1, 5)) == SeatState(3, ("bob", "cat"))
    sub = sub.unassign_seat_ids(utc(2026, 1, 6), "bob")
    assert sub.state_at(utc(2026, 1, 6)) == SeatState(3, ("cat",))
    assert sub.state_at(utc(2026, 1, 6)).unassigned == 2


def test_the_quantity_can_go_down_only_to_the_assigned_seats() -> None:
    sub = subscription(4, "ann", "bob")
    assert sub.set_quantity(utc(2026, 1, 2), 2).state_at(utc(2026, 1, 2)).quantity == 2
    with pytest.raises(InvalidSeatChange, match="remove or unassign seat ids first"):
        sub.set_quantity(utc(2026, 1, 2), 1)
    with pytest.raises(InvalidSeatChange, match="zero or more"):
        sub.set_quantity(utc(2026, 1, 2), -1)


def test_the_seats_at_an_instant_follow_the_dated_history() -> None:
    sub = subscription(2, started_at=utc(2026, 1, 3)).set_quantity(utc(2026, 1, 10), 5)
    assert sub.state_at(JAN_1).quantity == 0  # before the start
    assert sub.state_at(utc(2026, 1, 3)).quantity == 2
    assert sub.state_at(utc(2026, 1, 9, 23, 59, 59)).quantity == 2
    assert sub.state_at(utc(2026, 1, 10)).quantity == 5  # a change counts from its instant


def test_a_quantity_only_subscription_does_not_name_seat_holders() -> None:
    counted = subscription(3, mode=SubscriptionMode.QUANTITY_ONLY)
    with pytest.raises(InvalidSeatChange, match="make it SEAT_BASED"):
        counted.add_seat_ids(utc(2026, 1, 2), "ann")
    with pytest.raises(InvalidSeatChange, match="make it SEAT_BASED"):
        subscription(3, "ann", mode=SubscriptionMode.QUANTITY_ONLY)
    assert counted.set_quantity(utc(2026, 1, 2), 7).state_at(FEB_1).quantity == 7


def test_seat_changes_that_cannot_happen_are_refused() -> None:
    sub = subscription(2, "ann")
    with pytest.raises(InvalidSeatChange, match="ann already hold a seat"):
        sub.add_seat_ids(utc(2026, 1, 2), "ann")
    with pytest.raises(InvalidSeatChange, match="zed hold no seat"):
        sub.remove_seat_ids(utc(2026, 1, 2), "zed")
    with pytest.raises(InvalidSeatChange, match="name someone twice"):
        sub.add_seat_ids(utc(2026, 1, 2), "bob", "bob")
    with pytest.raises(InvalidSeatChange, match="list the seat ids"):
        sub.add_seat_ids(utc(2026, 1, 2))
    with pytest.raises(InvalidSeatChange, match="in time order"):
        sub.set_quantity(utc(2026, 1, 9), 3).set_quantity(utc(2026, 1, 8), 4)
    with pytest.raises(InvalidSeatChange, match="none before the subscription starts"):
        sub.set_quantity(utc(2025, 12, 31), 3)
    with pytest.raises(InvalidSeatChange, match="whole-number quantity"):
        SeatChange(JAN_1, SeatChangeKind.SET_QUANTITY)
    with pytest.raises(InvalidPeriod, match="no timezone"):
        sub.set_quantity(datetime(2026, 1, 2), 3)  # a naive datetime, on purpose


def test_seat_states_are_consistent() -> None:
    with pytest.raises(InvalidSeatChange, match="only 1 seats"):
        SeatState(1, ("ann", "bob"))
    with pytest.raises(InvalidSeatChange, match="listed twice"):
        SeatState(3, ("ann", "ann"))
    with pytest.raises(InvalidSeatChange, match="empty"):
        SeatState(3, ("",))
    with pytest.raises(InvalidSeatChange, match="whole number"):
        SeatState(True)
    assert SeatState(3, ("bob", "ann")).seat_ids == ("ann", "bob")


# --- Seat charges -------------------------------------------------------------------------------


def test_seats_are_charged_in_advance_for_the_period() -> None:
    (line,) = seat_charges(subscription(10), PRICE, JANUARY)
    # 10 seats × $20 = $200, charged on 1 January for the whole month.
    assert (line.kind, line.at, line.quantity, line.covered, line.amount) == (
        SeatLineKind.IN_ADVANCE,
        JAN_1,
        10,
        JANUARY,
        Decimal(200),
    )
    assert (line.contract_id, line.product_id, line.subscription_id, line.credit_type) == ("c", "seat", "sub", USD)


def test_an_increase_mid_period_is_prorated_at_once() -> None:
    sub = subscription(10).set_quantity(utc(2026, 1, 11), 12)
    _, increase = seat_charges(sub, PRICE, JANUARY)
    # 2 seats from 11 January: 21 of 31 days left; 2 × $20 × 21/31 = $840/31 = $27.0967… → $27.10.
    assert increase.kind is SeatLineKind.INCREASE
    assert (increase.quantity, increase.covered) == (2, Period(utc(2026, 1, 11), FEB_1))
    assert increase.fraction == proration_fraction(Period(utc(2026, 1, 11), FEB_1), JANUARY)
    # The amount divides once (2 × 20 × 21 days / 31 days), not by a rounded fraction.
    assert increase.amount == prorate(Decimal(40), increase.covered, JANUARY) == Decimal(840) / Decimal(31)
    assert cents(increase.amount) == Decimal("27.10")


def test_a_prorated_seat_is_exact_when_the_division_is() -> None:
    pricing = SeatPricing(Decimal(31), USD)
    _, increase = seat_charges(subscription(1).set_quantity(utc(2026, 1, 31), 2), pricing, JANUARY)
    # $31 × 1 day / 31 days = exactly $1 (a rounded fraction 1/31 would give $0.99999…).
    assert increase.amount == Decimal(1)


def test_a_seat_added_on_the_last_day_is_charged_for_one_day() -> None:
    sub = subscription(1, "ann").add_seat_ids(utc(2026, 1, 31), "bob")
    _, increase = seat_charges(sub, PRICE, JANUARY)
    # 1 seat × $20 × 1/31 = $0.6451… → $0.65.
    assert increase.fraction == Decimal(1) / Decimal(31)
    assert cents(increase.amount) == Decimal("0.65")


def test_an_increase_can_be_charged_for_the_full_period() -> None:
    pricing = SeatPricing(Decimal(20), USD, increases=IncreasePolicy.FULL_PERIOD)
    _, increase = seat_charges(subscription(10).set_quantity(utc(2026, 1, 11), 12), pricing, JANUARY)
    assert (increase.fraction, increase.amount) == (Decimal(1), Decimal(40))  # 2 × $20


def test_an_increase_can_wait_for_the_next_period() -> None:
    pricing = SeatPricing(Decimal(20), USD, increases=IncreasePolicy.NEXT_PERIOD)
    sub = subscription(10).set_quantity(utc(2026, 1, 11), 12)
    assert [line.amount for line in seat_charges(sub, pricing, JANUARY)] == [Decimal(200)]
    assert [line.amount for line in seat_charges(sub, pricing, FEBRUARY)] == [Decimal(240)]  # 12 × $20


def test_a_decrease_takes_effect_at_period_end_and_paid_seats_stay_paid() -> None:
    sub = subscription(10).set_quantity(utc(2026, 1, 10), 9).set_quantity(utc(2026, 1, 20), 10)
    # January: 10 seats paid on 1 January; the seat given up on the 10th and taken back on the 20th costs nothing.
    assert [(line.kind, line.amount) for line in seat_charges(sub, PRICE, JANUARY)] == [
        (SeatLineKind.IN_ADVANCE, Decimal(200))
    ]
    sub = subscription(10).set_quantity(utc(2026, 1, 10), 9)
    assert [line.amount for line in seat_charges(sub, PRICE, FEBRUARY)] == [Decimal(180)]  # 9 × $20


def test_a_decrease_can_be_credited_at_once() -> None:
    pricing = SeatPricing(Decimal(20), USD, decreases=DecreasePolicy.IMMEDIATELY_WITH_CREDIT)
    sub = subscription(10).set_quantity(utc(2026, 1, 11), 9).set_quantity(utc(2026, 1, 21), 10)
    _, credit, increase = seat_charges(sub, pricing, JANUARY)
    # 11 January: 1 seat × $20 × 21/31 = $13.548… back → -$13.55.
    assert (credit.kind, credit.quantity, cents(credit.amount)) == (SeatLineKind.DECREASE_CREDIT, 1, Decimal("-13.55"))
    # 21 January: the seat is bought again, 1 × $20 × 11/31 = $7.0967… → $7.10.
    assert (increase.kind, cents(increase.amount)) == (SeatLineKind.INCREASE, Decimal("7.10"))


def test_changes_at_the_same_instant_count_as_one() -> None:
    swap = utc(2026, 1, 15)
    sub = subscription(2, "ann", "bob").remove_seat_ids(swap, "ann").add_seat_ids(swap, "cat")
    credit_at_once = SeatPricing(Decimal(20), USD, decreases=DecreasePolicy.IMMEDIATELY_WITH_CREDIT)
    assert [line.kind for line in seat_charges(sub, credit_at_once, JANUARY)] == [SeatLineKind.IN_ADVANCE]


def test_a_subscription_starting_mid_period_is_charged_like_an_increase() -> None:
    (line,) = seat_charges(subscription(3, started_at=utc(2026, 1, 11)), PRICE, JANUARY)
    # 3 seats × $20 × 21/31 = $1,260/31 = $40.645… → $40.65.
    assert (line.kind, line.at, cents(line.amount)) == (SeatLineKind.INCREASE, utc(2026, 1, 11), Decimal("40.65"))


def test_jpy_seats_are_prorated_and_rounded_to_the_yen() -> None:
    pricing = SeatPricing(Decimal(3100), JPY)
    _, increase = seat_charges(subscription(1).set_quantity(utc(2026, 1, 31), 2), pricing, JANUARY)
    # ¥3,100 × 1/31 = ¥100.
    assert JPY.currency.round(increase.amount) == Decimal(100)


def test_a_seat_price_is_not_negative() -> None:
    with pytest.raises(InvalidSeatPolicy, match="zero or more"):
        SeatPricing(Decimal(-1), USD)


# --- Seat-based credits -------------------------------------------------------------------------


def amounts(grants: tuple[Grant, ...]) -> list[tuple[str, Decimal]]:
    """Grant ids (without the common prefix) and amounts."""
    return [(g.id.removeprefix(PREFIX), g.amount) for g in grants]


def test_pooled_credits_are_one_contract_grant_of_allowance_times_seats() -> None:
    (pool,) = seat_credit_grants(subscription(3, "ann", "bob"), policy(), JANUARY)
    # 3 seats × $100 = $300 in one pool for the whole contract, free, expiring with the period.
    assert (pool.id, pool.amount, pool.scope, pool.seat_id) == (
        f"{PREFIX}/pool",
        Decimal(300),
        GrantScope.CONTRACT,
        None,
    )
    assert (pool.kind, pool.source, pool.starting_at, pool.ending_before) == (
        GrantKind.CREDIT,
        GrantSource.PACKAGE_RECURRENCE,
        JAN_1,
        FEB_1,
    )


def test_individual_credits_are_one_seat_grant_per_holder_and_unassigned_seats_fill_the_pool() -> None:
    grants = seat_credit_grants(subscription(3, "ann", "bob"), policy(CreditAllocation.INDIVIDUAL), JANUARY)
    # ann and bob get $100 each; the unassigned third seat's $100 goes to the pool.
    assert amounts(grants) == [("/seat/ann", Decimal(100)), ("/seat/bob", Decimal(100)), ("/pool", Decimal(100))]
    assert [(g.scope, g.seat_id) for g in grants] == [
        (GrantScope.SEAT, "ann"),
        (GrantScope.SEAT, "bob"),
        (GrantScope.CONTRACT, None),
    ]


def test_hybrid_credits_give_each_holder_an_allowance_and_the_pool_an_amount_per_seat() -> None:
    hybrid = policy(CreditAllocation.HYBRID, pool_per_seat=Decimal(50))
    grants = seat_credit_grants(subscription(3, "ann", "bob"), hybrid, JANUARY)
    # ann, bob: $100 each. Pool: $50 × 3 seats + $100 of the unassigned seat = $250.
    assert amounts(grants) == [("/seat/ann", Decimal(100)), ("/seat/bob", Decimal(100)), ("/pool", Decimal(250))]


def test_a_seat_added_on_the_last_day_earns_one_day_of_credit() -> None:
    sub = subscription(2, "ann", "bob").add_seat_ids(utc(2026, 1, 31), "cat")
    grants = seat_credit_grants(sub, policy(CreditAllocation.INDIVIDUAL), JANUARY)
    cat = grants[-1]
    # $100 × 1/31 = $3.2258… → $3.23 (credit is granted in whole cents), usable from 31 January.
    assert (cat.seat_id, cat.starting_at, cat.ending_before, cat.amount) == (
        "cat",
        utc(2026, 1, 31),
        FEB_1,
        Decimal("3.23"),
    )
    full = seat_credit_grants(sub, policy(CreditAllocation.INDIVIDUAL, proration=CreditProration.FULL), JANUARY)
    assert full[-1].amount == Decimal(100)
    pooled = seat_credit_grants(sub, policy(), JANUARY)
    assert amounts(pooled) == [("/pool", Decimal(200)), ("/pool@2026-01-31T00:00:00Z", Decimal("3.23"))]


def test_credit_earned_at_one_moment_is_rounded_once_then_split_without_losing_a_cent() -> None:
    sub = subscription(1, "ann").add_seat_ids(utc(2026, 1, 31), "bob", "cat")
    hybrid = policy(CreditAllocation.HYBRID, pool_per_seat=Decimal(50))
    late = seat_credit_grants(sub, hybrid, JANUARY)[2:]
    # bob and cat raise the seats to 3 on the last day: ($100 + $100 + $50 × 2) × 1/31 = $300/31 = $9.677… → $9.68,
    # split 100 : 100 : 100: 968 cents / 3 = 322.67 each, so 322 each and the 2 cents left over go to the
    # first two: bob $3.23, cat $3.23, pool $3.22 = $9.68.
    assert amounts(late) == [
        ("/seat/bob", Decimal("3.23")),
        ("/seat/cat", Decimal("3.23")),
        ("/pool@2026-01-31T00:00:00Z", Decimal("3.22")),
    ]


def test_taking_an_unassigned_seat_earns_no_new_credit() -> None:
    sub = subscription(3, "ann", "bob").add_seat_ids(utc(2026, 1, 10), "cat")
    grants = seat_credit_grants(sub, policy(CreditAllocation.INDIVIDUAL), JANUARY)
    # The third seat earned its $100 on 1 January, into the pool, where cat can draw it.
    assert amounts(grants) == [("/seat/ann", Decimal(100)), ("/seat/bob", Decimal(100)), ("/pool", Decimal(100))]


def test_only_seats_that_raise_the_quantity_earn_when_ids_are_added() -> None:
    sub = subscription(3, "ann", "bob").add_seat_ids(utc(2026, 1, 11), "cat", "dan")
    grants = seat_credit_grants(sub, policy(CreditAllocation.INDIVIDUAL, proration=CreditProration.FULL), JANUARY)
    # cat takes the unassigned seat (its credit is in the pool); dan raises the quantity to 4 and earns $100.
    assert amounts(grants)[-1] == ("/seat/dan", Decimal(100))
    assert len(grants) == 4


def test_a_seat_given_up_and_given_to_someone_else_earns_once_a_period() -> None:
    sub = subscription(2, "ann", "bob").remove_seat_ids(utc(2026, 1, 5), "bob").add_seat_ids(utc(2026, 1, 10), "cat")
    grants = seat_credit_grants(sub, policy(CreditAllocation.INDIVIDUAL), JANUARY)
    # Never more than 2 seats this month: bob keeps his grant, cat gets none until February.
    assert amounts(grants) == [("/seat/ann", Decimal(100)), ("/seat/bob", Decimal(100))]
    february = seat_credit_grants(sub, policy(CreditAllocation.INDIVIDUAL), FEBRUARY)
    assert [g.seat_id for g in february] == ["ann", "cat"]


def test_removing_a_seat_never_claws_back_credit() -> None:
    before = subscription(2, "ann", "bob")
    after = before.remove_seat_ids(utc(2026, 1, 20), "bob")
    assert seat_credit_grants(after, policy(CreditAllocation.INDIVIDUAL), JANUARY) == seat_credit_grants(
        before, policy(CreditAllocation.INDIVIDUAL), JANUARY
    )
    usage = Charge("u", "c", "api", utc(2026, 1, 5), Decimal(60), USD, seat_id="bob")
    result = burn_down([usage], seat_credit_grants(after, policy(CreditAllocation.INDIVIDUAL), JANUARY))
    assert result.outcome("u").covered == Decimal(60)


def test_quantity_only_subscriptions_get_pooled_credits_only() -> None:
    counted = subscription(4, mode=SubscriptionMode.QUANTITY_ONLY)
    assert amounts(seat_credit_grants(counted, policy(), JANUARY)) == [("/pool", Decimal(400))]
    with pytest.raises(InvalidSeatPolicy, match="does not name seat holders"):
        seat_credit_grants(counted, policy(CreditAllocation.INDIVIDUAL), JANUARY)


def test_seat_credit_policies_are_consistent() -> None:
    with pytest.raises(InvalidSeatPolicy, match="HYBRID without a pool"):
        policy(CreditAllocation.HYBRID)
    with pytest.raises(InvalidSeatPolicy, match="only a HYBRID allocation uses"):
        policy(pool_per_seat=Decimal(5))
    with pytest.raises(InvalidSeatPolicy, match="zero or more"):
        SeatCreditPolicy("p", USD, Decimal(-1))


def test_seat_credits_carry_the_policy_priority_and_products() -> None:
    (pool,) = seat_credit_grants(subscription(1), policy(priority=3, applicable_product_ids=("api",)), JANUARY)
    assert (pool.priority, pool.applicable_product_ids) == (3, ("api",))


# --- Usage against seat credits -----------------------------------------------------------------

USAGE_CASES = [
    # Two seats (ann, bob), none unassigned, $100 allowance each; a $150 charge.
    # POOLED: a $200 pool pays all of it, whoever used it.
    pytest.param(CreditAllocation.POOLED, "ann", (0, 150, 0), id="pooled-seat-holder"),
    pytest.param(CreditAllocation.POOLED, "zed", (0, 150, 0), id="pooled-user-without-seat"),
    pytest.param(CreditAllocation.POOLED, None, (0, 150, 0), id="pooled-no-seat-id"),
    # INDIVIDUAL: ann's own $100, then $50 overage; no pool, so others are all overage.
    pytest.param(CreditAllocation.INDIVIDUAL, "ann", (100, 0, 50), id="individual-seat-holder"),
    pytest.param(CreditAllocation.INDIVIDUAL, "zed", (0, 0, 150), id="individual-user-without-seat"),
    pytest.param(CreditAllocation.INDIVIDUAL, None, (0, 0, 150), id="individual-no-seat-id"),
    # HYBRID with $50 a seat pooled ($100 pool): ann's $100, then $50 from the pool; others get the pool's $100.
    pytest.param(CreditAllocation.HYBRID, "ann", (100, 50, 0), id="hybrid-seat-holder"),
    pytest.param(CreditAllocation.HYBRID, "zed", (0, 100, 50), id="hybrid-user-without-seat"),
    pytest.param(CreditAllocation.HYBRID, None, (0, 100, 50), id="hybrid-no-seat-id"),
]


@pytest.mark.parametrize(("allocation", "seat_id", "expected"), USAGE_CASES)
def test_usage_draws_on_seat_credits_by_allocation(
    allocation: CreditAllocation, seat_id: str | None, expected: tuple[int, int, int]
) -> None:
    extra = {"pool_per_seat": Decimal(50)} if allocation is CreditAllocation.HYBRID else {}
    grants = seat_credit_grants(subscription(2, "ann", "bob"), policy(allocation, **extra), JANUARY)
    usage = Charge("u", "c", "api", utc(2026, 1, 10), Decimal(150), USD, seat_id=seat_id)
    outcome = burn_down([usage], grants).outcome("u")
    from_seat = sum((d.amount for d in outcome.deductions if d.scope is GrantScope.SEAT), Decimal(0))
    from_pool = sum((d.amount for d in outcome.deductions if d.scope is GrantScope.CONTRACT), Decimal(0))
    assert (from_seat, from_pool, outcome.overage) == tuple(Decimal(x) for x in expected)


# --- Per-seat balances --------------------------------------------------------------------------


def test_per_seat_balances_for_the_admin_and_for_each_member() -> None:
    grants = seat_credit_grants(subscription(3, "ann", "bob"), policy(CreditAllocation.INDIVIDUAL), JANUARY)
    charges = [
        Charge("a1", "c", "api", utc(2026, 1, 10), Decimal(130), USD, seat_id="ann"),
        Charge("z1", "c", "api", utc(2026, 1, 12), Decimal(20), USD, seat_id="zed"),
    ]
    ledger = burn_down(charges, grants, as_of=FEB_1).new_entries
    admin = seat_balances("c", grants, ledger, as_of=utc(2026, 1, 31))
    # ann: $100 granted, all used, plus $30 from the pool (the unassigned seat's $100).
    # bob: $100 granted, untouched. zed holds no seat: $20 drawn from the pool.
    assert [(b.seat_id, b.granted, b.used, b.remaining, b.drawn_from_pool) for b in admin] == [
        ("ann", Decimal(100), Decimal(100), Decimal(0), Decimal(30)),
        ("bob", Decimal(100), Decimal(0), Decimal(100), Decimal(0)),
        ("zed", Decimal(0), Decimal(0), Decimal(0), Decimal(20)),
    ]
    (ann,) = seat_balances("c", grants, ledger, as_of=utc(2026, 1, 9), seat_id="ann")
    assert (ann.granted, ann.used, ann.remaining) == (Decimal(100), Decimal(0), Decimal(100))
    (bob,) = seat_balances("c", grants, ledger, seat_id="bob")
    # After the expiry on 1 February, bob's unused $100 has expired.
    assert (bob.expired, bob.remaining, bob.adjusted) == (Decimal(100), Decimal(0), Decimal(0))
    assert seat_balances("other", grants, ledger) == ()
