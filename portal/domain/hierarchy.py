"""Account hierarchy: trees of contracts (enterprise -> division -> department), who pays, budget caps, the
consolidated statement.

Rules (see ``portal/domain/README.md``):

* A contract may have child contracts (divisions, departments, teams), and
  a child may have children of its own: a family is a **tree** of any depth
  under one root. A contract has at most one parent; a contract cannot be
  its own parent, nor its own ancestor (a cycle of parents is refused,
  naming its contracts). The **ancestors** of a contract are its parent,
  its parent's parent, ... up to the root (nearest first); its
  **descendants** are everything under it, at every level.
* Each child has a **payer**: ``SELF`` (the child pays its own overage, on
  its own invoice) or ``PARENT`` (the child's charges and overage go to its
  parent's payer: ``PARENT`` rolls up, level by level, until a contract that
  pays for itself, or the root). Each child's usage **statement** is either
  ``CONSOLIDATED`` into its parent's statement or kept ``SEPARATE``.
* A charge is drawn first from its own contract's grants (its seats', then
  its contract's, then its own shared ones), then from the **shared**
  commits of its ancestors that admit it, the nearest ancestor's first
  (child access ``ALL`` admits every contract below the holder, at any
  level; a list admits the contracts it names, at any level; ``NONE``
  admits none), and what is left is overage billed to the payer.
* A **budget cap** on a contract X (any contract that has a parent) limits
  how much X and all its descendants *together* may draw from the shared
  commits held by X's strict ancestors, in each billing period of the cap's
  calendar (anchored on the cap's anchor, monthly by default), per credit
  type. Draws already on the ledger in that period count. A charge of C
  drawing on a shared commit held by its ancestor A is limited by the cap
  of every contract from C up to, but not including, A: it takes the least
  of what is left of the commit, of the charge, and of each such cap's
  room, and the draw counts against every one of those caps (a cap on A or
  above does not limit draws on A's own commits). When a charge that such a
  commit would pay for is still not covered and one of those caps is used
  up, the cap that bound (the nearest to C among the used-up ones) decides
  what happens to the rest of that charge:

  - ``OVERAGE``: the rest is overage, billed to the charge's payer;
  - ``BLOCK``: the rest is *blocked*: reported, neither billed nor drawn.

  A charge left uncovered because the shared commits themselves ran out
  (while every cap on the way still had room) is overage, whatever the cap
  behaviours. For a one-level family (a parent and its children) this is
  the child's own cap on its parent's shared commits.
* The **consolidated statement** of a contract with children (the root, or
  a division) lists, per contract and per credit type: what was charged,
  what the contract's own grants paid, what shared commits paid, the
  overage and the blocked usage, with totals. Its members are the contract
  itself and every descendant reachable through ``CONSOLIDATED`` children (a
  ``SEPARATE`` child and everything under it is left out), in a depth-first
  walk: the contract's own rows first, then each child by contract id,
  each followed by its own members. Each row carries its contract's parent
  and depth below the statement's contract (0 for its own rows).
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
    """Who pays a child contract's charges and overage: itself, or its parent's payer (rolling up)."""

    SELF = "self"
    PARENT = "parent"


class StatementMode(Enum):
    """Whether a child's usage statement (and its descendants') is folded into the parent's."""

    CONSOLIDATED = "consolidated"
    SEPARATE = "separate"


class CapBehaviour(Enum):
    """What happens to uncovered usage once the budget cap that limits it is used up."""

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
    """How much one child and everything under it may draw, together, per period and in one credit type, from
    the shared commits of the child's ancestors (its parent's, its grandparent's, ...).

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
    """The parent/child relations and budget caps that a burn-down must respect: a forest of contract trees.

    Children and caps are kept sorted, so two hierarchies built from the same
    relations in another order are equal. Everything a burn-down asks per
    charge (ancestors, payer, the caps on a path) is worked out once here.
    """

    children: tuple[ChildContract, ...] = ()
    caps: tuple[BudgetCap, ...] = ()
    _by_child: Mapping[str, ChildContract] = field(init=False, repr=False, compare=False)
    _caps: Mapping[tuple[str, str], BudgetCap] = field(init=False, repr=False, compare=False)
    _children_of: Mapping[str, tuple[ChildContract, ...]] = field(init=False, repr=False, compare=False)
    _ancestors: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _descendants: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _payers: Mapping[str, str] = field(init=False, repr=False, compare=False)
    _under_cap: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        children = tuple(sorted(self.children, key=lambda c: c.contract_id))
        by_child: dict[str, ChildContract] = {}
        for child in children:
            if child.contract_id in by_child:
                raise InvalidHierarchy(
                    f"Contract {child.contract_id} is listed as a child twice: a contract has one parent."
                )
            by_child[child.contract_id] = child
        ancestors = _ancestors(by_child)
        children_of: dict[str, list[ChildContract]] = {}
        descendants: dict[str, list[str]] = {}
        for child in children:
            children_of.setdefault(child.parent_contract_id, []).append(child)
            for ancestor in ancestors[child.contract_id]:
                descendants.setdefault(ancestor, []).append(child.contract_id)  # children come sorted by id
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
        capped = {cap.child_contract_id for cap in caps}
        payers: dict[str, str] = {}
        for child in children:
            payer = own = child.contract_id
            above = ancestors[own]
            for holder, ancestor in zip((own, *above), above, strict=False):
                if by_child[holder].payer is Payer.SELF:
                    break
                payer = ancestor
            payers[child.contract_id] = payer
        under_cap = frozenset(c for c in by_child if c in capped or not capped.isdisjoint(ancestors[c]))
        object.__setattr__(self, "children", children)
        object.__setattr__(self, "caps", caps)
        object.__setattr__(self, "_by_child", MappingProxyType(by_child))
        object.__setattr__(self, "_caps", MappingProxyType(by_cap))
        object.__setattr__(self, "_children_of", MappingProxyType({p: tuple(c) for p, c in children_of.items()}))
        object.__setattr__(self, "_ancestors", MappingProxyType(ancestors))
        object.__setattr__(self, "_descendants", MappingProxyType({a: tuple(d) for a, d in descendants.items()}))
        object.__setattr__(self, "_payers", MappingProxyType(payers))
        object.__setattr__(self, "_under_cap", under_cap)

    def child(self, contract_id: str) -> ChildContract | None:
        """The child relation of ``contract_id``, or None when it has no parent."""
        return self._by_child.get(contract_id)

    def parent_of(self, contract_id: str) -> str | None:
        """The parent contract id of ``contract_id``, or None when it has no parent."""
        child = self._by_child.get(contract_id)
        return None if child is None else child.parent_contract_id

    def ancestors_of(self, contract_id: str) -> tuple[str, ...]:
        """The strict ancestors of ``contract_id``, nearest first: its parent, its grandparent, ..., its root."""
        return self._ancestors.get(contract_id, ())

    def descendants_of(self, contract_id: str) -> tuple[str, ...]:
        """Every contract under ``contract_id`` (children, their children, ...), by contract id."""
        return self._descendants.get(contract_id, ())

    def root_of(self, contract_id: str) -> str:
        """The contract at the top of ``contract_id``'s tree (``contract_id`` itself when it has no parent)."""
        ancestors = self._ancestors.get(contract_id)
        return ancestors[-1] if ancestors else contract_id

    def depth_of(self, contract_id: str) -> int:
        """How many levels ``contract_id`` is below its root: 0 for a root, 1 for a child, 2 for a grandchild."""
        return len(self._ancestors.get(contract_id, ()))

    def distance(self, holder_contract_id: str, contract_id: str) -> int | None:
        """How many levels ``holder_contract_id`` is above ``contract_id``: 0 for the contract itself, 1 for its
        parent, 2 for its grandparent; None when it is neither the contract nor one of its ancestors."""
        if holder_contract_id == contract_id:
            return 0
        ancestors = self._ancestors.get(contract_id, ())
        return ancestors.index(holder_contract_id) + 1 if holder_contract_id in ancestors else None

    def payer_of(self, contract_id: str) -> str:
        """The contract whose invoice carries ``contract_id``'s charges and overage.

        ``SELF`` pays for itself; ``PARENT`` rolls up to the parent's payer,
        up to the first contract that pays for itself (or the root).
        """
        return self._payers.get(contract_id, contract_id)

    def children_of(self, parent_contract_id: str) -> tuple[ChildContract, ...]:
        """The children of ``parent_contract_id``, by contract id."""
        return self._children_of.get(parent_contract_id, ())

    def cap_for(self, child_contract_id: str, credit_type: CreditType) -> BudgetCap | None:
        """The budget cap of a child in a credit type, or None when its draws are not capped."""
        return self._caps.get((child_contract_id, credit_type.id))

    @property
    def contracts_under_caps(self) -> frozenset[str]:
        """The contracts that have a budget cap, or an ancestor with one (in any credit type)."""
        return self._under_cap

    def caps_between(self, contract_id: str, holder_contract_id: str, credit_type: CreditType) -> tuple[BudgetCap, ...]:
        """The budget caps in ``credit_type`` that limit a draw by ``contract_id`` on a shared grant held by its
        ancestor ``holder_contract_id``: those of the contracts from ``contract_id`` up to, but not including, the
        holder, nearest first (none for the contract's own grants, or a holder that is not an ancestor)."""
        ancestors = self._ancestors.get(contract_id, ())
        if holder_contract_id not in ancestors:
            return ()
        path = (contract_id, *ancestors[: ancestors.index(holder_contract_id)])
        found = (self._caps.get((c, credit_type.id)) for c in path)
        return tuple(cap for cap in found if cap is not None)


def _ancestors(by_child: Mapping[str, ChildContract]) -> dict[str, tuple[str, ...]]:
    """Each child's strict ancestors, nearest first; a cycle of parents is refused, naming its contracts."""
    ancestors: dict[str, tuple[str, ...]] = {}
    for start in by_child:
        path: list[str] = []
        on_path: set[str] = set()
        contract_id = start
        while contract_id in by_child and contract_id not in ancestors:
            if contract_id in on_path:
                cycle = path[path.index(contract_id) :]
                first = cycle.index(min(cycle))
                cycle = cycle[first:] + cycle[:first]
                links = ", ".join(f"{c}'s parent is {by_child[c].parent_contract_id}" for c in cycle)
                raise InvalidHierarchy(
                    f"Contracts {', '.join(cycle)} form a cycle ({links}): a contract cannot be its own ancestor; "
                    "remove one of these parent relations."
                )
            path.append(contract_id)
            on_path.add(contract_id)
            contract_id = by_child[contract_id].parent_contract_id
        above = (contract_id, *ancestors.get(contract_id, ()))  # a root has no entry: nothing above it
        for contract_id in reversed(path):
            ancestors[contract_id] = above
            above = (contract_id, *above)
    return ancestors


NO_HIERARCHY = Hierarchy()
"""A hierarchy without parents, children or caps: every contract stands alone."""


@dataclass(frozen=True, slots=True)
class StatementGroup:
    """One contract's usage in one credit type on a consolidated statement.

    ``is_parent`` is True for the statement's own contract; ``parent_contract_id``
    is the member's parent (None for the statement's own contract) and
    ``depth`` how many levels it is below the statement's own contract (0 for
    it, 1 for its children, 2 for theirs), so that departments can be shown
    indented under their divisions.
    """

    contract_id: str
    is_parent: bool
    payer_contract_id: str
    credit_type: CreditType
    charged: Decimal
    from_own_grants: Decimal
    from_shared_commit: Decimal
    overage: Decimal
    blocked: Decimal
    parent_contract_id: str | None = None
    depth: int = 0


@dataclass(frozen=True, slots=True)
class StatementTotal:
    """The totals of a consolidated statement in one credit type.

    ``overage_billed_to_parent`` is the part of the overage that the
    statement's own contract pays: its own, and that of every member whose
    payer it is (directly, or rolled up through ``PARENT`` payers).
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
    """A contract's usage statement grouped by contract: its own usage, then each consolidated member in a
    depth-first walk (children by contract id, each followed by its own consolidated descendants)."""

    parent_contract_id: str
    groups: tuple[StatementGroup, ...]
    totals: tuple[StatementTotal, ...]

    def group(self, contract_id: str, credit_type: CreditType) -> StatementGroup | None:
        """The group of one contract in one credit type, or None when it had no charges in it."""
        for group in self.groups:
            if group.contract_id == contract_id and group.credit_type == credit_type:
                return group
        return None


def statement_members(contract_id: str, hierarchy: Hierarchy) -> tuple[tuple[str, str | None, int], ...]:
    """The members of ``contract_id``'s consolidated statement, as (contract, parent, depth) in a depth-first walk:
    the contract itself (no parent, depth 0), then each ``CONSOLIDATED`` child by contract id, each followed by
    its own consolidated members. A ``SEPARATE`` child and everything under it is left out."""
    members: list[tuple[str, str | None, int]] = []
    stack: list[tuple[str, str | None, int]] = [(contract_id, None, 0)]
    while stack:
        member = stack.pop()
        members.append(member)
        kids = hierarchy.children_of(member[0])
        stack.extend(
            (kid.contract_id, member[0], member[2] + 1)
            for kid in reversed(kids)
            if kid.statement is StatementMode.CONSOLIDATED
        )
    return tuple(members)


def consolidated_statement(
    parent_contract_id: str, hierarchy: Hierarchy, result: BurnDownResult
) -> ConsolidatedStatement:
    """The consolidated statement of ``parent_contract_id`` (a root, or any contract with children) from a
    burn-down result.

    Only contracts with charges in ``result`` get a group; amounts are at full
    precision (an invoice rounds them once per line).
    """
    if hierarchy.child(parent_contract_id) is not None and not hierarchy.children_of(parent_contract_id):
        raise InvalidHierarchy(
            f"Contract {parent_contract_id} is a child contract without children of its own: "
            "ask for its parent's consolidated statement."
        )
    members = statement_members(parent_contract_id, hierarchy)
    place = {contract_id: n for n, (contract_id, _, _) in enumerate(members)}
    sums: dict[tuple[str, str], list[Decimal]] = {}
    credit_types: dict[str, CreditType] = {}
    with exact_arithmetic():
        for drawn in result.drawn:
            contract_id = drawn.charge.contract_id
            if contract_id not in place:
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
                parent_contract_id=members[place[contract_id]][1],
                depth=members[place[contract_id]][2],
            )
            for (contract_id, type_id), row in sorted(sums.items(), key=lambda item: (place[item[0][0]], item[0][1]))
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
