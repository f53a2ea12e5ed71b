"""Account hierarchy: children draw their own grants, then the parent's shared commit, within budget caps."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from portal.domain.charges import Charge
from portal.domain.errors import InvalidHierarchy
from portal.domain.grants import (
    ChildAccess,
    Grant,
    GrantKind,
    GrantScope,
    applies,
    budget_used,
    burn_down,
    burn_down_key,
    burn_down_order_key,
    ordering_reason,
)
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


def test_a_child_may_have_children_of_its_own_but_a_cycle_is_refused_naming_its_contracts() -> None:
    tree = Hierarchy(children=(ChildContract("team", "department"), ChildContract("department", "company")))
    assert tree.ancestors_of("team") == ("department", "company")
    with pytest.raises(InvalidHierarchy) as refused:
        Hierarchy(
            children=(
                ChildContract("team", "department"),
                ChildContract("department", "company"),
                ChildContract("company", "team"),
                ChildContract("intern", "team"),  # hangs off the cycle, is not part of it
            )
        )
    assert str(refused.value) == (
        "Contracts company, team, department form a cycle (company's parent is team, team's parent is department, "
        "department's parent is company): a contract cannot be its own ancestor; remove one of these parent relations."
    )
    with pytest.raises(InvalidHierarchy, match=r"Contracts a, b form a cycle \(a's parent is b, b's parent is a\)"):
        Hierarchy(children=(ChildContract("b", "a"), ChildContract("a", "b")))


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


# --- Deeper hierarchies: enterprise -> division -> department ------------------------------------


def held(grant_id: str, holder: str, amount: object, **fields: Any) -> Grant:
    """A dollar commit of ``holder`` shared with everything under it, unless told otherwise."""
    return Grant(
        grant_id, holder, GrantKind.COMMIT, USD, Decimal(str(amount)), JAN_1, scope=GrantScope.SHARED, **fields
    )


def enterprise(
    *caps: BudgetCap,
    payers: dict[str, Payer] | None = None,
    statements: dict[str, StatementMode] | None = None,
) -> Hierarchy:
    """root -> divisions east and west; east -> departments dept-a and dept-b; west -> dept-c (all SELF and
    CONSOLIDATED unless told otherwise)."""
    relations = (("east", "root"), ("west", "root"), ("dept-a", "east"), ("dept-b", "east"), ("dept-c", "west"))
    payers, statements = payers or {}, statements or {}
    return Hierarchy(
        children=tuple(
            ChildContract(kid, parent, payers.get(kid, Payer.SELF), statements.get(kid, StatementMode.CONSOLIDATED))
            for kid, parent in relations
        ),
        caps=caps,
    )


def test_the_tree_answers_ancestors_descendants_root_and_depth() -> None:
    tree = enterprise()
    assert tree.ancestors_of("dept-a") == ("east", "root")  # nearest first
    assert tree.ancestors_of("east") == ("root",)
    assert tree.ancestors_of("root") == ()
    assert tree.descendants_of("root") == ("dept-a", "dept-b", "dept-c", "east", "west")  # every level, by id
    assert tree.descendants_of("east") == ("dept-a", "dept-b")
    assert tree.descendants_of("dept-a") == ()
    assert [tree.root_of(c) for c in ("dept-c", "west", "root", "stranger")] == ["root", "root", "root", "stranger"]
    assert [tree.depth_of(c) for c in ("root", "east", "dept-a", "stranger")] == [0, 1, 2, 0]
    assert [c.contract_id for c in tree.children_of("east")] == ["dept-a", "dept-b"]
    assert (tree.distance("root", "dept-a"), tree.distance("dept-a", "dept-a"), tree.distance("west", "dept-a")) == (
        2,
        0,
        None,
    )


def test_a_department_draws_its_own_grant_then_its_divisions_shared_commit_then_the_roots() -> None:
    tree = enterprise()
    # The root's commit has the better priority (1 against 100): the nearer holder still comes first.
    grants = [
        own("a-own", "dept-a", "30"),
        held("east-pool", "east", "100"),
        held("root-pool", "root", "1000", priority=1),
    ]
    charges = [charge("e1", "east", "50", at=utc(2026, 1, 5)), charge("a1", "dept-a", "200")]
    result = burn_down(charges, grants, hierarchy=tree)
    # e1 (5 Jan, the division's own charge): 50 from east's own shared commit (50 left), before the root's.
    (e1,) = result.outcome("e1").deductions
    assert (e1.grant_id, e1.amount) == ("east-pool", Decimal(50))
    assert e1.explanation == "#1 of 2 applicable grants: east's own shared grant before its ancestor root's (root-pool)"
    # a1 (10 Jan): 30 own, then east's last 50, then 200 - 30 - 50 = 120 from the root's commit (880 left).
    a1 = result.outcome("a1")
    assert [(d.grant_id, d.amount) for d in a1.deductions] == [
        ("a-own", Decimal(30)),
        ("east-pool", Decimal(50)),
        ("root-pool", Decimal(120)),
    ]
    assert [d.explanation for d in a1.deductions] == [
        "#1 of 3 applicable grants: contract grant before shared grant (east-pool, root-pool)",
        "#2 of 3 applicable grants, drawn after a-own ran out: "
        "the nearer ancestor's shared grant comes first, east's before root's (root-pool)",
        "#3 of 3 applicable grants, drawn after a-own, east-pool ran out; last in burn-down order",
    ]
    assert (a1.drawn_from_own, a1.drawn_from_shared, a1.overage) == (Decimal(30), Decimal(170), Decimal(0))
    assert (result.balance("east-pool"), result.balance("root-pool")) == (Decimal(0), Decimal(880))
    ordered = sorted(grants, key=lambda g: burn_down_order_key(g, "dept-a", tree))
    assert [g.id for g in ordered] == ["a-own", "east-pool", "root-pool"]
    assert [g.id for g in sorted(grants, key=burn_down_key)][-1] == "east-pool"  # one holder's order alone
    assert ordering_reason(grants[1], grants[2], "east") == "east's own shared grant before its ancestor root's"


def test_a_shared_grant_reaches_every_level_its_access_admits_and_no_other_branch() -> None:
    tree = enterprise()
    assert applies(held("r", "root", 1), charge("x", "dept-c", 1), tree)  # ALL: any level below the root
    assert not applies(held("e", "east", 1), charge("x", "dept-c", 1), tree)  # west's department: not under east
    assert not applies(held("e", "east", 1), charge("x", "root", 1), tree)  # never upwards
    assert not applies(held("r", "root", 1), charge("x", "dept-a", 1))  # no hierarchy given
    listed = [
        held("for-b", "root", 100, child_access=("dept-b",)),
        held("for-east", "root", 100, child_access=("east",)),
    ]
    charges = [charge("a1", "dept-a", "10"), charge("b1", "dept-b", "10"), charge("e1", "east", "10")]
    result = burn_down(charges, listed, hierarchy=tree)
    # A list names contracts at any level, and only those: naming east does not open it to east's departments.
    assert [(d.grant_id, d.amount) for d in result.outcome("b1").deductions] == [("for-b", Decimal(10))]
    assert [(d.grant_id, d.amount) for d in result.outcome("e1").deductions] == [("for-east", Decimal(10))]
    a1 = result.outcome("a1")
    assert (a1.deductions, a1.overage, a1.explanation) == (
        (),
        Decimal(10),
        "no grant applies to this charge: the rest is billed to dept-a",
    )


def subtree_caps(division: CapBehaviour) -> Hierarchy:
    """East capped at 600 a month for itself and its departments together; dept-a at 500, dept-b at 300."""
    return enterprise(
        cap(600, division, child="east"),
        cap(500, CapBehaviour.OVERAGE, "dept-a"),
        cap(300, CapBehaviour.OVERAGE, "dept-b"),
    )


def test_a_divisions_cap_limits_its_departments_together_and_the_nearest_used_up_cap_binds() -> None:
    tree = subtree_caps(CapBehaviour.OVERAGE)
    charges = [charge("a1", "dept-a", "700", at=utc(2026, 1, 5)), charge("b1", "dept-b", "250")]
    result = burn_down(charges, [held("root-pool", "root", "10000")], hierarchy=tree)
    # a1: the root's commit is limited by dept-a's cap (500 left) and east's (600 left): 500 drawn, dept-a's cap
    # is used up, the other 200 are overage (dept-a's cap says OVERAGE).
    a1 = result.outcome("a1")
    assert (a1.drawn_from_shared, a1.overage, a1.blocked) == (Decimal(500), Decimal(200), Decimal(0))
    assert a1.deductions[0].explanation == (
        "the only grant that applies to this charge; capped by dept-a's budget of 500 for 2026-01-01 to 2026-02-01"
    )
    assert a1.explanation == (
        "dept-a has drawn its whole budget of 500 for 2026-01-01 to 2026-02-01: the rest is billed to dept-a"
    )
    # b1: dept-b's own cap has 300 left, but east's has only 600 - 500 = 100: 100 drawn, 150 overage, and the cap
    # that bound is east's.
    b1 = result.outcome("b1")
    assert (b1.drawn_from_shared, b1.overage, b1.blocked) == (Decimal(100), Decimal(150), Decimal(0))
    assert b1.deductions[0].explanation.endswith("capped by east's budget of 600 for 2026-01-01 to 2026-02-01")
    assert b1.explanation == (
        "east and the contracts under it have drawn east's whole budget of 600 for 2026-01-01 to 2026-02-01: "
        "the rest is billed to dept-b"
    )
    assert result.balance("root-pool") == Decimal(9400)  # 10000 - 500 - 100
    spent = [
        budget_used(c, USD, JANUARY, [held("root-pool", "root", "10000")], result.new_entries, tree)
        for c in (
            "east",
            "dept-a",
            "dept-b",
        )
    ]
    assert spent == [Decimal(600), Decimal(500), Decimal(100)]


def test_a_blocking_division_cap_blocks_the_rest_unless_a_nearer_used_up_cap_says_overage() -> None:
    tree = subtree_caps(CapBehaviour.BLOCK)
    pool = [held("root-pool", "root", "10000")]
    charges = [
        charge("a1", "dept-a", "700", at=utc(2026, 1, 5)),
        charge("b1", "dept-b", "250"),
        charge("e1", "east", "20", at=utc(2026, 1, 13)),
        charge("a2", "dept-a", "40", at=utc(2026, 1, 14)),
    ]
    first = burn_down(charges, pool, hierarchy=tree)
    # a1 as before: dept-a's own cap (OVERAGE) binds first, 500 drawn, 200 overage.
    assert (first.outcome("a1").overage, first.outcome("a1").blocked) == (Decimal(200), Decimal(0))
    # b1: 100 drawn (east's cap), the other 150 blocked: neither drawn nor billed.
    b1 = first.outcome("b1")
    assert (b1.drawn_from_shared, b1.overage, b1.blocked) == (Decimal(100), Decimal(0), Decimal(150))
    assert b1.explanation.endswith(
        "have drawn east's whole budget of 600 for 2026-01-01 to 2026-02-01: the rest is blocked, not billed"
    )
    # e1: the division's own charge is under its own cap: all 20 blocked.
    e1 = first.outcome("e1")
    assert (e1.deductions, e1.blocked, e1.explanation) == (
        (),
        Decimal(20),
        "east has drawn its whole budget of 600 for 2026-01-01 to 2026-02-01: the rest is blocked, not billed",
    )
    # a2: both caps are used up; dept-a's is the nearer and says OVERAGE: 40 overage.
    assert (first.outcome("a2").overage, first.outcome("a2").blocked) == (Decimal(40), Decimal(0))
    # A later run counts the draws already on the ledger: east's 600 are spent in January, not in February.
    later = [charge("b2", "dept-b", "30", at=utc(2026, 1, 20)), charge("b3", "dept-b", "30", at=utc(2026, 2, 3))]
    second = burn_down(later, pool, first.new_entries, tree)
    assert (second.outcome("b2").blocked, second.outcome("b3").drawn_from_shared) == (Decimal(30), Decimal(30))


def test_a_divisions_cap_does_not_limit_draws_on_the_divisions_own_shared_commit() -> None:
    tree = enterprise(cap(0, CapBehaviour.BLOCK, child="east"))
    grants = [held("east-pool", "east", "100"), held("root-pool", "root", "1000")]
    result = burn_down([charge("a1", "dept-a", "150")], grants, hierarchy=tree)
    # 100 from east's own commit (east's cap limits draws on the root's, not on east's own), then nothing from
    # the root's (east's cap is 0): the other 50 blocked.
    a1 = result.outcome("a1")
    assert [(d.grant_id, d.amount) for d in a1.deductions] == [("east-pool", Decimal(100))]
    assert (a1.overage, a1.blocked) == (Decimal(0), Decimal(50))
    assert a1.explanation.startswith("east and the contracts under it have drawn east's whole budget of 0")


def test_a_parent_payer_rolls_up_until_a_contract_that_pays_for_itself() -> None:
    tree = enterprise(payers={"east": Payer.PARENT, "dept-a": Payer.PARENT, "west": Payer.SELF, "dept-c": Payer.PARENT})
    # dept-a -> east -> root (both PARENT); dept-b pays itself; dept-c -> west, which pays for itself.
    payers = {c: tree.payer_of(c) for c in ("root", "east", "dept-a", "dept-b", "west", "dept-c")}
    assert payers == {
        "root": "root",
        "east": "root",
        "dept-a": "root",
        "dept-b": "dept-b",
        "west": "west",
        "dept-c": "west",
    }
    charges = [charge("a", "dept-a", "1"), charge("b", "dept-b", "10"), charge("c", "dept-c", "100")]
    result = burn_down(charges, [], hierarchy=tree)
    assert [(p.payer_contract_id, p.amount) for p in result.overage_by_payer()] == [
        ("dept-b", Decimal(10)),
        ("root", Decimal(1)),
        ("west", Decimal(100)),
    ]


def test_the_consolidated_statement_walks_the_tree_with_depths_and_leaves_out_separate_branches() -> None:
    tree = enterprise(
        payers={"east": Payer.PARENT, "dept-a": Payer.PARENT},
        statements={"west": StatementMode.SEPARATE},
    )
    charges = [
        charge(f"{c}-1", c, amount)
        for c, amount in (("root", "5"), ("east", "10"), ("dept-a", "20"), ("dept-b", "40"), ("west", "80"))
    ]
    charges.append(charge("c-1", "dept-c", "160"))
    result = burn_down(charges, [held("root-pool", "root", "50"), own("b-own", "dept-b", "15")], hierarchy=tree)
    # In time, then id order (all on 10 January): c-1, dept-a-1, dept-b-1, east-1, root-1, west-1. The root's 50:
    # c-1 (dept-c) 50, nothing left for the others. dept-b's own 15 pays part of its 40.
    statement = consolidated_statement("root", tree, result)
    # west keeps a separate statement: it and dept-c under it are left out. Depth-first: root, east, its departments.
    assert [
        (g.contract_id, g.parent_contract_id, g.depth, g.is_parent, g.payer_contract_id) for g in statement.groups
    ] == [
        ("root", None, 0, True, "root"),
        ("east", "root", 1, False, "root"),
        ("dept-a", "east", 2, False, "root"),
        ("dept-b", "east", 2, False, "dept-b"),
    ]
    (total,) = statement.totals
    # Charged 5 + 10 + 20 + 40 = 75; own 15 (dept-b); overage 75 - 15 = 60, of which the root pays all but
    # dept-b's 25: 35.
    assert (total.charged, total.from_own_grants, total.from_shared_commit, total.overage) == (
        Decimal(75),
        Decimal(15),
        Decimal(0),
        Decimal(60),
    )
    assert total.overage_billed_to_parent == Decimal(35)
    division = consolidated_statement("west", tree, result)
    assert [(g.contract_id, g.parent_contract_id, g.depth, g.from_shared_commit) for g in division.groups] == [
        ("west", None, 0, Decimal(0)),
        ("dept-c", "west", 1, Decimal(50)),
    ]
    east = consolidated_statement("east", tree, result)
    assert [(g.contract_id, g.depth) for g in east.groups] == [("east", 0), ("dept-a", 1), ("dept-b", 1)]
    with pytest.raises(InvalidHierarchy, match="ask for its parent"):
        consolidated_statement("dept-a", tree, result)
