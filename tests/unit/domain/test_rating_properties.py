"""Property tests for aggregation, pricing and rating invariants."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain.metrics import (
    Aggregation,
    AggregationState,
    BillableMetric,
    CountState,
    LatestState,
    MaxState,
    SumState,
    UniqueState,
    UsageEvent,
    aggregate,
    merge,
)
from portal.domain.money import fiat
from portal.domain.periods import Period, utc
from portal.domain.pricing import (
    ConversionOperation,
    Flat,
    Package,
    PriceModel,
    Product,
    ProductKind,
    QuantityConversion,
    QuantityRounding,
    Rate,
    RateCard,
    RoundingMode,
    Tier,
    Tiered,
    Volume,
    rate_segments,
)
from portal.domain.rating import ProductRating, rate_usage, windows_for

FAST = settings(max_examples=150, deadline=None)
JAN = Period(utc(2026, 1, 1), utc(2026, 2, 1))
USD = fiat("USD")

amounts = st.decimals(min_value=0, max_value=1000, places=2, allow_nan=False, allow_infinity=False)
quantities = st.decimals(min_value=0, max_value=100_000, places=3, allow_nan=False, allow_infinity=False)


@st.composite
def tiers(draw: st.DrawFn) -> tuple[Tier, ...]:
    bounds = sorted(draw(st.sets(st.integers(1, 5000), max_size=3)))
    bounded = [Tier(Decimal(b), draw(amounts), draw(amounts)) for b in bounds]
    return (*bounded, Tier(None, draw(amounts), draw(amounts)))


price_models: st.SearchStrategy[PriceModel] = st.one_of(
    st.builds(Flat, amounts),
    st.builds(Tiered, tiers()),
    st.builds(Volume, tiers()),
    st.builds(Package, st.integers(1, 500).map(Decimal), amounts),
)


@st.composite
def usage_events(draw: st.DrawFn) -> list[UsageEvent]:
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(0, 31 * 24 - 1),
                st.sampled_from(["u1", "u2", "u3", None]),
                st.sampled_from(["gpt", "claude"]),
                st.one_of(amounts.map(str), st.just("oops")),
            ),
            max_size=40,
        )
    )
    events = []
    for i, (hour, user, model, value) in enumerate(rows):
        props = {"value": value, "model": model}
        if user is not None:
            props["user_id"] = user
        events.append(UsageEvent(f"t{i:03}", "c1", "use", JAN.start + timedelta(hours=hour), props))
    return events


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[list[UsageEvent], BillableMetric, Product, RateCard, list[datetime], str | None]:
    kind = draw(st.sampled_from(list(Aggregation)))
    key = None if kind is Aggregation.COUNT else "user_id" if kind is Aggregation.UNIQUE else "value"
    metric = BillableMetric("m", "M", "use", kind, key, group_keys=("user_id", "model"))
    conversion = draw(
        st.one_of(
            st.none(),
            st.builds(
                QuantityConversion,
                st.sampled_from([Decimal(10), Decimal("0.5"), Decimal(3)]),
                st.sampled_from(list(ConversionOperation)),
            ),
        )
    )
    rounding = draw(
        st.one_of(st.none(), st.builds(QuantityRounding, st.sampled_from(list(RoundingMode)), st.integers(0, 2)))
    )
    group_role = draw(st.sampled_from(["none", "pricing", "presentation"]))
    prod = Product(
        "p",
        "P",
        ProductKind.USAGE,
        metric_id="m",
        quantity_conversion=conversion,
        quantity_rounding=rounding,
        pricing_group_key="model" if group_role == "pricing" else None,
        presentation_group_key="model" if group_role == "presentation" else None,
    )
    change = draw(st.one_of(st.none(), st.integers(2, 30)))
    rates: tuple[Rate, ...]
    if change is None:
        rates = (Rate("p", JAN.start, None, draw(price_models), USD),)
    else:
        at = utc(2026, 1, change)
        rates = (Rate("p", JAN.start, at, draw(price_models), USD), Rate("p", at, None, draw(price_models), USD))
    cuts = [utc(2026, 1, day) for day in draw(st.lists(st.integers(2, 31), max_size=4))]
    seat_key = draw(st.sampled_from([None, "user_id"]))
    return draw(usage_events()), metric, prod, RateCard("rc", "RC", rates), cuts, seat_key


def run(
    events: list[UsageEvent],
    metric: BillableMetric,
    prod: Product,
    card: RateCard,
    cuts: list[datetime],
    seat_key: str | None,
) -> ProductRating:
    segments = rate_segments(card, (), prod.id, JAN)
    windows = windows_for(JAN, segments, cuts)
    return rate_usage("c1", prod, segments, aggregate(metric, events, windows), seat_key=seat_key)


@FAST
@given(scenarios(), st.randoms(use_true_random=False))
def test_charges_of_each_line_sum_exactly_to_its_price_in_any_order(scenario: tuple, rnd: random.Random) -> None:  # type: ignore[type-arg]
    rating = run(*scenario)
    prod: Product = scenario[2]
    counted = 0
    for line in rating.lines:
        mine = [
            c.amount
            for c in rating.charges
            if line.period.contains(c.at)
            and (prod.pricing_group_key is None or dict(c.group)[prod.pricing_group_key] == line.pricing_group)
        ]
        counted += len(mine)
        assert sum(mine, Decimal(0)) == line.result.amount
        rnd.shuffle(mine)
        assert sum(mine, Decimal(0)) == line.result.amount
        if line.presentation:
            assert sum((s.amount for s in line.presentation), Decimal(0)) == line.result.amount
    assert counted == len(rating.charges)
    assert all(c.amount > 0 for c in rating.charges)


@FAST
@given(scenarios(), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_event_order(scenario: tuple, rnd: random.Random) -> None:  # type: ignore[type-arg]
    events, *rest = scenario
    shuffled = list(events)
    rnd.shuffle(shuffled)
    first, second = run(events, *rest), run(shuffled, *rest)
    assert first.lines == second.lines
    assert first.charges == second.charges
    assert sorted(first.rejected, key=repr) == sorted(second.rejected, key=repr)


def states(kind: str) -> st.SearchStrategy[AggregationState]:
    values = st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False)
    if kind == "count":
        return st.builds(CountState, st.integers(0, 10**6))
    if kind == "sum":
        return st.builds(SumState, values)
    if kind == "max":
        return st.builds(MaxState, values)
    if kind == "latest":
        instants = st.integers(0, 100).map(lambda h: JAN.start + timedelta(hours=h))
        return st.builds(LatestState, instants, st.sampled_from("abcdef"), values)
    return st.builds(UniqueState, st.frozensets(st.sampled_from("abcdefgh")))


@FAST
@given(
    st.sampled_from(["count", "sum", "max", "latest", "unique"]).flatmap(
        lambda k: st.tuples(states(k), states(k), states(k))
    )
)
def test_merge_is_associative_and_commutative(abc: tuple[AggregationState, AggregationState, AggregationState]) -> None:
    a, b, c = abc
    assert merge(a, b) == merge(b, a)
    assert merge(merge(a, b), c) == merge(a, merge(b, c))


@FAST
@given(
    st.one_of(
        st.builds(Tiered, tiers()),
        st.builds(Flat, amounts),
        st.builds(Package, st.integers(1, 500).map(Decimal), amounts),
    ),
    quantities,
    quantities,
)
def test_tiered_flat_and_package_never_fall_as_quantity_grows(model: PriceModel, q1: Decimal, q2: Decimal) -> None:
    low, high = sorted((q1, q2))
    assert model.price(low).amount <= model.price(high).amount


@FAST
@given(price_models, quantities)
def test_breakdown_adds_up_to_amount(model: PriceModel, q: Decimal) -> None:
    result = model.price(q)
    assert sum((line.amount for line in result.breakdown), Decimal(0)) == result.amount
    assert result.amount >= 0
