"""Account hierarchy: children draw their own grants, then the parent's shared commit, within budget caps."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from portal.domain.charges import Charge
from portal.domain.errors import InvalidHierarchy
from portal.domain.grants import ChildAccess, Grant, GrantKind, GrantScope, budget_used, burn_down
from portal.domain.hierarchy import (
    NO_HIERARCHY,
    BudgetCap,
    CapBehaviour,
    ChildContract,
    Hierarchy,
    Payer,
    StatementMode,
    consolidated_statement,
)
from portal.domain.money import Money, custom_credit, fiat
from portal.domain.periods import Frequency, Period, utc

USD = fiat("USD")
AI = custom_credit("ai", "AI credits", "USD", "0.01")
JAN_1 = utc(2026, 1, 1)
JANUARY = Period(JAN_1, utc(2026, 2, 1))


def shared(grant_id: str = "shared", amount: object = "1000", **fields: Any) -> Grant:
    """The parent's shared commit, open to all children unless told otherwise."""
    return Grant(
        id=grant_id,
        contract_id="parent",
        kind=GrantKind.COMMIT,
        credit_type=fields.pop("credit_type", USD),
        amount=Decimal(str(amount)),
        starting_at=JAN_1,
        scope=GrantScope.SHARED,
        **fields,
    )


def own(grant_id: str, contract_id: str, amount: object) -> Grant:
    """A contract's own free credit."""
    return Grant(grant_id, contract_id, GrantKind.CREDIT, USD, Decimal(str(amount)), JAN_1)


def charge(charge_id: str, contract_id: str, amount: object, at: datetime | None = None) -> Charge:
    """A USD charge for product ``api``, on 10 January unless told otherwise."""
    return Charge(charge_id, contract_id, "api", at or utc(2026, 1, 10), Decimal(str(amount)), USD)


def family(*caps: BudgetCap, research_payer: Payer = Payer.SELF) -> Hierarchy:
    """A parent with two consolidated children (research, sales) and one separate child (legal)."""
    return Hierarchy(
        children=(
            ChildContract("research", "parent", research_payer),
            ChildContract("sales", "parent", Payer.PARENT),
            ChildContract("legal", "parent", Payer.SELF, StatementMode.SEPARATE),
        ),
        caps=caps,
    )


def cap(amount: object, behaviour: CapBehaviour, child: str = "research") -> BudgetCap:
    """A monthly budget cap on the shared commit, anchored on 1 January."""
    return BudgetCap(child, USD, Decimal(str(amount)), JAN_1, Frequency.MONTHLY, behaviour)


# --- The hierarchy itself -----------------------------------------------------------------------


def test_a_contract_cannot_be_its_own_parent_or_a_child_twice() -> None:
    with pytest.raises(InvalidHierarchy, match="its own parent"):
        ChildContract("a", "a")
    with pytest.raises(InvalidHierarchy, match="needs both"):
        ChildContract("", "a")
    with pytest.raises(InvalidHierarchy, match="child twice"):
        Hierarchy(children=(ChildContract("a", "p"), ChildContract("a", "q")))


def test_hierarchies_are_one_level_deep() -> None:
    with pytest.raises(InvalidHierarchy, match="one level deep"):
        Hierarchy(children=(ChildContract("team", "department"), ChildContract("department", "company")))


def test_caps_must_belong_to_a_child_once_per_credit_type_and_not_be_negative() -> None:
    with pytest.raises(InvalidHierarchy, match="not a child contract"):
        Hierarchy(caps=(cap(10, CapBehaviour.BLOCK),))
    with pytest.raises(InvalidHierarchy, match="two budget caps"):
        family(cap(10, CapBehaviour.BLOCK), cap(20, CapBehaviour.OVERAGE))
    with pytest.raises(InvalidHierarchy, match=r"zero .* or more"):
        cap(-1, CapBehaviour.BLOCK)


def test_the_hierarchy_answers_who_is_whose_parent_and_who_pays() -> None:
    tree = family()
    assert tree.parent_of("research") == "parent"
    assert tree.parent_of("parent") is None
    assert tree.payer_of("research") == "research"
    assert tree.payer_of("sales") == "parent"
    assert tree.payer_of("parent") == "parent"
    assert [c.contract_id for c in tree.children_of("parent")] == ["legal", "research", "sales"]
    assert tree.cap_for("research", USD) is None
    assert family(cap(5, CapBehaviour.BLOCK)).cap_for("research", USD) == cap(5, CapBehaviour.BLOCK)
    assert NO_HIERARCHY.payer_of("anyone") == "anyone"


def test_hierarchies_built_in_another_order_are_equal() -> None:
    a = Hierarchy(children=(ChildContract("x", "p"), ChildContract("y", "p")))
    b = Hierarchy(children=(ChildContract("y", "p"), ChildContract("x", "p")))
    assert a == b


# --- Drawing order -----------------------------------------------------------------------------


def test_a_child_draws_its_own_grants_then_the_parents_shared_commit_then_overage() -> None:
    result = burn_down(
        [charge("x", "research", "100"), charge("y", "research", "1000", at=utc(2026, 1, 11))],
        [own("mine", "research", "30"), shared(amount="200")],
        hierarchy=family(),
    )
    # x: 30 from research's own credit, then 100 - 30 = 70 from the shared commit (130 left).
    x = result.outcome("x")
    assert [(d.grant_id, d.amount) for d in x.deductions] == [("mine", Decimal(30)), ("shared", Decimal(70))]
    assert x.deductions[0].explanation == "#1 of 2 applicable grants: contract grant before shared grant (shared)"
    assert (x.drawn_from_own, x.drawn_from_shared) == (Decimal(30), Decimal(70))
    # y: the shared commit's last 130, then 1000 - 130 = 870 overage billed to research itself.
    y = result.outcome("y")
    assert (y.drawn_from_shared, y.overage, y.payer_contract_id) == (Decimal(130), Decimal(870), "research")


def test_child_access_none_keeps_children_out_but_the_parent_still_draws() -> None:
    closed = shared(child_access=ChildAccess.NONE)
    result = burn_down([charge("x", "research", "10"), charge("p", "parent", "10")], [closed], hierarchy=family())
    assert result.outcome("x").overage == Decimal(10)
    assert result.outcome("p").drawn_from_shared == Decimal(10)


def test_child_access_list_admits_only_the_listed_children() -> None:
    listed = shared(child_access=("research",))
    result = burn_down([charge("x", "research", "10"), charge("y", "sales", "10")], [listed], hierarchy=family())
    assert result.outcome("x").drawn_from_shared == Decimal(10)
    assert result.outcome("y").overage == Decimal(10)


def test_payer_self_and_payer_parent() -> None:
    tree = family()
    result = burn_down([charge("x", "research", "15"), charge("y", "sales", "25")], [], hierarchy=tree)
    # No grants at all: research pays its own 15, sales' 25 goes on the parent's invoice.
    assert result.outcome("x").payer_contract_id == "research"
    assert result.outcome("y").payer_contract_id == "parent"
    assert [(p.payer_contract_id, p.amount) for p in result.overage_by_payer()] == [
        ("parent", Decimal(25)),
        ("research", Decimal(15)),
    ]


# --- Budget caps --------------------------------------------------------------------------------


def test_a_child_reaching_its_cap_with_overage_behaviour_pays_the_rest_as_overage() -> None:
    charges = [
        charge("x", "research", "40", at=utc(2026, 1, 5)),
        charge("y", "research", "40", at=utc(2026, 1, 10)),
        charge("z", "research", "40", at=utc(2026, 1, 12)),
    ]
    result = burn_down(charges, [shared()], hierarchy=family(cap(50, CapBehaviour.OVERAGE)))
    # Cap 50 a month. x: 40 shared (10 left of the cap). y: 10 shared, 40 - 10 = 30 overage. z: cap used up, 40 overage.
    assert result.outcome("x").drawn_from_shared == Decimal(40)
    y = result.outcome("y")
    assert (y.drawn_from_shared, y.overage, y.blocked) == (Decimal(10), Decimal(30), Decimal(0))
    assert y.deductions[0].explanation == (
        "the only grant that applies to this charge; capped by research's budget of 50 for 2026-01-01 to 2026-02-01"
    )
    assert y.explanation == (
        "research has drawn its whole budget of 50 for 2026-01-01 to 2026-02-01: the rest is billed to research"
    )
    z = result.outcome("z")
    assert (z.deductions, z.overage) == ((), Decimal(40))
    assert result.balance("shared") == Decimal(950)  # 1000 - 40 - 10


def test_a_child_reaching_its_cap_with_block_behaviour_is_blocked_not_billed() -> None:
    charges = [charge("x", "research", "40", at=utc(2026, 1, 5)), charge("y", "research", "40")]
    result = burn_down(charges, [shared()], hierarchy=family(cap(50, CapBehaviour.BLOCK)))
    # y: 10 shared (the cap's last 10), the other 30 blocked: neither overage nor drawn.
    y = result.outcome("y")
    assert (y.drawn_from_shared, y.overage, y.blocked) == (Decimal(10), Decimal(0), Decimal(30))
    assert y.explanation.endswith("the rest is blocked, not billed")
    assert result.overage_by_payer() == ()
    assert result.balance("shared") == Decimal(950)


def test_a_cap_starts_afresh_each_period() -> None:
    charges = [charge("jan", "research", "50"), charge("feb", "research", "50", at=utc(2026, 2, 3))]
    result = burn_down(charges, [shared()], hierarchy=family(cap(50, CapBehaviour.BLOCK)))
    assert result.outcome("jan").drawn_from_shared == Decimal(50)
    assert result.outcome("feb").drawn_from_shared == Decimal(50)


def test_a_cap_counts_what_the_child_drew_earlier_in_the_period() -> None:
    tree = family(cap(50, CapBehaviour.OVERAGE))
    first = burn_down([charge("x", "research", "45", at=utc(2026, 1, 3))], [shared()], hierarchy=tree)
    assert budget_used("research", USD, JANUARY, [shared()], first.new_entries, tree) == Decimal(45)
    second = burn_down([charge("y", "research", "20")], [shared()], first.new_entries, tree)
    # 45 already drawn in January: 5 left under the cap, 20 - 5 = 15 overage.
    assert second.outcome("y").drawn_from_shared == Decimal(5)
    assert second.outcome("y").overage == Decimal(15)


def test_own_grants_do_not_count_against_the_cap() -> None:
    tree = family(cap(10, CapBehaviour.BLOCK))
    result = burn_down([charge("x", "research", "100")], [own("mine", "research", "80"), shared()], hierarchy=tree)
    # 80 own, then 10 shared (the cap), the other 10 blocked.
    x = result.outcome("x")
    assert (x.drawn_from_own, x.drawn_from_shared, x.blocked) == (Decimal(80), Decimal(10), Decimal(10))


def test_when_the_shared_commit_runs_out_under_the_cap_the_rest_is_overage_even_with_block() -> None:
    tree = family(cap(500, CapBehaviour.BLOCK))
    result = burn_down([charge("x", "research", "100")], [shared(amount="60")], hierarchy=tree)
    # The commit's 60 is gone while the cap still has 440: 40 overage, nothing blocked.
    x = result.outcome("x")
    assert (x.drawn_from_shared, x.overage, x.blocked) == (Decimal(60), Decimal(40), Decimal(0))
    assert x.explanation == "the applicable grants ran out: the rest is billed to research"


def test_a_cap_in_another_credit_type_does_not_limit_dollar_draws() -> None:
    ai_cap = BudgetCap("research", AI, Decimal(0), JAN_1, behaviour=CapBehaviour.BLOCK)
    tree = Hierarchy(children=(ChildContract("research", "parent"),), caps=(ai_cap,))
    result = burn_down([charge("x", "research", "100")], [shared()], hierarchy=tree)
    assert result.outcome("x").drawn_from_shared == Decimal(100)


def test_a_capped_child_without_shared_access_gets_overage_not_a_block() -> None:
    tree = family(cap(0, CapBehaviour.BLOCK))
    result = burn_down([charge("x", "research", "10")], [shared(child_access=ChildAccess.NONE)], hierarchy=tree)
    assert (result.outcome("x").overage, result.outcome("x").blocked) == (Decimal(10), Decimal(0))


# --- The consolidated statement -----------------------------------------------------------------


def test_the_consolidated_statement_groups_by_child() -> None:
    tree = family(cap(100, CapBehaviour.BLOCK), research_payer=Payer.SELF)
    charges = [
        charge("p1", "parent", "50"),
        charge("r1", "research", "170"),
        charge("s1", "sales", "300", at=utc(2026, 1, 11)),
        charge("l1", "legal", "5"),
    ]
    grants = [own("r-own", "research", "20"), shared(amount="500")]
    result = burn_down(charges, grants, hierarchy=tree)
    statement = consolidated_statement("parent", tree, result)
    # Charges in time order, then id: l1, p1, r1 (10 Jan), s1 (11 Jan). The shared commit holds 500:
    #   l1 (legal): 5 shared -> 495 left; p1 (parent): 50 shared -> 445;
    #   r1 (research): 20 own, then 100 shared (the cap) -> 345, and 170 - 120 = 50 blocked;
    #   s1 (sales, paid by the parent): 300 shared -> 45 left.
    # legal keeps a separate statement, so it is not shown: shared total 50 + 100 + 300 = 450.
    assert [(g.contract_id, g.is_parent, g.payer_contract_id) for g in statement.groups] == [
        ("parent", True, "parent"),
        ("research", False, "research"),
        ("sales", False, "parent"),
    ]
    figures = [(g.charged, g.from_own_grants, g.from_shared_commit, g.overage, g.blocked) for g in statement.groups]
    assert figures == [
        (Decimal(50), Decimal(0), Decimal(50), Decimal(0), Decimal(0)),
        (Decimal(170), Decimal(20), Decimal(100), Decimal(0), Decimal(50)),
        (Decimal(300), Decimal(0), Decimal(300), Decimal(0), Decimal(0)),
    ]
    (total,) = statement.totals
    assert (total.charged, total.from_own_grants, total.from_shared_commit, total.blocked) == (
        Decimal(520),
        Decimal(20),
        Decimal(450),
        Decimal(50),
    )
    assert result.balance("shared") == Decimal(45)
    assert statement.group("legal", USD) is None


def test_overage_billed_to_the_parent_counts_only_children_it_pays_for() -> None:
    tree = family()
    result = burn_down(
        [charge("p", "parent", "1"), charge("r", "research", "10"), charge("s", "sales", "100")], [], hierarchy=tree
    )
    (total,) = consolidated_statement("parent", tree, result).totals
    # Overage 1 + 10 + 100 = 111; the parent pays its own 1 and sales' 100 = 101.
    assert (total.overage, total.overage_billed_to_parent) == (Decimal(111), Decimal(101))


def test_statement_rows_are_per_credit_type() -> None:
    tree = family()
    ai_charge = Charge("a", "research", "api", utc(2026, 1, 10), Decimal(700), AI)
    result = burn_down([ai_charge, charge("u", "research", "3")], [], hierarchy=tree)
    statement = consolidated_statement("parent", tree, result)
    assert [(g.contract_id, g.credit_type.id) for g in statement.groups] == [("research", "USD"), ("research", "ai")]
    group = statement.group("research", AI)
    assert group is not None
    assert AI.to_money(group.overage) == Money.of("7", "USD")  # 700 AI credits × $0.01


def test_only_a_parent_has_a_consolidated_statement() -> None:
    with pytest.raises(InvalidHierarchy, match="ask for its parent"):
        consolidated_statement("research", family(), burn_down([], []))
