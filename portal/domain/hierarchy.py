"""Account hierarchy: parent and child contracts, who pays, budget caps, the consolidated statement.

Rules (see ``portal/domain/README.md``):

* A parent contract may have child contracts (departments, teams). The
  hierarchy is one level deep: a child cannot itself have children, and a
  contract cannot be its own parent.
* Each child has a **payer**: ``SELF`` (the child pays its own overage, on
  its own invoice) or ``PARENT`` (the child's charges and overage appear on
  the parent's invoice). Each child's usage **statement** is either
  ``CONSOLIDATED`` into the parent's statement or kept ``SEPARATE``.
* A child's charge is drawn first from the child's own grants (its seats',
  then its contract's), then from the parent's **shared** commits that admit
  the child (child access ``ALL``, or a list naming the child; ``NONE``
  admits no child), and what is left is overage billed to the payer.
* A **budget cap** limits how much of the parent's shared commits one child
  may draw in each billing period of the cap's calendar (anchored on the
  cap's anchor, monthly by default), per credit type. Draws already on the
  ledger in that period count. When the child has drawn its whole cap and a
  charge that the shared commit would pay for is still not covered, the cap
  decides what happens to the rest of that charge:

  - ``OVERAGE``: the rest is overage, billed to the child's payer;
  - ``BLOCK``: the rest is *blocked*: reported, neither billed nor drawn.

  A charge left uncovered because the shared commit itself ran out (while
  the child was still under its cap) is overage, whatever the cap behaviour.
* The consolidated statement of a parent lists, per contract (the parent's
  own usage first, then each consolidated child by contract id) and per
  credit type: what was charged, what the contract's own grants paid, what
  the parent's shared commits paid, the overage and the blocked usage, with
  totals. Separate-statement children are left out of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum
from types import MappingProxyType
from typing import TYPE_CHECKING

from portal.domain.errors import InvalidHierarchy
from portal.domain.money import ZERO, CreditType, exact_arithmetic, to_decimal
from portal.domain.periods import Frequency, Period, billing_period_containing, ensure_utc

if TYPE_CHECKING:
    from portal.domain.grants import BurnDownResult


class Payer(Enum):
    """Who pays a child contract's charges and overage."""

    SELF = "self"
    PARENT = "parent"


class StatementMode(Enum):
    """Whether a child's usage statement is folded into the parent's."""

    CONSOLIDATED = "consolidated"
    SEPARATE = "separate"


class CapBehaviour(Enum):
    """What happens to a child's uncovered usage once it has drawn its whole budget cap."""

    OVERAGE = "overage"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class ChildContract:
    """A child contract under a parent, with its payer and statement mode."""

    contract_id: str
    parent_contract_id: str
    payer: Payer = Payer.SELF
    statement: StatementMode = StatementMode.CONSOLIDATED

    def __post_init__(self) -> None:
        if not self.contract_id or not self.parent_contract_id:
            raise InvalidHierarchy("A child contract needs both its own contract id and its parent's.")
        if self.contract_id == self.parent_contract_id:
            raise InvalidHierarchy(f"Contract {self.contract_id} cannot be its own parent.")


@dataclass(frozen=True, slots=True)
class BudgetCap:
    """How much of the parent's shared commits one child may draw per period, in one credit type.

    The periods are the billing periods of the calendar anchored at
    ``anchor`` with ``frequency`` (usually the child contract's own).
    """

    child_contract_id: str
    credit_type: CreditType
    amount: Decimal
    anchor: datetime
    frequency: Frequency = Frequency.MONTHLY
    behaviour: CapBehaviour = CapBehaviour.OVERAGE

    def __post_init__(self) -> None:
        amount = to_decimal(self.amount, f"budget cap of {self.child_contract_id}")
        if amount < 0:
            raise InvalidHierarchy(
                f"The budget cap of {self.child_contract_id} is {amount}: a cap is zero (no shared draws) or more."
            )
        object.__setattr__(self, "amount", amount)
        object.__setattr__(self, "anchor", ensure_utc(self.anchor, "budget cap anchor"))

    def period_containing(self, at: datetime) -> Period:
        """The cap period that contains ``at``."""
        return billing_period_containing(self.anchor, self.frequency, at)


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """The parent/child relations and budget caps that a burn-down must respect.

    Children and caps are kept sorted, so two hierarchies built from the same
    relations in another order are equal.
    """

    children: tuple[ChildContract, ...] = ()
    caps: tuple[BudgetCap, ...] = ()
    _by_child: Mapping[str, ChildContract] = field(init=False, repr=False, compare=False)
    _caps: Mapping[tuple[str, str], BudgetCap] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        children = tuple(sorted(self.children, key=lambda c: c.contract_id))
        by_child: dict[str, ChildContract] = {}
        for child in children:
            if child.contract_id in by_child:
                raise InvalidHierarchy(
                    f"Contract {child.contract_id} is listed as a child twice: a contract has one parent."
                )
            by_child[child.contract_id] = child
        for child in children:
            parent = by_child.get(child.parent_contract_id)
            if parent is not None:
                raise InvalidHierarchy(
                    f"Contract {parent.contract_id} is a child of {parent.parent_contract_id} and cannot also be "
                    f"the parent of {child.contract_id}: hierarchies are one level deep."
                )
        caps = tuple(sorted(self.caps, key=lambda c: (c.child_contract_id, c.credit_type.id)))
        by_cap: dict[tuple[str, str], BudgetCap] = {}
        for cap in caps:
            if cap.child_contract_id not in by_child:
                raise InvalidHierarchy(
                    f"There is a budget cap for {cap.child_contract_id}, which is not a child contract: "
                    "add it as a child of its parent first."
                )
            key = (cap.child_contract_id, cap.credit_type.id)
            if key in by_cap:
                raise InvalidHierarchy(
                    f"Contract {cap.child_contract_id} has two budget caps in {cap.credit_type.name}: keep one."
                )
            by_cap[key] = cap
        object.__setattr__(self, "children", children)
        object.__setattr__(self, "caps", caps)
        object.__setattr__(self, "_by_child", MappingProxyType(by_child))
        object.__setattr__(self, "_caps", MappingProxyType(by_cap))

    def child(self, contract_id: str) -> ChildContract | None:
        """The child relation of ``contract_id``, or None when it has no parent."""
        return self._by_child.get(contract_id)

    def parent_of(self, contract_id: str) -> str | None:
        """The parent contract id of ``contract_id``, or None when it has no parent."""
        child = self._by_child.get(contract_id)
        return None if child is None else child.parent_contract_id

    def payer_of(self, contract_id: str) -> str:
        """The contract whose invoice carries ``contract_id``'s charges and overage."""
        child = self._by_child.get(contract_id)
        if child is None or child.payer is Payer.SELF:
            return contract_id
        return child.parent_contract_id

    def children_of(self, parent_contract_id: str) -> tuple[ChildContract, ...]:
        """The children of ``parent_contract_id``, by contract id."""
        return tuple(c for c in self.children if c.parent_contract_id == parent_contract_id)

    def cap_for(self, child_contract_id: str, credit_type: CreditType) -> BudgetCap | None:
        """The budget cap of a child in a credit type, or None when its draws are not capped."""
        return self._caps.get((child_contract_id, credit_type.id))


NO_HIERARCHY = Hierarchy()
"""A hierarchy without parents, children or caps: every contract stands alone."""


@dataclass(frozen=True, slots=True)
class StatementGroup:
    """One contract's usage in one credit type on a parent's consolidated statement."""

    contract_id: str
    is_parent: bool
    payer_contract_id: str
    credit_type: CreditType
    charged: Decimal
    from_own_grants: Decimal
    from_shared_commit: Decimal
    overage: Decimal
    blocked: Decimal


@dataclass(frozen=True, slots=True)
class StatementTotal:
    """The totals of a consolidated statement in one credit type.

    ``overage_billed_to_parent`` is the part of the overage that the parent
    pays: its own, and that of children whose payer is the parent.
    """

    credit_type: CreditType
    charged: Decimal
    from_own_grants: Decimal
    from_shared_commit: Decimal
    overage: Decimal
    blocked: Decimal
    overage_billed_to_parent: Decimal


@dataclass(frozen=True, slots=True)
class ConsolidatedStatement:
    """A parent's usage statement grouped by contract: its own usage, then each consolidated child."""

    parent_contract_id: str
    groups: tuple[StatementGroup, ...]
    totals: tuple[StatementTotal, ...]

    def group(self, contract_id: str, credit_type: CreditType) -> StatementGroup | None:
        """The group of one contract in one credit type, or None when it had no charges in it."""
        for group in self.groups:
            if group.contract_id == contract_id and group.credit_type == credit_type:
                return group
        return None


def consolidated_statement(
    parent_contract_id: str, hierarchy: Hierarchy, result: BurnDownResult
) -> ConsolidatedStatement:
    """The consolidated statement of ``parent_contract_id`` from a burn-down result.

    Only contracts with charges in ``result`` get a group; amounts are at full
    precision (an invoice rounds them once per line).
    """
    if hierarchy.child(parent_contract_id) is not None:
        raise InvalidHierarchy(
            f"Contract {parent_contract_id} is a child contract: ask for its parent's consolidated statement."
        )
    members = {parent_contract_id} | {
        c.contract_id for c in hierarchy.children_of(parent_contract_id) if c.statement is StatementMode.CONSOLIDATED
    }
    sums: dict[tuple[str, str], list[Decimal]] = {}
    credit_types: dict[str, CreditType] = {}
    with exact_arithmetic():
        for drawn in result.drawn:
            contract_id = drawn.charge.contract_id
            if contract_id not in members:
                continue
            credit_type = drawn.charge.credit_type
            credit_types[credit_type.id] = credit_type
            row = sums.setdefault((contract_id, credit_type.id), [ZERO] * 5)
            figures = (drawn.charge.amount, *drawn.drawn_from_own_and_shared(), drawn.overage, drawn.blocked)
            for i, figure in enumerate(figures):
                row[i] += figure
        groups = tuple(
            StatementGroup(
                contract_id=contract_id,
                is_parent=contract_id == parent_contract_id,
                payer_contract_id=hierarchy.payer_of(contract_id),
                credit_type=credit_types[type_id],
                charged=row[0],
                from_own_grants=row[1],
                from_shared_commit=row[2],
                overage=row[3],
                blocked=row[4],
            )
            for (contract_id, type_id), row in sorted(
                sums.items(), key=lambda item: (item[0][0] != parent_contract_id, item[0])
            )
        )
        totals = tuple(_total(credit_types[type_id], groups, parent_contract_id) for type_id in sorted(credit_types))
    return ConsolidatedStatement(parent_contract_id=parent_contract_id, groups=groups, totals=totals)


def _total(credit_type: CreditType, groups: Iterable[StatementGroup], parent_contract_id: str) -> StatementTotal:
    mine = [g for g in groups if g.credit_type.id == credit_type.id]
    return StatementTotal(
        credit_type=credit_type,
        charged=sum((g.charged for g in mine), ZERO),
        from_own_grants=sum((g.from_own_grants for g in mine), ZERO),
        from_shared_commit=sum((g.from_shared_commit for g in mine), ZERO),
        overage=sum((g.overage for g in mine), ZERO),
        blocked=sum((g.blocked for g in mine), ZERO),
        overage_billed_to_parent=sum((g.overage for g in mine if g.payer_contract_id == parent_contract_id), ZERO),
    )
