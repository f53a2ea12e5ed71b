"""Property tests of invoices: conservation, no negative balance, order independence, no double billing,
and the same invoice from raw events and from hourly rollups."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain.contracts import Contract, Terms
from portal.domain.grants import Grant, GrantKind, GrantScope
from portal.domain.hierarchy import NO_HIERARCHY, BudgetCap, CapBehaviour, ChildContract, Hierarchy, Payer
from portal.domain.invoicing import InvoiceRun, aggregated_usage, draft_invoices, finalize
from portal.domain.metrics import (
    Aggregation,
    BillableMetric,
    BucketedUsage,
    RawUsage,
    UsageEvent,
    UsageSource,
    fold_events,
)
from portal.domain.money import currency, custom_credit, exact_arithmetic, fiat
from portal.domain.periods import Period, utc
from portal.domain.pricing import Flat, Product, ProductKind, Rate, RateCard, Tier, Tiered
from portal.domain.seats import (
    CreditAllocation,
    SeatCreditPolicy,
    SeatPricing,
    SeatState,
    SeatSubscription,
    SubscriptionMode,
)

USD = fiat("USD")
AI = custom_credit("ai", "AI credits", "USD", "0.01")
JAN_1 = utc(2026, 1, 1)
JANUARY = Period(JAN_1, utc(2026, 2, 1))
PEOPLE = ("ann", "bob", "cat")
CREDITS = BillableMetric(
    "credits", "AI credits", "ai_call", Aggregation.SUM, "credits", group_keys=("user_id", "model")
)
CALLS = BillableMetric("calls", "Calls", "ai_call", Aggregation.COUNT, group_keys=("user_id",))
PRODUCTS = (
    Product("ai", "AI usage", ProductKind.USAGE, metric_id="credits", presentation_group_key="model"),
    Product("calls", "Calls", ProductKind.USAGE, metric_id="calls"),
    Product("seat", "Seat", ProductKind.SUBSCRIPTION),
)
CHANGE = utc(2026, 1, 12, 7, 45)
CARD = RateCard(
    "card",
    "Card",
    (
        Rate("ai", JAN_1, CHANGE, Tiered((Tier(Decimal(3000), Decimal(1)), Tier(None, Decimal("0.8")))), AI),
        Rate("ai", CHANGE, None, Flat(Decimal("0.9")), AI),
        Rate("calls", JAN_1, None, Flat(Decimal("0.013")), USD),
    ),
)
SETTINGS = settings(max_examples=60, deadline=None)

minutes = st.integers(0, 31 * 24 * 60 - 1)


def instant(minute: int) -> object:
    return JAN_1 + timedelta(minutes=minute)


@st.composite
def grants(draw: st.DrawFn, contract_id: str, index: int, shared: bool) -> Grant:
    start = draw(st.integers(-24 * 60, 31 * 24 * 60 - 1))
    length = draw(st.one_of(st.none(), st.integers(1, 40 * 24 * 60)))
    return Grant(
        id=f"{contract_id}-g{index}",
        contract_id=contract_id,
        kind=draw(st.sampled_from(GrantKind)),
        credit_type=draw(st.sampled_from((AI, AI, USD))),
        amount=Decimal(draw(st.integers(0, 6000))),
        starting_at=JAN_1 + timedelta(minutes=start),
        ending_before=None if length is None else JAN_1 + timedelta(minutes=start + length),
        priority=draw(st.sampled_from((50, 100))),
        applicable_product_ids=draw(st.sampled_from((None, ("ai",), ("calls", "seat")))),
        scope=GrantScope.SHARED if shared else GrantScope.CONTRACT,
    )


@st.composite
def contracts(draw: st.DrawFn, contract_id: str, shared_commit: bool) -> Contract:
    allocation = draw(st.sampled_from(CreditAllocation))
    pool = Decimal(300) if allocation is CreditAllocation.HYBRID else Decimal(0)
    policy = SeatCreditPolicy("p", AI, Decimal(draw(st.sampled_from((0, 500, 2000)))), allocation, pool_per_seat=pool)
    holders = draw(st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=3, unique=True))
    seats = SeatSubscription(
        f"sub-{contract_id}",
        contract_id,
        "seat",
        SubscriptionMode.SEAT_BASED,
        JAN_1,
        SeatState(len(holders) + draw(st.integers(0, 1)), tuple(holders)),
    )
    newcomer = next((p for p in PEOPLE if p not in holders), None)
    if newcomer is not None and draw(st.booleans()):
        seats = seats.add_seat_ids(instant(draw(minutes)), newcomer)  # type: ignore[arg-type]
    own = [draw(grants(contract_id, i, False)) for i in range(draw(st.integers(0, 2)))]
    if shared_commit:
        own.append(draw(grants(contract_id, 9, True)))
    return Contract(
        id=contract_id,
        customer_id=f"cus-{contract_id}",
        currency=currency("USD"),
        starting_at=JAN_1,
        terms=Terms("t", CARD, seat_pricing=SeatPricing(Decimal(25), USD), seat_credits=policy),
        products=PRODUCTS,
        metrics=(CREDITS, CALLS),
        seats=seats,
        grants=tuple(own),
        seat_key="user_id",
    )


@st.composite
def events(draw: st.DrawFn, contract_id: str) -> list[UsageEvent]:
    rows = draw(
        st.lists(
            st.tuples(
                minutes,
                st.sampled_from((*PEOPLE, "guest", None)),
                st.sampled_from(("fast", "smart")),
                st.one_of(st.integers(0, 2500).map(str), st.just("oops")),
            ),
            max_size=25,
        )
    )
    result = []
    for n, (minute, user, model, credits) in enumerate(rows):
        props = {"credits": credits, "model": model}
        if user is not None:
            props["user_id"] = user
        result.append(UsageEvent(f"{contract_id}-{n}", f"cus-{contract_id}", "ai_call", instant(minute), props))  # type: ignore[arg-type]
    return result


@dataclass(frozen=True)
class Scenario:
    """A family (one contract; a parent and a child; or a parent, a child and a grandchild) and each contract's
    events."""

    contracts: tuple[Contract, ...]
    hierarchy: Hierarchy
    events: dict[str, list[UsageEvent]]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    if not draw(st.booleans()):
        solo = draw(contracts("solo", False))
        return Scenario((solo,), NO_HIERARCHY, {"solo": draw(events("solo"))})
    deep = draw(st.booleans())  # three levels: the kid has a grandkid and a shared commit of its own
    parent = draw(contracts("parent", True))
    child = draw(contracts("kid", deep))
    members = ("kid", "grandkid") if deep else ("kid",)
    caps = tuple(
        BudgetCap(kid, AI, Decimal(draw(st.integers(0, 4000))), JAN_1, behaviour=draw(st.sampled_from(CapBehaviour)))
        for kid in members
    )
    relations = (ChildContract("kid", "parent", draw(st.sampled_from(Payer))),)
    family = (parent, child)
    if deep:
        relations += (ChildContract("grandkid", "kid", draw(st.sampled_from(Payer))),)
        family += (draw(contracts("grandkid", False)),)
    return Scenario(family, Hierarchy(relations, caps), {c.id: draw(events(c.id)) for c in family})


def run(scenario: Scenario, usage: dict[str, UsageSource] | None = None, **kwargs: object) -> InvoiceRun:
    raw: dict[str, UsageSource] = {cid: RawUsage(tuple(evs)) for cid, evs in scenario.events.items()}
    return draft_invoices(
        scenario.contracts,
        JANUARY,
        usage if usage is not None else raw,
        as_of=JANUARY.end,
        hierarchy=scenario.hierarchy,
        **kwargs,  # type: ignore[arg-type]
    )


@SETTINGS
@given(scenarios())
def test_every_charge_is_drawn_blocked_or_due_to_the_last_digit(scenario: Scenario) -> None:
    result = run(scenario)
    for invoice in result.invoices:
        assert invoice.subtotal_minor == invoice.grants_applied_minor + invoice.blocked_minor + invoice.total_due_minor
        for line in invoice.lines:
            assert line.amount_minor == line.grants_minor + line.blocked_minor + line.due_minor
            assert sum(g.amount_minor for g in line.grants) == line.grants_minor
            if line.groups:
                assert sum(g.amount_minor for g in line.groups) == line.amount_minor
            if line.charge_ids:
                with exact_arithmetic():
                    drawn = sum((g.units for g in line.grants), Decimal(0))
                    assert line.units == drawn + line.overage_units + line.blocked_units
            assert line.due_minor >= 0 or line.units < 0


@SETTINGS
@given(scenarios())
def test_no_balance_goes_below_zero(scenario: Scenario) -> None:
    result = run(scenario)
    assert all(b.amount >= 0 for b in result.burn_down.closing_balances)
    with exact_arithmetic():
        totals: dict[str, Decimal] = {}
        for entry in sorted(result.ledger_entries, key=lambda e: (e.at, e.kind.value != "grant_start")):
            totals[entry.grant_id] = totals.get(entry.grant_id, Decimal(0)) + entry.amount
            assert totals[entry.grant_id] >= 0


@SETTINGS
@given(scenarios(), st.randoms(use_true_random=False))
def test_the_invoices_do_not_depend_on_the_order_events_arrive_in(scenario: Scenario, rnd: random.Random) -> None:
    shuffled = {cid: rnd.sample(evs, len(evs)) for cid, evs in scenario.events.items()}
    again = run(Scenario(scenario.contracts, scenario.hierarchy, shuffled))
    first = run(scenario)
    assert again.invoices == first.invoices
    assert again.ledger_entries == first.ledger_entries


@SETTINGS
@given(scenarios())
def test_re_rating_with_the_finalized_invoices_adds_nothing(scenario: Scenario) -> None:
    first = run(scenario)
    finalized = [finalize(invoice, JANUARY.end) for invoice in first.invoices]
    again = run(scenario, finalized=finalized, ledger=first.ledger_entries)
    assert all(invoice.is_empty for invoice in again.invoices)
    assert again.ledger_entries == ()
    without_ledger = run(scenario, finalized=finalized)
    assert all(invoice.is_empty for invoice in without_ledger.invoices)


@SETTINGS
@given(scenarios())
def test_raw_events_and_hourly_rollups_give_the_same_invoices(scenario: Scenario) -> None:
    all_events = [e for evs in scenario.events.values() for e in evs]
    folded = fold_events((CREDITS, CALLS), all_events)
    rollups: dict[str, UsageSource] = {c.id: BucketedUsage(folded.buckets(c.customer_id)) for c in scenario.contracts}
    from_events = run(scenario)
    from_rollups = run(scenario, usage=rollups)
    assert from_rollups.invoices == from_events.invoices
    assert from_rollups.ledger_entries == from_events.ledger_entries


@SETTINGS
@given(scenarios())
def test_usage_aggregated_once_over_the_drafts_windows_gives_the_same_invoices(scenario: Scenario) -> None:
    rollups = hourly_rollups(scenario)
    kept = aggregated_usage(scenario.contracts, JANUARY, rollups, hierarchy=scenario.hierarchy)
    from_rollups = run(scenario, usage=rollups)
    from_aggregated = run(scenario, usage=dict(kept))
    assert from_aggregated.invoices == from_rollups.invoices
    assert from_aggregated.ledger_entries == from_rollups.ledger_entries
    assert from_aggregated.burn_down == from_rollups.burn_down


def hourly_rollups(scenario: Scenario) -> dict[str, UsageSource]:
    """Each contract's events folded into hourly rollups, as ingest stores them."""
    folded = fold_events((CREDITS, CALLS), [e for evs in scenario.events.values() for e in evs])
    return {c.id: BucketedUsage(folded.buckets(c.customer_id)) for c in scenario.contracts}
