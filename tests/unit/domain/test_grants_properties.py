"""Property tests of burn-down: conservation, no negative balance, caps, order independence, over hierarchies up
to three levels deep (parent -> kid -> grandkid)."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain.charges import Charge, charge_order
from portal.domain.grants import (
    BurnDownResult,
    ChildAccess,
    Grant,
    GrantKind,
    GrantScope,
    applies,
    burn_down,
    burn_down_order_key,
)
from portal.domain.hierarchy import BudgetCap, CapBehaviour, ChildContract, Hierarchy, Payer
from portal.domain.ledger import EntryKind, balances, ledger_order
from portal.domain.money import custom_credit, fiat
from portal.domain.periods import utc

USD = fiat("USD")
AI = custom_credit("ai", "AI credits", "USD", "0.002", places=3)
JAN_1 = utc(2026, 1, 1)
CONTRACTS = ("parent", "kid-a", "kid-b", "grandkid", "solo")
CHILDREN = ("kid-a", "kid-b", "grandkid")
HOLDERS = ("parent", "parent", "kid-a")  # who holds a shared grant: mostly the root, sometimes a middle level
SEATS = (None, "s1", "s2", "s3")
PRODUCTS = ("api", "chat")
ACCESSES: tuple[ChildAccess | tuple[str, ...], ...] = (
    ChildAccess.ALL,
    ChildAccess.ALL,
    ChildAccess.NONE,
    ("kid-a",),
    ("kid-b",),
    ("grandkid",),
    ("kid-a", "grandkid"),
)

amounts = st.integers(min_value=0, max_value=50_000).map(lambda cents: Decimal(cents) / 100)
cap_amounts = st.integers(min_value=0, max_value=20_000).map(lambda cents: Decimal(cents) / 100)
credit_types = st.sampled_from((USD, USD, AI))  # mostly dollars, so that grants and charges meet


@st.composite
def grants(draw: st.DrawFn, index: int) -> Grant:
    """One grant of any scope, kind, priority, products, validity and child access."""
    scope = draw(st.sampled_from((GrantScope.SEAT, GrantScope.CONTRACT, GrantScope.SHARED, GrantScope.SHARED)))
    start = JAN_1 + timedelta(days=draw(st.integers(0, 20)))
    lasts = draw(st.none() | st.integers(1, 20))
    access = draw(st.sampled_from(ACCESSES))
    return Grant(
        id=f"g{index}",
        contract_id=draw(st.sampled_from(HOLDERS if scope is GrantScope.SHARED else CONTRACTS)),
        kind=draw(st.sampled_from(GrantKind)),
        credit_type=draw(credit_types),
        amount=draw(amounts),
        starting_at=start,
        ending_before=None if lasts is None else start + timedelta(days=lasts),
        priority=draw(st.integers(0, 3)),
        applicable_product_ids=draw(st.none() | st.sampled_from((("api",), ("chat",), PRODUCTS))),
        scope=scope,
        seat_id=draw(st.sampled_from(SEATS[1:])) if scope is GrantScope.SEAT else None,
        child_access=access if scope is GrantScope.SHARED else None,
    )


@st.composite
def charges(draw: st.DrawFn, index: int) -> Charge:
    """One charge of any contract, product and seat at any hour of January."""
    return Charge(
        id=f"c{index:02d}",
        contract_id=draw(st.sampled_from((*CONTRACTS, *CHILDREN))),  # children twice as often
        product_id=draw(st.sampled_from(PRODUCTS)),
        at=JAN_1 + timedelta(hours=draw(st.integers(0, 31 * 24 - 1))),
        amount=draw(amounts),
        credit_type=draw(credit_types),
        seat_id=draw(st.sampled_from(SEATS)),
    )


@st.composite
def hierarchies(draw: st.DrawFn) -> Hierarchy:
    """Two children of ``parent`` and a grandkid under one of them (or under ``parent`` itself: two levels),
    with any payer, each maybe capped monthly from a day in January."""
    parents = {"kid-a": "parent", "kid-b": "parent", "grandkid": draw(st.sampled_from(("kid-a", "kid-b", "parent")))}
    children = tuple(ChildContract(kid, parents[kid], draw(st.sampled_from(Payer))) for kid in CHILDREN)
    caps = []
    for kid in CHILDREN:
        if draw(st.booleans()):
            caps.append(
                BudgetCap(
                    kid,
                    USD,
                    draw(cap_amounts),
                    utc(2026, 1, draw(st.integers(1, 28))),
                    behaviour=draw(st.sampled_from(CapBehaviour)),
                )
            )
    return Hierarchy(children=children, caps=tuple(caps))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Charge], list[Grant], Hierarchy]:
    """Charges, grants and a hierarchy."""
    grant_list = [draw(grants(i)) for i in range(draw(st.integers(0, 8)))]
    if draw(st.booleans()):  # often a dollar commit shared with every child, so that caps come into play
        grant_list.append(
            Grant("shared", "parent", GrantKind.COMMIT, USD, draw(amounts), JAN_1, scope=GrantScope.SHARED)
        )
    charge_list = [draw(charges(i)) for i in range(draw(st.integers(0, 15)))]
    return charge_list, grant_list, draw(hierarchies())


AS_OF = utc(2026, 3, 1)


def run(scenario: tuple[list[Charge], list[Grant], Hierarchy]) -> BurnDownResult:
    """Burn the scenario's charges down, expiring what expired by 1 March."""
    charge_list, grant_list, hierarchy = scenario
    return burn_down(charge_list, grant_list, hierarchy=hierarchy, as_of=AS_OF)


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_every_charge_is_exactly_its_deductions_plus_overage_plus_blocked(
    scenario: tuple[list[Charge], list[Grant], Hierarchy],
) -> None:
    result = run(scenario)
    assert len(result.outcomes) == len(scenario[0])
    for outcome in result.outcomes:
        assert outcome.charge.amount == outcome.covered + outcome.overage + outcome.blocked
        assert outcome.overage >= 0
        assert outcome.blocked >= 0
        assert all(d.amount > 0 for d in outcome.deductions)
        assert outcome.covered == outcome.drawn_from_own + outcome.drawn_from_shared


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_no_balance_ever_goes_below_zero(scenario: tuple[list[Charge], list[Grant], Hierarchy]) -> None:
    result = run(scenario)
    running: dict[str, Decimal] = {}
    for entry in sorted(result.new_entries, key=ledger_order):
        running[entry.grant_id] = running.get(entry.grant_id, Decimal(0)) + entry.amount
        assert running[entry.grant_id] >= 0
    assert all(b.amount >= 0 for b in result.closing_balances)
    assert balances(result.new_entries) == {b.grant_id: b.amount for b in result.closing_balances}
    # What each grant gave equals its amount minus what is left and what expired.
    for grant in scenario[1]:
        drawn = sum((d.amount for d in result.deductions if d.grant_id == grant.id), Decimal(0))
        expired = -sum(
            (e.amount for e in result.new_entries if e.grant_id == grant.id and e.kind is EntryKind.EXPIRY), Decimal(0)
        )
        assert grant.amount == drawn + expired + result.balance(grant.id)


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_deductions_come_from_applicable_grants_in_burn_down_order(
    scenario: tuple[list[Charge], list[Grant], Hierarchy],
) -> None:
    _, grant_list, hierarchy = scenario
    by_id = {g.id: g for g in grant_list}
    result = run(scenario)
    assert [o.charge for o in result.outcomes] == sorted(scenario[0], key=charge_order)
    for outcome in result.outcomes:
        charge = outcome.charge
        used = [by_id[d.grant_id] for d in outcome.deductions]
        assert all(applies(g, charge, hierarchy) for g in used)
        assert used == sorted(used, key=lambda g: burn_down_order_key(g, charge.contract_id, hierarchy))
        if outcome.blocked:  # some cap on the way up from the charge's contract blocks
            path = (charge.contract_id, *hierarchy.ancestors_of(charge.contract_id))
            caps = [hierarchy.cap_for(c, charge.credit_type) for c in path]
            assert any(cap is not None and cap.behaviour is CapBehaviour.BLOCK for cap in caps)
        assert outcome.payer_contract_id == hierarchy.payer_of(charge.contract_id)


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_children_never_draw_more_than_their_cap_in_a_period(
    scenario: tuple[list[Charge], list[Grant], Hierarchy],
) -> None:
    _, grant_list, hierarchy = scenario
    by_id = {g.id: g for g in grant_list}
    result = run(scenario)
    # A cap on X limits what X and everything under it draw, together, from the shared grants of X's ancestors.
    drawn: dict[tuple[str, str, object], Decimal] = {}
    for outcome in result.outcomes:
        charge = outcome.charge
        for capped in (charge.contract_id, *hierarchy.ancestors_of(charge.contract_id)):
            cap = hierarchy.cap_for(capped, charge.credit_type)
            if cap is None:
                continue
            key = (capped, charge.credit_type.id, cap.period_containing(charge.at))
            above = hierarchy.ancestors_of(capped)
            for deduction in outcome.deductions:
                if by_id[deduction.grant_id].contract_id in above:
                    drawn[key] = drawn.get(key, Decimal(0)) + deduction.amount
            assert drawn.get(key, Decimal(0)) <= cap.amount


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_input_order(
    scenario: tuple[list[Charge], list[Grant], Hierarchy], shuffler: random.Random
) -> None:
    charge_list, grant_list, hierarchy = scenario
    expected = run(scenario)
    shuffled_charges, shuffled_grants = list(charge_list), list(grant_list)
    shuffler.shuffle(shuffled_charges)
    shuffler.shuffle(shuffled_grants)
    reordered = Hierarchy(children=tuple(reversed(hierarchy.children)), caps=tuple(reversed(hierarchy.caps)))
    assert run((shuffled_charges, shuffled_grants, reordered)) == expected


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.integers(0, 15))
def test_burning_down_in_two_runs_equals_one_run(
    scenario: tuple[list[Charge], list[Grant], Hierarchy], split: int
) -> None:
    charge_list, grant_list, hierarchy = scenario
    ordered = sorted(charge_list, key=charge_order)
    once = burn_down(ordered, grant_list, hierarchy=hierarchy)
    first = burn_down(ordered[:split], grant_list, hierarchy=hierarchy)
    second = burn_down(ordered[split:], grant_list, first.new_entries, hierarchy)
    assert first.outcomes + second.outcomes == once.outcomes
    assert second.closing_balances == once.closing_balances
