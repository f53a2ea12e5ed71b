"""Grants, the burn-down order and the ledger: hand-computed examples of every rule."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from portal.domain.charges import Charge
from portal.domain.errors import InvalidAmount, InvalidBurnDown, InvalidGrant, InvalidLedgerEntry, InvalidPeriod
from portal.domain.grants import (
    ChildAccess,
    Grant,
    GrantKind,
    GrantScope,
    GrantSource,
    applies,
    burn_down,
    burn_down_key,
    expiry_entries,
    start_entry,
)
from portal.domain.hierarchy import ChildContract, Hierarchy
from portal.domain.ledger import EntryKind, LedgerEntry, balance, balances
from portal.domain.money import CreditType, Money, custom_credit, fiat
from portal.domain.periods import utc

USD = fiat("USD")
JPY = fiat("JPY")
AI = custom_credit("ai", "AI credits", "USD", "0.01")
JAN_1 = utc(2026, 1, 1)
FEB_1 = utc(2026, 2, 1)


def grant(grant_id: str, amount: object = "100", **fields: Any) -> Grant:
    """A contract credit on contract ``c`` from 1 January, in USD, unless told otherwise."""
    defaults: dict[str, Any] = {
        "contract_id": "c",
        "kind": GrantKind.CREDIT,
        "credit_type": USD,
        "starting_at": JAN_1,
    }
    defaults.update(fields)
    return Grant(id=grant_id, amount=Decimal(str(amount)), **defaults)


def charge(charge_id: str, amount: object, at: datetime | None = None, **fields: Any) -> Charge:
    """A USD charge of contract ``c`` for product ``api`` on 10 January, unless told otherwise."""
    defaults: dict[str, Any] = {"contract_id": "c", "product_id": "api", "credit_type": USD}
    defaults.update(fields)
    return Charge(id=charge_id, at=at or utc(2026, 1, 10), amount=Decimal(str(amount)), **defaults)


# --- Grant validation ---------------------------------------------------------------------------


def test_a_grant_amount_cannot_be_negative() -> None:
    with pytest.raises(InvalidGrant, match="zero or more"):
        grant("g", "-1")


def test_a_grant_amount_cannot_be_a_float() -> None:
    with pytest.raises(InvalidAmount, match="not float"):
        Grant("g", "c", GrantKind.CREDIT, USD, 1.5, JAN_1)  # type: ignore[arg-type]


def test_a_grant_must_expire_after_it_starts() -> None:
    with pytest.raises(InvalidGrant, match=r"expires .* before it starts"):
        grant("g", ending_before=JAN_1)


def test_grant_times_must_be_utc() -> None:
    with pytest.raises(InvalidPeriod, match="no timezone"):
        grant("g", starting_at=datetime(2026, 1, 1))  # a naive datetime, on purpose


def test_a_seat_grant_needs_its_seat_and_only_seat_grants_name_one() -> None:
    with pytest.raises(InvalidGrant, match="give the seat id"):
        grant("g", scope=GrantScope.SEAT)
    with pytest.raises(InvalidGrant, match="use the SEAT scope"):
        grant("g", seat_id="alice")


def test_child_access_is_only_for_shared_grants_and_never_an_empty_list() -> None:
    with pytest.raises(InvalidGrant, match="only a SHARED grant"):
        grant("g", child_access=ChildAccess.ALL)
    with pytest.raises(InvalidGrant, match=r"ChildAccess\.NONE"):
        grant("g", scope=GrantScope.SHARED, child_access=())


def test_an_empty_product_list_is_refused_because_it_could_pay_for_nothing() -> None:
    with pytest.raises(InvalidGrant, match="for all products"):
        grant("g", applicable_product_ids=())


def test_a_priority_is_a_whole_number() -> None:
    with pytest.raises(InvalidGrant, match="whole number"):
        grant("g", priority=True)


def test_a_shared_grant_is_open_to_all_children_by_default_and_lists_are_sorted() -> None:
    shared = grant("g", scope=GrantScope.SHARED, applicable_product_ids=("b", "a", "b"))
    assert shared.child_access is ChildAccess.ALL
    assert shared.applicable_product_ids == ("a", "b")
    listed = grant("h", scope=GrantScope.SHARED, child_access=("kid-2", "kid-1"))
    assert listed.child_access == ("kid-1", "kid-2")


# --- When a grant applies -----------------------------------------------------------------------


def test_a_grant_pays_only_for_charges_in_its_credit_type() -> None:
    assert applies(grant("g"), charge("x", 1))
    assert not applies(grant("g"), charge("x", 1, credit_type=AI))


def test_a_grant_is_active_from_its_start_until_just_before_its_expiry() -> None:
    g = grant("g", starting_at=utc(2026, 1, 5), ending_before=utc(2026, 1, 15))
    assert not applies(g, charge("x", 1, at=utc(2026, 1, 4, 23, 59, 59)))
    assert applies(g, charge("x", 1, at=utc(2026, 1, 5)))
    assert applies(g, charge("x", 1, at=utc(2026, 1, 14, 23, 59, 59)))
    assert not applies(g, charge("x", 1, at=utc(2026, 1, 15)))


def test_a_grant_pays_only_for_its_products() -> None:
    g = grant("g", applicable_product_ids=("api",))
    assert applies(g, charge("x", 1, product_id="api"))
    assert not applies(g, charge("x", 1, product_id="storage"))


def test_a_seat_grant_pays_only_for_its_seat_in_its_contract() -> None:
    g = grant("g", scope=GrantScope.SEAT, seat_id="alice")
    assert applies(g, charge("x", 1, seat_id="alice"))
    assert not applies(g, charge("x", 1, seat_id="bob"))
    assert not applies(g, charge("x", 1))
    assert not applies(g, charge("x", 1, seat_id="alice", contract_id="other"))


def test_a_contract_grant_pays_for_any_charge_of_its_contract_only() -> None:
    assert applies(grant("g"), charge("x", 1, seat_id="alice"))
    assert not applies(grant("g"), charge("x", 1, contract_id="other"))


def test_a_shared_grant_pays_for_its_parent_and_the_children_its_access_admits() -> None:
    family = Hierarchy(children=(ChildContract("kid-1", "c"), ChildContract("kid-2", "c"), ChildContract("x", "d")))
    everyone = grant("g", scope=GrantScope.SHARED)
    nobody = grant("g", scope=GrantScope.SHARED, child_access=ChildAccess.NONE)
    only_kid_1 = grant("g", scope=GrantScope.SHARED, child_access=("kid-1",))
    assert applies(nobody, charge("x", 1), family)  # the parent's own charge
    assert applies(everyone, charge("x", 1, contract_id="kid-2"), family)
    assert not applies(nobody, charge("x", 1, contract_id="kid-1"), family)
    assert applies(only_kid_1, charge("x", 1, contract_id="kid-1"), family)
    assert not applies(only_kid_1, charge("x", 1, contract_id="kid-2"), family)
    assert not applies(everyone, charge("x", 1, contract_id="x"), family)  # another parent's child
    assert not applies(everyone, charge("x", 1, contract_id="kid-1"))  # no hierarchy given


# --- Burn-down order: one case per criterion ----------------------------------------------------


ORDER_CASES = [
    pytest.param(
        {"scope": GrantScope.SEAT, "seat_id": "alice", "priority": 9},
        {"priority": 1},
        "seat grant before contract grant",
        id="1-narrowest-scope-wins-over-priority",
    ),
    pytest.param({"priority": 1}, {"priority": 2}, "priority 1 before 2", id="2-lower-priority"),
    pytest.param(
        {"kind": GrantKind.CREDIT, "applicable_product_ids": None},
        {"kind": GrantKind.COMMIT, "applicable_product_ids": ("api",)},
        "free credit before paid commit",
        id="3-free-credit-before-commit",
    ),
    pytest.param(
        {"applicable_product_ids": ("api", "chat"), "ending_before": utc(2026, 3, 1)},
        {"applicable_product_ids": None, "ending_before": utc(2026, 2, 1)},
        "2 products before all products",
        id="4-fewer-products",
    ),
    pytest.param(
        {"ending_before": utc(2026, 2, 1), "starting_at": utc(2026, 1, 2)},
        {"ending_before": None},
        "expires 2026-02-01 00:00:00 UTC before never expires",
        id="5-earliest-expiry",
    ),
    pytest.param(
        {"starting_at": utc(2026, 1, 1)},
        {"starting_at": utc(2026, 1, 2)},
        "started 2026-01-01 00:00:00 UTC before 2026-01-02 00:00:00 UTC",
        id="6-earliest-start",
    ),
    pytest.param({}, {}, "grant id g-first before g-second", id="7-grant-id"),
]


@pytest.mark.parametrize(("first", "second", "reason"), ORDER_CASES)
def test_each_burn_down_criterion_decides_when_the_earlier_ones_tie(
    first: dict[str, Any], second: dict[str, Any], reason: str
) -> None:
    # Ids that sort against the expected order, except in the last case where the id decides.
    first_id, second_id = ("g-first", "g-second") if not first else ("z-first", "a-second")
    a = grant(first_id, "10", **first)
    b = grant(second_id, "10", **second)
    result = burn_down([charge("x", "4", seat_id="alice")], [b, a])
    # 4 is drawn from the first grant alone: 10 - 4 = 6 left on it, 10 on the other.
    (deduction,) = result.deductions
    assert deduction.grant_id == first_id
    assert deduction.amount == Decimal(4)
    assert deduction.explanation == f"#1 of 2 applicable grants: {reason} ({second_id})"
    assert result.balance(first_id) == Decimal(6)
    assert result.balance(second_id) == Decimal(10)


def test_the_burn_down_key_sorts_grants_in_the_published_order() -> None:
    family = Hierarchy(children=(ChildContract("c", "parent"),))
    grants = [
        grant("9-id-b", starting_at=utc(2026, 1, 2)),
        grant("8-shared", contract_id="parent", scope=GrantScope.SHARED, priority=0),
        grant("7-id-a", starting_at=utc(2026, 1, 2)),
        grant("6-early-start"),
        grant("5-expiring", ending_before=utc(2026, 3, 1)),
        grant("4-one-product", applicable_product_ids=("api",)),
        grant("3-commit-prio-1", kind=GrantKind.COMMIT, priority=1),
        grant("2-credit-prio-1", priority=1),
        grant("1-seat", scope=GrantScope.SEAT, seat_id="alice", priority=500),
    ]
    ordered = sorted(grants, key=burn_down_key)
    assert [g.id for g in ordered] == [
        "1-seat",
        "2-credit-prio-1",
        "3-commit-prio-1",
        "4-one-product",
        "5-expiring",
        "6-early-start",
        "7-id-a",
        "9-id-b",
        "8-shared",
    ]
    assert all(applies(g, charge("x", 1, seat_id="alice"), family) for g in grants)


# --- Burn-down ----------------------------------------------------------------------------------


def test_one_charge_is_split_across_three_grants() -> None:
    seat = grant("seat", "30", scope=GrantScope.SEAT, seat_id="alice")
    credit = grant("credit", "50", priority=1)
    commit = grant("commit", "40", kind=GrantKind.COMMIT, priority=2)
    result = burn_down([charge("x", "100", seat_id="alice")], [commit, credit, seat])
    # 100 = 30 (seat, used up) + 50 (credit, used up) + 20 (commit: 40 - 20 = 20 left), no overage.
    assert [(d.grant_id, d.amount) for d in result.deductions] == [
        ("seat", Decimal(30)),
        ("credit", Decimal(50)),
        ("commit", Decimal(20)),
    ]
    assert [d.explanation for d in result.deductions] == [
        "#1 of 3 applicable grants: seat grant before contract grant (credit, commit)",
        "#2 of 3 applicable grants, drawn after seat ran out: priority 1 before 2 (commit)",
        "#3 of 3 applicable grants, drawn after seat, credit ran out; last in burn-down order",
    ]
    outcome = result.outcome("x")
    assert (outcome.covered, outcome.overage, outcome.blocked) == (Decimal(100), Decimal(0), Decimal(0))
    assert [(b.grant_id, b.amount) for b in result.closing_balances] == [
        ("commit", Decimal(20)),
        ("credit", Decimal(0)),
        ("seat", Decimal(0)),
    ]
    usage = [(e.grant_id, e.amount, e.reference) for e in result.new_entries if e.kind is EntryKind.USAGE]
    assert sorted(usage) == [("commit", Decimal(-20), "x"), ("credit", Decimal(-50), "x"), ("seat", Decimal(-30), "x")]


def test_what_no_grant_covers_is_overage_billed_to_the_contract() -> None:
    result = burn_down([charge("x", "130"), charge("y", "5", product_id="storage")], [grant("g", "100")])
    # x: 100 from g, 130 - 100 = 30 overage. y: g is used up, so all 5 is overage.
    assert result.outcome("x").overage == Decimal(30)
    assert result.outcome("x").explanation == "the applicable grants ran out: the rest is billed to c"
    assert result.outcome("y").overage == Decimal(5)
    assert result.outcome("y").payer_contract_id == "c"
    (total,) = result.overage_by_payer()
    assert (total.payer_contract_id, total.amount, total.money) == ("c", Decimal(35), Money.of("35", "USD"))


def test_a_charge_no_grant_applies_to_is_all_overage_and_says_so() -> None:
    result = burn_down([charge("x", "7")], [grant("g", applicable_product_ids=("chat",))])
    assert result.outcome("x").overage == Decimal(7)
    assert result.outcome("x").explanation == "no grant applies to this charge: the rest is billed to c"


def test_a_single_applicable_grant_says_it_was_the_only_one() -> None:
    result = burn_down([charge("x", "1")], [grant("g")])
    assert result.deductions[0].explanation == "the only grant that applies to this charge"


def test_charges_are_drawn_in_time_order_whatever_order_they_arrive_in() -> None:
    late = charge("a-late", "80", at=utc(2026, 1, 20))
    early = charge("z-early", "80", at=utc(2026, 1, 5))
    result = burn_down([late, early], [grant("g", "100")])
    # The 5 January charge comes first and takes 80; the 20 January one gets the last 20, 60 overage.
    assert [o.charge.id for o in result.outcomes] == ["z-early", "a-late"]
    assert result.outcome("z-early").covered == Decimal(80)
    assert result.outcome("a-late").overage == Decimal(60)


def test_a_zero_charge_draws_nothing() -> None:
    result = burn_down([charge("x", "0")], [grant("g")])
    assert result.deductions == ()
    assert result.outcome("x").explanation == "nothing to pay"


def test_a_credit_that_expires_mid_period_cannot_pay_later_charges_and_its_rest_expires() -> None:
    g = grant("g", "100", ending_before=utc(2026, 1, 15))
    charges = [
        charge("before", "30", at=utc(2026, 1, 10)),
        charge("at-expiry", "5", at=utc(2026, 1, 15)),
        charge("after", "50", at=utc(2026, 1, 20)),
    ]
    result = burn_down(charges, [g], as_of=FEB_1)
    # 10 Jan: 30 from g (70 left). 15 Jan and 20 Jan: g has expired, all overage.
    assert result.outcome("before").covered == Decimal(30)
    assert result.outcome("at-expiry").overage == Decimal(5)
    assert result.outcome("after").overage == Decimal(50)
    expiry = result.new_entries[-1]
    # The expiry entry removes the 70 that was left, dated at the expiry.
    assert (expiry.kind, expiry.at, expiry.amount) == (EntryKind.EXPIRY, utc(2026, 1, 15), Decimal(-70))
    assert result.balance("g") == Decimal(0)
    assert balance(result.new_entries, "g", as_of=utc(2026, 1, 14)) == Decimal(70)


def test_no_expiry_entry_before_the_expiry_or_twice() -> None:
    g = grant("g", "100", ending_before=utc(2026, 1, 15))
    assert expiry_entries([g], [start_entry(g)], utc(2026, 1, 14)) == ()
    (entry,) = expiry_entries([g], [start_entry(g)], utc(2026, 1, 15))
    assert entry.amount == Decimal(-100)
    assert expiry_entries([g], [start_entry(g), entry], FEB_1) == ()


def test_a_used_up_grant_expires_with_a_zero_entry() -> None:
    result = burn_down([charge("x", "100")], [grant("g", "100", ending_before=utc(2026, 1, 15))], as_of=FEB_1)
    assert [(e.kind, e.amount) for e in result.new_entries] == [
        (EntryKind.GRANT_START, Decimal(100)),
        (EntryKind.USAGE, Decimal(-100)),
        (EntryKind.EXPIRY, Decimal(0)),
    ]


def test_a_custom_credit_unit_overage_is_billed_in_dollars() -> None:
    tokens = grant("g", "1000", credit_type=AI)
    result = burn_down([charge("x", "1500", credit_type=AI), charge("y", "2")], [tokens])
    # 1,500 AI credits - 1,000 granted = 500 credits overage; 500 × $0.01 = $5.00.
    outcome = result.outcome("x")
    assert outcome.overage == Decimal(500)
    assert outcome.overage_money == Money.of("5.00", "USD")
    # A dollar charge cannot draw on AI credits.
    assert result.outcome("y").overage == Decimal(2)
    assert [(p.credit_type.id, p.money) for p in result.overage_by_payer()] == [
        ("USD", Money.of("2", "USD")),
        ("ai", Money.of("5", "USD")),
    ]


def test_jpy_grants_and_overage_in_whole_yen() -> None:
    g = grant("g", "300", credit_type=JPY)
    result = burn_down([charge("x", "1000.4", credit_type=JPY)], [g])
    # ¥1,000.4 - ¥300 = ¥700.4 at full precision, ¥700 once rounded to the yen.
    outcome = result.outcome("x")
    assert outcome.overage == Decimal("700.4")
    assert outcome.overage_money.rounded() == Money.of("700", "JPY")
    assert outcome.overage_money.format() == "¥700"


def test_amounts_that_cannot_be_added_exactly_are_refused_not_rounded() -> None:
    with pytest.raises(InvalidAmount, match="more than 100 digits"):
        burn_down([charge("x", "1E+60")], [grant("g", "1E-60")])


def test_charges_must_not_be_negative_or_duplicated() -> None:
    with pytest.raises(InvalidBurnDown, match="only charges of zero or more"):
        burn_down([charge("x", "-1")], [])
    with pytest.raises(InvalidBurnDown, match="Two charges have the id x"):
        burn_down([charge("x", "1"), charge("x", "2")], [])
    with pytest.raises(InvalidGrant, match="Two grants have the id g"):
        burn_down([], [grant("g"), grant("g")])


def test_unknown_ids_on_a_result_are_reported() -> None:
    result = burn_down([], [])
    with pytest.raises(InvalidBurnDown, match="not part of this burn-down"):
        result.outcome("x")
    with pytest.raises(InvalidGrant, match="not part of this burn-down"):
        result.balance("g")


def test_the_result_does_not_depend_on_input_order() -> None:
    grants = [
        grant("seat", "30", scope=GrantScope.SEAT, seat_id="alice"),
        grant("credit", "50", priority=1),
        grant("commit", "40", kind=GrantKind.COMMIT, ending_before=utc(2026, 1, 20)),
    ]
    charges = [charge(f"x{i}", i * 7, at=utc(2026, 1, 1 + i), seat_id="alice" if i % 2 else None) for i in range(10)]
    expected = burn_down(charges, grants, as_of=FEB_1)
    shuffler = random.Random(7)
    for _ in range(5):
        shuffler.shuffle(charges)
        shuffler.shuffle(grants)
        assert burn_down(charges, grants, as_of=FEB_1) == expected


# --- The ledger ---------------------------------------------------------------------------------


def test_a_burn_down_continues_from_the_ledger_and_never_starts_a_grant_twice() -> None:
    g = grant("g", "100")
    first = burn_down([charge("x", "40")], [g])
    second = burn_down([charge("y", "100", at=utc(2026, 1, 11))], [g], first.new_entries)
    # 100 - 40 (x, already on the ledger) = 60 left for y; 100 - 60 = 40 overage.
    assert second.outcome("y").covered == Decimal(60)
    assert second.outcome("y").overage == Decimal(40)
    assert [e.kind for e in second.new_entries] == [EntryKind.USAGE]
    ledger = (*first.new_entries, *second.new_entries)
    assert balances(ledger) == {"g": Decimal(0)}
    assert balance(ledger, "g", as_of=utc(2026, 1, 10, 12)) == Decimal(60)


def test_a_charge_already_on_the_ledger_is_not_drawn_twice() -> None:
    g = grant("g", "100")
    first = burn_down([charge("x", "40")], [g])
    with pytest.raises(InvalidBurnDown, match="already drawn"):
        burn_down([charge("x", "40")], [g], first.new_entries)


def test_an_adjustment_adds_to_what_can_be_drawn() -> None:
    g = grant("g", "10")
    topped_up = LedgerEntry("g", utc(2026, 1, 2), EntryKind.ADJUSTMENT, Decimal(15), "ticket 42")
    result = burn_down([charge("x", "20")], [g], [start_entry(g), topped_up])
    # 10 granted + 15 adjusted = 25 available; 20 drawn, 5 left.
    assert result.outcome("x").covered == Decimal(20)
    assert result.balance("g") == Decimal(5)


def test_the_ledger_must_agree_with_the_grant() -> None:
    g = grant("g", "100")
    with pytest.raises(InvalidLedgerEntry, match="record the difference as an ADJUSTMENT"):
        burn_down([], [g], [replace(start_entry(g), amount=Decimal(90))])
    with pytest.raises(InvalidLedgerEntry, match="two start entries"):
        burn_down([], [g], [start_entry(g), start_entry(g)])


def test_ledger_entries_of_other_grants_are_left_alone() -> None:
    other = LedgerEntry("other", JAN_1, EntryKind.GRANT_START, Decimal(5), "elsewhere")
    result = burn_down([charge("x", "1")], [grant("g")], [other])
    assert [b.grant_id for b in result.closing_balances] == ["g"]


def test_ledger_entries_keep_the_sign_of_their_kind() -> None:
    with pytest.raises(InvalidLedgerEntry, match="starts with zero or more"):
        LedgerEntry("g", JAN_1, EntryKind.GRANT_START, Decimal(-1), "x")
    with pytest.raises(InvalidLedgerEntry, match="only take from a balance"):
        LedgerEntry("g", JAN_1, EntryKind.USAGE, Decimal(1), "x")
    with pytest.raises(InvalidLedgerEntry, match="only take from a balance"):
        LedgerEntry("g", JAN_1, EntryKind.EXPIRY, Decimal(1), "x")
    with pytest.raises(InvalidLedgerEntry, match="must name the grant"):
        LedgerEntry("", JAN_1, EntryKind.ADJUSTMENT, Decimal(1), "x")
    assert LedgerEntry("g", JAN_1, EntryKind.ADJUSTMENT, Decimal(-3), "x").amount == Decimal(-3)


def test_a_start_entry_records_the_source_of_the_grant() -> None:
    entry = start_entry(grant("g", "12", kind=GrantKind.COMMIT, source=GrantSource.PURCHASE))
    assert (entry.kind, entry.amount, entry.at, entry.reference) == (
        EntryKind.GRANT_START,
        Decimal(12),
        JAN_1,
        "commit from purchase",
    )


def test_credit_types_are_compared_in_full() -> None:
    other_ai = CreditType("ai", "AI credits", USD.currency, Decimal("0.02"), 0)
    assert not applies(grant("g", credit_type=AI), charge("x", 1, credit_type=other_ai))


# --- repeated ids, and what a result builds on demand ----------------------------------


def test_a_repeated_charge_id_is_named_even_when_the_two_are_far_apart_in_time() -> None:
    charges = [charge("x", "1", at=utc(2026, 1, 2)), charge("y", "1", at=utc(2026, 1, 3)), charge("x", "1")]
    with pytest.raises(InvalidBurnDown, match="Two charges have the id x"):
        burn_down(charges, [])


def test_outcomes_and_closing_balances_are_built_once_when_first_read() -> None:
    result = burn_down([charge("x", "130"), charge("y", "5")], [grant("g", "100")], as_of=FEB_1)
    assert result.outcomes is result.outcomes
    assert result.closing_balances is result.closing_balances
    assert [d.charge.id for d in result.drawn] == [o.charge.id for o in result.outcomes] == ["x", "y"]
    assert result.outcome("x").overage == Decimal(30)
    assert "BurnDownResult(outcomes=(ChargeOutcome(" in repr(result)
    assert hash(result) == hash(burn_down([charge("y", "5"), charge("x", "130")], [grant("g", "100")], as_of=FEB_1))
