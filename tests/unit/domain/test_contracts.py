"""Contracts: validation with errors that say what to fix, terms over time, billing calendars."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from portal.domain.contracts import Contract, FixedFee, Terms, TermsChange
from portal.domain.errors import InvalidContract
from portal.domain.grants import Grant, GrantKind
from portal.domain.metrics import Aggregation, BillableMetric
from portal.domain.money import currency, custom_credit, fiat
from portal.domain.periods import Frequency, Period, utc
from portal.domain.pricing import Flat, Override, Product, ProductKind, Rate, RateCard
from portal.domain.seats import (
    CreditAllocation,
    SeatCreditPolicy,
    SeatPricing,
    SeatState,
    SeatSubscription,
    SubscriptionMode,
)

USD = fiat("USD")
EUR = fiat("EUR")
AI = custom_credit("ai", "AI credits", "USD", "0.01")
JAN_1 = utc(2026, 1, 1)
CREDITS = BillableMetric("credits", "AI credits", "ai_call", Aggregation.SUM, "credits", group_keys=("user_id",))
AI_USAGE = Product("ai", "AI usage", ProductKind.USAGE, metric_id="credits")
SEAT = Product("seat", "Seat", ProductKind.SUBSCRIPTION)
PLATFORM = Product("platform", "Platform fee", ProductKind.FIXED)
CARD = RateCard(
    "rc",
    "Team",
    (Rate("ai", JAN_1, None, Flat(Decimal(1)), AI), Rate("platform", JAN_1, None, Flat(Decimal(100)), USD)),
)
TEAM = Terms(
    "team",
    CARD,
    seat_pricing=SeatPricing(Decimal(40), USD),
    seat_credits=SeatCreditPolicy("team-credits", AI, Decimal(2000)),
    rank=2,
)
BEST = replace(TEAM, name="best", seat_pricing=SeatPricing(Decimal(60), USD), rank=3)


def seats(*holders: str, quantity: int = 3, mode: SubscriptionMode = SubscriptionMode.SEAT_BASED) -> SeatSubscription:
    return SeatSubscription("sub", "c1", "seat", mode, JAN_1, SeatState(quantity, holders))


def contract(**fields: Any) -> Contract:
    """A valid seat-based team contract of customer cus-1 starting 1 January 2026, changed by ``fields``."""
    values: dict[str, Any] = {
        "id": "c1",
        "customer_id": "cus-1",
        "currency": currency("USD"),
        "starting_at": JAN_1,
        "terms": TEAM,
        "products": (AI_USAGE, SEAT, PLATFORM),
        "metrics": (CREDITS,),
        "seats": seats("ann", "bob"),
        "seat_key": "user_id",
    }
    values.update(fields)
    return Contract(**values)


def test_a_valid_contract_keeps_its_parts() -> None:
    c = contract()
    assert (c.terms_at(utc(2026, 3, 5)), c.usage_products(), c.product("seat")) == (TEAM, (AI_USAGE,), SEAT)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"metrics": ()}, "bills metric credits, which contract c1 does not have: add the metric"),
        ({"seats": None}, "has no seat subscription: add one, or remove the seat price"),
        ({"terms": replace(TEAM, seat_pricing=None)}, "have no seat price: give one \\(zero for free seats\\)"),
        ({"starting_at": utc(2026, 1, 1, 9, 30)}, "start it on a whole hour"),
        ({"ending_before": utc(2026, 2, 15)}, "inside a billing period: end it where a period ends"),
        ({"ending_before": utc(2025, 12, 1)}, "ends .* before it starts"),
        ({"id": ""}, "needs its own id"),
        ({"products": (AI_USAGE, SEAT, PLATFORM, SEAT)}, "lists product seat twice"),
        ({"metrics": (CREDITS, CREDITS)}, "lists a metric twice"),
        ({"products": (AI_USAGE, PLATFORM)}, "seat subscription bills product seat, which is not a SUBSCRIPTION"),
        (
            {"terms": replace(TEAM, fixed_fees=(FixedFee("seat"),))},
            "fixed fee of 'team' bills product seat, which is not a FIXED product",
        ),
        ({"seat_key": "team"}, "seat key 'team' is not a group key of any metric"),
    ],
)
def test_contracts_that_do_not_fit_together_are_refused_with_what_to_fix(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidContract, match=message):
        contract(**fields)


def test_a_rate_in_another_currency_is_refused() -> None:
    euro_card = RateCard("eu", "EU", (Rate("ai", JAN_1, None, Flat(Decimal(1)), EUR),))
    with pytest.raises(InvalidContract, match=r"bills in USD, but its rate for ai is in EUR .*price everything in USD"):
        contract(terms=replace(TEAM, rate_card=euro_card))


def test_an_override_grant_or_seat_price_in_another_currency_is_refused() -> None:
    euro_override = Override.overwrite("ai", JAN_1, None, Flat(Decimal(1)), credit_type=EUR)
    with pytest.raises(InvalidContract, match="its override for ai is in EUR"):
        contract(terms=replace(TEAM, overrides=(euro_override,)))
    with pytest.raises(InvalidContract, match="its seat price is in EUR"):
        contract(terms=replace(TEAM, seat_pricing=SeatPricing(Decimal(40), EUR)))
    grant = Grant("g", "c1", GrantKind.CREDIT, EUR, Decimal(5), JAN_1)
    with pytest.raises(InvalidContract, match="its grant g is in EUR"):
        contract(grants=(grant,))


def test_seat_credits_for_each_seat_need_named_seats_and_a_seat_key() -> None:
    individual = replace(
        TEAM, seat_credits=SeatCreditPolicy("p", AI, Decimal(10), CreditAllocation.INDIVIDUAL), name="solo"
    )
    with pytest.raises(InvalidContract, match="must be named: make the subscription SEAT_BASED"):
        contract(terms=individual, seats=seats(mode=SubscriptionMode.QUANTITY_ONLY))
    with pytest.raises(InvalidContract, match="set the contract's seat key"):
        contract(terms=individual, seat_key=None)


def test_grants_and_seats_of_another_contract_are_refused() -> None:
    with pytest.raises(InvalidContract, match="Grants g belong to another contract"):
        contract(grants=(Grant("g", "c2", GrantKind.CREDIT, AI, Decimal(5), JAN_1),))
    with pytest.raises(InvalidContract, match="belongs to contract c2, not c1"):
        contract(seats=replace(seats(), contract_id="c2"))


def test_terms_change_at_an_instant_and_split_a_period() -> None:
    switch = utc(2026, 1, 16, 14, 20)
    c = contract(changes=(TermsChange(switch, BEST),))
    january = c.billing_period(0)
    assert (c.terms_at(utc(2026, 1, 16, 14, 19)), c.terms_at(switch)) == (TEAM, BEST)
    assert c.terms_in(january) == (
        (Period(JAN_1, switch), TEAM),
        (Period(switch, utc(2026, 2, 1)), BEST),
    )
    assert c.all_terms() == (TEAM, BEST)


def test_terms_changes_come_in_time_order_within_the_contract() -> None:
    with pytest.raises(InvalidContract, match="does not come after"):
        contract(changes=(TermsChange(utc(2026, 2, 1), BEST), TermsChange(utc(2026, 1, 20), TEAM)))
    with pytest.raises(InvalidContract, match="is after contract c1 ends"):
        contract(ending_before=utc(2026, 3, 1), changes=(TermsChange(utc(2026, 3, 5), BEST),))


def test_with_terms_from_replaces_later_changes_and_the_start() -> None:
    c = contract(changes=(TermsChange(utc(2026, 3, 1), BEST),))
    moved = c.with_terms_from(utc(2026, 2, 1), BEST)
    assert [ch.at for ch in moved.changes] == [utc(2026, 2, 1)]
    assert c.with_terms_from(JAN_1, BEST).all_terms() == (BEST,)


def test_billing_periods_are_anchored_on_the_start_day() -> None:
    # Starting on 31 January: the last day of shorter months, back to the 31st when the month has one.
    c = contract(starting_at=utc(2026, 1, 31))
    assert [c.billing_period(i).label() for i in range(3)] == [
        "2026-01-31 to 2026-02-28",
        "2026-02-28 to 2026-03-31",
        "2026-03-31 to 2026-04-30",
    ]
    assert c.billing_period_containing(utc(2026, 3, 15)) == c.billing_period(1)
    assert c.is_billing_period(c.billing_period(1))
    assert not c.is_billing_period(Period(utc(2026, 3, 1), utc(2026, 4, 1)))
    quarterly = contract(starting_at=utc(2026, 1, 29), frequency=Frequency.QUARTERLY)
    assert quarterly.billing_period(0).label() == "2026-01-29 to 2026-04-29"


def test_a_contract_is_active_from_its_start_until_its_end() -> None:
    c = contract(ending_before=utc(2026, 3, 1))
    assert c.active_in(c.billing_period(1))
    assert not c.active_in(c.billing_period(2))
    assert not c.active_in(Period(utc(2025, 11, 1), utc(2025, 12, 1)))


def test_a_fixed_fee_needs_a_positive_quantity() -> None:
    with pytest.raises(InvalidContract, match="quantity 0: use more than zero"):
        FixedFee("platform", Decimal(0))


def test_an_unknown_product_is_named() -> None:
    with pytest.raises(InvalidContract, match="has no product nope"):
        contract().product("nope")
