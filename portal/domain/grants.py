"""Grants (prepaid commits and free credits) and burn-down: which grant pays for which charge.

Rules (see ``portal/domain/README.md``):

* A **grant** is a balance a customer can draw from: a ``COMMIT`` (prepaid,
  paid for) or a ``CREDIT`` (free). It has an amount in one credit type, a
  start (``starting_at``), an optional expiry (``ending_before``; none means
  it never expires), a priority (a lower number is drawn first), optionally
  the products it may pay for (none means all products), and a scope:
  one ``SEAT`` of a contract, the whole ``CONTRACT``, or ``SHARED`` (a
  commit shared with the contracts below its holder, see ``hierarchy.py``).
* A grant **applies** to a charge when all of these hold:

  1. the grant and the charge are in the same credit type (dollars pay for
     dollars, AI credits for AI credits);
  2. the grant is active at the charge's instant:
     ``starting_at <= charge time < ending_before``;
  3. the charge's product is one of the grant's products (or the grant is
     for all products);
  4. the scope matches: a seat grant pays only for charges of its contract
     attributed to that seat; a contract grant for any charge of its
     contract; a shared grant for its own contract's charges and for the
     charges of each contract below it (a child, a grandchild, ... at any
     level) that its child access admits (``ALL`` admits all of them; a
     list admits the contracts it names, at any level; ``NONE`` admits none).

* **Burn-down order.** Among the grants that apply to a charge, the charge
  is drawn first from the grant that comes first by, in this order:

  1. narrowest scope: the seat's own grant, then the contract's own grants
     (its contract grants, then its own shared grants), then its parent's
     shared grants, then its grandparent's, ... (the nearest ancestor first:
     nearness comes before every criterion below);
  2. lower ``priority`` number;
  3. free credits before paid commits;
  4. fewer applicable products (a grant for all products comes last);
  5. earliest expiry (a grant that never expires comes last);
  6. earliest ``starting_at``;
  7. grant id (a stable tie-break).

  This is :func:`burn_down_order_key` (the holder's distance above the
  charge's contract, then :func:`burn_down_key` for criteria 1 to 7). Each
  deduction says why its grant came first, naming the rule that put it
  ahead of each later grant ("the nearer ancestor's shared grant comes
  first, east's before root's").
* **Burn-down.** Charges are taken in order of time, then charge id (so the
  result does not depend on the order usage arrived in). Each charge takes
  as much as it can from the first applicable grant, then the next, and so
  on. A grant never goes below zero. What no grant covers is **overage**,
  billed in arrears to the payer (the charge's contract, or the payer its
  ``PARENT`` payers roll up to). A draw on an ancestor's shared commit is
  limited by the budget cap of every contract from the charge's contract up
  to (not including) the holder, and counts against each of them; when a
  used-up cap left the charge uncovered, the nearest such cap decides
  whether the rest is overage or *blocked* (not billed, not drawn).
* For every charge: amount = deductions + overage + blocked, exactly, at
  full precision.
* Every movement is written to the append-only ledger (``ledger.py``): a
  ``GRANT_START`` entry when a grant is first seen, a ``USAGE`` entry per
  deduction, and an ``EXPIRY`` entry that zeroes what is left of a grant
  once it has expired. A charge draws from what is left of a grant after
  everything already on its ledger. A charge that already has usage entries
  on the ledger is refused, so re-running a burn-down cannot draw twice.
* Overage in a custom credit unit is billed in the unit's currency at the
  unit's price (units × price per unit), with
  :meth:`portal.domain.money.CreditType.to_money`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache

from portal.domain.charges import Charge, charge_order
from portal.domain.errors import InvalidBurnDown, InvalidGrant, InvalidLedgerEntry
from portal.domain.hierarchy import NO_HIERARCHY, BudgetCap, CapBehaviour, Hierarchy
from portal.domain.ledger import EntryKind, LedgerEntry, ledger_order
from portal.domain.money import ZERO, CreditType, Money, exact_arithmetic, to_decimal
from portal.domain.periods import Period, ensure_utc
from portal.domain.records import builder


class GrantKind(Enum):
    """Whether the customer paid for a grant."""

    COMMIT = "commit"
    """Prepaid: the customer paid for this balance."""
    CREDIT = "credit"
    """Free: given by a package, a promotion or staff."""


class GrantScope(Enum):
    """Whose charges a grant may pay for."""

    SEAT = "seat"
    CONTRACT = "contract"
    SHARED = "shared"


class ChildAccess(Enum):
    """Which contracts below its holder may draw on a shared grant (or a tuple of contract ids, at any level)."""

    ALL = "all"
    NONE = "none"


class GrantSource(Enum):
    """Why a grant exists."""

    PACKAGE_RECURRENCE = "package_recurrence"
    PURCHASE = "purchase"
    TOP_UP = "top_up"
    MANUAL = "manual"
    MIGRATION = "migration"


DEFAULT_PRIORITY = 100
"""Priority of a grant that was not given one; leaves room to rank grants before and after it."""


@dataclass(frozen=True, slots=True)
class Grant:
    """A commit or credit a customer can draw from; see the module rules.

    ``seat_id`` is required for (and only allowed on) a ``SEAT`` grant.
    ``child_access`` is only for a ``SHARED`` grant: ``ChildAccess.ALL``
    (the default), ``ChildAccess.NONE``, or a tuple of the ids of contracts
    below the holder (children, grandchildren, ...).
    ``applicable_product_ids`` and a child-access tuple are kept sorted.
    """

    id: str
    contract_id: str
    kind: GrantKind
    credit_type: CreditType
    amount: Decimal
    starting_at: datetime
    ending_before: datetime | None = None
    priority: int = DEFAULT_PRIORITY
    applicable_product_ids: tuple[str, ...] | None = None
    scope: GrantScope = GrantScope.CONTRACT
    seat_id: str | None = None
    child_access: ChildAccess | tuple[str, ...] | None = None
    source: GrantSource = GrantSource.MANUAL

    def __post_init__(self) -> None:
        if not self.id:
            raise InvalidGrant("A grant needs an id.")
        if not self.contract_id:
            raise InvalidGrant(f"Grant {self.id} needs the contract it belongs to.")
        amount = self.amount
        if not (isinstance(amount, Decimal) and amount.is_finite()):
            amount = to_decimal(amount, f"amount of grant {self.id}")
            object.__setattr__(self, "amount", amount)
        if amount < ZERO:
            raise InvalidGrant(f"Grant {self.id} has amount {amount}: a grant's amount is zero or more.")
        if self.starting_at.tzinfo is not UTC:
            object.__setattr__(self, "starting_at", ensure_utc(self.starting_at, f"start of grant {self.id}"))
        ending = self.ending_before
        if ending is not None:
            if ending.tzinfo is not UTC:
                ending = ensure_utc(ending, f"expiry of grant {self.id}")
                object.__setattr__(self, "ending_before", ending)
            if ending <= self.starting_at:
                raise InvalidGrant(
                    f"Grant {self.id} expires ({ending.isoformat()}) before it starts "
                    f"({self.starting_at.isoformat()}): set an expiry after the start, or none."
                )
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise InvalidGrant(f"Grant {self.id} has priority {self.priority!r}: a priority is a whole number.")
        self._check_products()
        self._check_scope()

    def _check_products(self) -> None:
        if self.applicable_product_ids is None:
            return
        products = tuple(sorted(set(self.applicable_product_ids)))
        if not products:
            raise InvalidGrant(
                f"Grant {self.id} lists no applicable products, so it could never be used: "
                "list at least one product, or leave it empty (None) for all products."
            )
        object.__setattr__(self, "applicable_product_ids", products)

    def _check_scope(self) -> None:
        if self.scope is GrantScope.SEAT and not self.seat_id:
            raise InvalidGrant(f"Grant {self.id} is a seat grant: give the seat id it belongs to.")
        if self.scope is not GrantScope.SEAT and self.seat_id is not None:
            raise InvalidGrant(
                f"Grant {self.id} names seat {self.seat_id} but its scope is {self.scope.value}: "
                "use the SEAT scope, or leave the seat out."
            )
        if self.scope is not GrantScope.SHARED:
            if self.child_access is not None:
                raise InvalidGrant(
                    f"Grant {self.id} sets child access but is not shared: only a SHARED grant is open to children."
                )
            return
        if self.child_access is None:
            object.__setattr__(self, "child_access", ChildAccess.ALL)
        elif isinstance(self.child_access, tuple):
            children = tuple(sorted(set(self.child_access)))
            if not children:
                raise InvalidGrant(
                    f"Grant {self.id} gives access to an empty list of children: use ChildAccess.NONE to close it "
                    "to all children, or list the child contracts."
                )
            object.__setattr__(self, "child_access", children)

    def active_at(self, at: datetime) -> bool:
        """True when ``starting_at <= at < ending_before``."""
        return self.starting_at <= at and (self.ending_before is None or at < self.ending_before)

    def covers_product(self, product_id: str) -> bool:
        """True when the grant may pay for ``product_id``."""
        return self.applicable_product_ids is None or product_id in self.applicable_product_ids

    def admits_child(self, child_contract_id: str) -> bool:
        """True when this shared grant's child access lets ``child_contract_id`` draw on it.

        ``ALL`` admits every contract below the holder, at any level; a tuple
        admits the contracts it names, at any level; ``NONE`` admits none.
        (Whether the contract is below the holder at all is the hierarchy's
        part, see :func:`applies`.)
        """
        if self.scope is not GrantScope.SHARED:
            return False
        if isinstance(self.child_access, tuple):
            return child_contract_id in self.child_access
        return self.child_access is ChildAccess.ALL


def applies(grant: Grant, charge: Charge, hierarchy: Hierarchy = NO_HIERARCHY) -> bool:
    """True when ``grant`` may pay for ``charge`` (the four conditions in the module rules)."""
    if grant.credit_type != charge.credit_type or not grant.active_at(charge.at):
        return False
    if not grant.covers_product(charge.product_id):
        return False
    if grant.scope is GrantScope.SEAT:
        return grant.contract_id == charge.contract_id and grant.seat_id == charge.seat_id
    if grant.contract_id == charge.contract_id:
        return True
    return grant.contract_id in hierarchy.ancestors_of(charge.contract_id) and grant.admits_child(charge.contract_id)


_NEVER = datetime.max.replace(tzinfo=UTC)
_SCOPE_RANK = {GrantScope.SEAT: 0, GrantScope.CONTRACT: 1, GrantScope.SHARED: 2}
_SCOPE_LABEL = {GrantScope.SEAT: "seat grant", GrantScope.CONTRACT: "contract grant", GrantScope.SHARED: "shared grant"}
_KIND_RANK = {GrantKind.CREDIT: 0, GrantKind.COMMIT: 1}

BurnDownKey = tuple[int, int, int, tuple[int, int], tuple[int, datetime], datetime, str]
"""Scope rank, priority, kind rank, (all products?, product count), (never expires?, expiry), start, id."""


def burn_down_key(grant: Grant) -> BurnDownKey:
    """The burn-down order as one sort key: the grant with the smaller key is drawn first.

    Compares, in order: scope (seat, contract, shared), priority, free credit
    before paid commit, fewer applicable products, earliest expiry (never
    last), earliest start, grant id.
    """
    products = (1, 0) if grant.applicable_product_ids is None else (0, len(grant.applicable_product_ids))
    expiry = (1, _NEVER) if grant.ending_before is None else (0, grant.ending_before)
    return (
        _SCOPE_RANK[grant.scope],
        grant.priority,
        _KIND_RANK[grant.kind],
        products,
        expiry,
        grant.starting_at,
        grant.id,
    )


def burn_down_order_key(grant: Grant, contract_id: str, hierarchy: Hierarchy = NO_HIERARCHY) -> tuple[int, BurnDownKey]:
    """The burn-down order for a charge of ``contract_id`` as one sort key (for a grant that applies to it).

    The holder's distance comes first (0: the contract's own grants; 1: its
    parent's shared grants; 2: its grandparent's; ...), then :func:`burn_down_key`.
    Only shared grants are held above the contract, so this is: seat grants,
    contract grants, the contract's own shared grants, then the nearest
    ancestor's shared grants first.
    """
    distance = hierarchy.distance(grant.contract_id, contract_id)
    if distance is None:
        raise InvalidGrant(
            f"Grant {grant.id} belongs to {grant.contract_id}, which is neither {contract_id} nor one of its "
            "ancestors: it cannot pay for this contract's charges."
        )
    return distance, burn_down_key(grant)


def ordering_reason(first: Grant, later: Grant, contract_id: str | None = None) -> str:
    """The burn-down rule that puts ``first`` ahead of ``later`` (for a charge of ``contract_id``), in words."""
    return _ordering_reason(first, later, burn_down_key(first), burn_down_key(later), contract_id)


def _ordering_reason(first: Grant, later: Grant, a: BurnDownKey, b: BurnDownKey, contract_id: str | None = None) -> str:
    """:func:`ordering_reason` given the grants' burn-down keys."""
    if a[0] != b[0]:
        return f"{_SCOPE_LABEL[first.scope]} before {_SCOPE_LABEL[later.scope]}"
    if first.contract_id != later.contract_id:  # two shared grants of different holders: the nearer comes first
        if first.contract_id == contract_id:
            return f"{first.contract_id}'s own shared grant before its ancestor {later.contract_id}'s"
        return f"the nearer ancestor's shared grant comes first, {first.contract_id}'s before {later.contract_id}'s"
    if a[1] != b[1]:
        return f"priority {first.priority} before {later.priority}"
    if a[2] != b[2]:
        return "free credit before paid commit"
    if a[3] != b[3]:
        return f"{_products_label(first)} before {_products_label(later)}"
    if a[4] != b[4]:
        return f"{_expiry_label(first)} before {_expiry_label(later)}"
    if a[5] != b[5]:
        return f"started {_when(first.starting_at)} before {_when(later.starting_at)}"
    return f"grant id {first.id} before {later.id}"


def _products_label(grant: Grant) -> str:
    if grant.applicable_product_ids is None:
        return "all products"
    count = len(grant.applicable_product_ids)
    return f"{count} product" if count == 1 else f"{count} products"


def _expiry_label(grant: Grant) -> str:
    return "never expires" if grant.ending_before is None else f"expires {_when(grant.ending_before)}"


@lru_cache(maxsize=4096)
def _when(instant: datetime) -> str:
    """``instant`` in words (the same few instants recur in every explanation, so their text is kept)."""
    return f"{ensure_utc(instant):%Y-%m-%d %H:%M:%S} UTC"


@dataclass(frozen=True, slots=True)
class Deduction:
    """An amount of one charge paid by one grant, with why that grant came when it did."""

    charge_id: str
    grant_id: str
    amount: Decimal
    explanation: str
    scope: GrantScope


@dataclass(frozen=True, slots=True)
class ChargeOutcome:
    """How one charge was paid: deductions in burn-down order, then overage and blocked usage.

    ``payer_contract_id`` is the contract billed for the overage.
    ``explanation`` says why any part of the charge was not covered.
    """

    charge: Charge
    payer_contract_id: str
    deductions: tuple[Deduction, ...]
    overage: Decimal
    blocked: Decimal
    explanation: str

    @property
    def covered(self) -> Decimal:
        """What grants paid for this charge."""
        with exact_arithmetic():
            return sum((d.amount for d in self.deductions), ZERO)

    @property
    def drawn_from_own(self) -> Decimal:
        """What the seat and contract grants of the charge's own contract paid."""
        with exact_arithmetic():
            return sum((d.amount for d in self.deductions if d.scope is not GrantScope.SHARED), ZERO)

    @property
    def drawn_from_shared(self) -> Decimal:
        """What shared commits paid: the charge's own contract's, or its ancestors'."""
        with exact_arithmetic():
            return sum((d.amount for d in self.deductions if d.scope is GrantScope.SHARED), ZERO)

    @property
    def overage_money(self) -> Money:
        """The overage in the credit type's currency (units × price per unit for a custom credit)."""
        return self.charge.credit_type.to_money(self.overage)


@dataclass(frozen=True, slots=True)
class GrantBalance:
    """A grant's balance after a burn-down."""

    grant_id: str
    credit_type: CreditType
    amount: Decimal


@dataclass(frozen=True, slots=True)
class PayerOverage:
    """The overage one contract is billed, in one credit type."""

    payer_contract_id: str
    credit_type: CreditType
    amount: Decimal

    @property
    def money(self) -> Money:
        """The overage in the credit type's currency (units × price per unit for a custom credit)."""
        return self.credit_type.to_money(self.amount)


@dataclass(slots=True)
class DrawnCharge:
    """One charge after burn-down, in plain figures: what :class:`ChargeOutcome` is built from.

    ``draws`` are (grant, amount, explanation) in burn-down order;
    ``applicable`` says whether any grant applied; ``used_up`` is the
    child's budget when the charge found it used up.
    """

    charge: Charge
    payer_contract_id: str
    draws: list[tuple[Grant, Decimal, str]]
    overage: Decimal
    blocked: Decimal
    applicable: bool
    used_up: _Budget | None

    def drawn_from_own_and_shared(self) -> tuple[Decimal, Decimal]:
        """What the contract's own seat and contract grants paid, and what shared commits paid (sum exactly inside
        :func:`~portal.domain.money.exact_arithmetic`)."""
        own = shared = ZERO
        for grant, amount, _ in self.draws:
            if grant.scope is GrantScope.SHARED:
                shared += amount
            else:
                own += amount
        return own, shared

    def outcome(self) -> ChargeOutcome:
        """The charge's :class:`ChargeOutcome`, with the reason any part of it was not covered."""
        charge = self.charge
        deductions = tuple(Deduction(charge.id, g.id, amount, why, g.scope) for g, amount, why in self.draws)
        payer = self.payer_contract_id
        budget = self.used_up
        if not (self.overage or self.blocked):
            explanation = "covered by grants" if deductions else "nothing to pay"
        elif budget is not None:
            capped = budget.cap.child_contract_id
            whole = f"whole budget of {budget.cap.amount} for {budget.label}"
            if capped == charge.contract_id:
                spent = f"{capped} has drawn its {whole}"
            else:
                spent = f"{capped} and the contracts under it have drawn {capped}'s {whole}"
            blocks = budget.cap.behaviour is CapBehaviour.BLOCK
            explanation = f"{spent}: the rest is {'blocked, not billed' if blocks else f'billed to {payer}'}"
        else:
            reason = "the applicable grants ran out" if self.applicable else "no grant applies to this charge"
            explanation = f"{reason}: the rest is billed to {payer}"
        return ChargeOutcome(charge, payer, deductions, self.overage, self.blocked, explanation)


class BurnDownResult:
    """Outcome of a burn-down: per charge (in processing order), new ledger entries, closing balances.

    ``drawn`` holds each charge's figures; the :class:`ChargeOutcome`
    objects (with their explanations), the ledger entries and the closing
    balances are built from them the first time they are read, as drafting
    an invoice needs only the figures.
    """

    __slots__ = ("_balances", "_closing", "_entries", "_expiries", "_grants", "_outcomes", "_started", "drawn")

    def __init__(
        self,
        drawn: tuple[DrawnCharge, ...],
        started: tuple[Grant, ...],
        expiries: tuple[LedgerEntry, ...],
        grants: Iterable[Grant],
        balances: Mapping[str, Decimal],
    ) -> None:
        self.drawn = drawn
        self._started = started
        self._expiries = expiries
        self._grants = tuple(grants)
        self._balances = balances
        self._outcomes: tuple[ChargeOutcome, ...] | None = None
        self._closing: tuple[GrantBalance, ...] | None = None
        self._entries: tuple[LedgerEntry, ...] | None = None

    @property
    def new_entries(self) -> tuple[LedgerEntry, ...]:
        """The ledger entries of the burn-down, in ledger order: the start of each grant the ledger did not have,
        a ``USAGE`` entry per deduction, and the ``EXPIRY`` entries."""
        if self._entries is None:
            entries = [start_entry(grant) for grant in self._started]
            entries += [
                _entry(
                    grant.id,
                    _entry_time(d.charge.at),
                    EntryKind.USAGE,
                    -take,
                    d.charge.id,
                    d.charge.contract_id,
                    d.charge.seat_id,
                )
                for d in self.drawn
                for grant, take, _ in d.draws
            ]
            entries += self._expiries
            self._entries = tuple(sorted(entries, key=ledger_order))
        return self._entries

    @property
    def closing_balances(self) -> tuple[GrantBalance, ...]:
        """Each grant's balance after the burn-down, by grant id."""
        if self._closing is None:
            ordered = sorted(self._grants, key=_grant_id)
            self._closing = tuple(GrantBalance(g.id, g.credit_type, self._balances[g.id]) for g in ordered)
        return self._closing

    @property
    def outcomes(self) -> tuple[ChargeOutcome, ...]:
        """How each charge was paid, in processing order."""
        if self._outcomes is None:
            self._outcomes = tuple(d.outcome() for d in self.drawn)
        return self._outcomes

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BurnDownResult):
            return NotImplemented
        return (self.outcomes, self.new_entries, self.closing_balances) == (
            other.outcomes,
            other.new_entries,
            other.closing_balances,
        )

    def __hash__(self) -> int:
        return hash((self.outcomes, self.new_entries, self.closing_balances))

    def __repr__(self) -> str:
        return (
            f"BurnDownResult(outcomes={self.outcomes!r}, new_entries={self.new_entries!r}, "
            f"closing_balances={self.closing_balances!r})"
        )

    @property
    def deductions(self) -> tuple[Deduction, ...]:
        """Every deduction, charge by charge in processing order, each in burn-down order."""
        return tuple(d for outcome in self.outcomes for d in outcome.deductions)

    def outcome(self, charge_id: str) -> ChargeOutcome:
        """The outcome of one charge."""
        for drawn in self.drawn:
            if drawn.charge.id == charge_id:
                return drawn.outcome()
        raise InvalidBurnDown(f"Charge {charge_id} was not part of this burn-down.")

    def balance(self, grant_id: str) -> Decimal:
        """The closing balance of one grant."""
        for closing in self.closing_balances:
            if closing.grant_id == grant_id:
                return closing.amount
        raise InvalidGrant(f"Grant {grant_id} was not part of this burn-down.")

    def overage_by_payer(self) -> tuple[PayerOverage, ...]:
        """Overage summed per paying contract and credit type, by contract id then credit type id."""
        sums: dict[tuple[str, str], Decimal] = {}
        types: dict[str, CreditType] = {}
        with exact_arithmetic():
            for drawn in self.drawn:
                if drawn.overage:
                    key = (drawn.payer_contract_id, drawn.charge.credit_type.id)
                    types[key[1]] = drawn.charge.credit_type
                    sums[key] = sums.get(key, ZERO) + drawn.overage
        return tuple(PayerOverage(payer, types[type_id], amount) for (payer, type_id), amount in sorted(sums.items()))


_entry = builder(LedgerEntry)
"""Builds the ledger entries burn-down works out itself (a grant's start, a draw: both valid by construction)."""


def _entry_time(at: datetime) -> datetime:
    """A charge's instant as a ledger entry takes it (in UTC; a charge does not check its own)."""
    return at if at.tzinfo is UTC else ensure_utc(at, "ledger entry time")


_START_REFERENCES = {
    (kind, source): f"{kind.value} from {source.value}" for kind in GrantKind for source in GrantSource
}
"""The reference of a grant's start entry: ``commit from purchase``, ``credit from package_recurrence``, ..."""


def start_entry(grant: Grant) -> LedgerEntry:
    """The ``GRANT_START`` ledger entry of a grant: its amount, at its start."""
    return _entry(
        grant_id=grant.id,
        at=grant.starting_at,
        kind=EntryKind.GRANT_START,
        amount=grant.amount,
        reference=_START_REFERENCES[grant.kind, grant.source],
        contract_id=grant.contract_id,
        seat_id=grant.seat_id,
    )


def expiry_entries(grants: Iterable[Grant], ledger: Iterable[LedgerEntry], as_of: datetime) -> tuple[LedgerEntry, ...]:
    """``EXPIRY`` entries for grants that expired at or before ``as_of`` and have none yet.

    Each removes what the ledger says is left of the grant (zero when it was
    used up), dated at the grant's expiry.
    """
    as_of = ensure_utc(as_of, "expiry time")
    entries = tuple(ledger)
    expired = {e.grant_id for e in entries if e.kind is EntryKind.EXPIRY}
    left: dict[str, Decimal] = {}
    with exact_arithmetic():
        for entry in entries:
            left[entry.grant_id] = left.get(entry.grant_id, ZERO) + entry.amount
    return _expiries(grants, left, expired, as_of)


def _expiries(
    grants: Iterable[Grant], left: Mapping[str, Decimal], expired: Collection[str], as_of: datetime
) -> tuple[LedgerEntry, ...]:
    """:func:`expiry_entries` given what is ``left`` of each grant and which grants already ``expired``."""
    due = sorted(
        (g.ending_before, g.id, g)  # grant ids are unique: the grants themselves are never compared
        for g in grants
        if g.ending_before is not None and g.ending_before <= as_of and g.id not in expired
    )
    return tuple(
        LedgerEntry(
            grant_id=g.id,
            at=ending,
            kind=EntryKind.EXPIRY,
            amount=-left.get(g.id, ZERO),
            reference=f"expired {_when(ending)}",
            contract_id=g.contract_id,
            seat_id=g.seat_id,
        )
        for ending, _, g in due
    )


def budget_used(
    child_contract_id: str,
    credit_type: CreditType,
    period: Period,
    grants: Iterable[Grant],
    ledger: Iterable[LedgerEntry],
    hierarchy: Hierarchy,
) -> Decimal:
    """How much a capped contract and every contract under it drew, in ``credit_type`` during ``period``, from
    the shared grants held by its strict ancestors (what its budget cap counts). For a child without children,
    that is what it drew from its parent's (and grandparents') shared grants."""
    ancestors = set(hierarchy.ancestors_of(child_contract_id))
    shared = {
        g.id
        for g in grants
        if g.scope is GrantScope.SHARED and g.contract_id in ancestors and g.credit_type == credit_type
    }
    if not shared:
        return ZERO
    subtree = {child_contract_id, *hierarchy.descendants_of(child_contract_id)}
    with exact_arithmetic():
        return -sum(
            (
                e.amount
                for e in ledger
                if e.kind is EntryKind.USAGE
                and e.grant_id in shared
                and e.contract_id in subtree
                and period.contains(e.at)
            ),
            ZERO,
        )


def burn_down(
    charges: Iterable[Charge],
    grants: Iterable[Grant],
    ledger: Iterable[LedgerEntry] = (),
    hierarchy: Hierarchy = NO_HIERARCHY,
    as_of: datetime | None = None,
) -> BurnDownResult:
    """Draw each charge from the grants that apply to it, in burn-down order; see the module rules.

    ``ledger`` holds the entries already recorded (the opening balances);
    ledger entries of grants not given are ignored. ``as_of``, when given,
    is the instant up to which expired grants get their ``EXPIRY`` entry.
    """
    with exact_arithmetic():
        return _BurnDown(tuple(grants), tuple(ledger), hierarchy).run(charges, as_of)


class _BurnDown:
    """The state of one burn-down run: balances and cap draws move as charges are drawn."""

    def __init__(self, grants: tuple[Grant, ...], ledger: tuple[LedgerEntry, ...], hierarchy: Hierarchy) -> None:
        self.hierarchy = hierarchy
        self.grants: dict[str, Grant] = {}
        for grant in grants:
            if grant.id in self.grants:
                raise InvalidGrant(f"Two grants have the id {grant.id}: grant ids must be unique.")
            self.grants[grant.id] = grant
        self.keys = {g.id: burn_down_key(g) for g in grants}
        self.by_contract: dict[str, list[Grant]] = {}
        self.by_seat: dict[tuple[str, str | None], list[Grant]] = {}
        for grant in sorted(grants, key=lambda g: self.keys[g.id]):
            self.by_contract.setdefault(grant.contract_id, []).append(grant)
            if grant.scope is GrantScope.SEAT:
                self.by_seat.setdefault((grant.contract_id, grant.seat_id), []).append(grant)
        self.seated = {contract_id for contract_id, _ in self.by_seat}
        self.capped = hierarchy.contracts_under_caps
        self.opening = tuple(e for e in ledger if e.grant_id in self.grants)
        self.balances: dict[str, Decimal] = {}
        started: set[str] = set()
        self.drawn_charges: set[str] = set()
        self.expired: set[str] = set()
        for entry in self.opening:
            self.balances[entry.grant_id] = self.balances.get(entry.grant_id, ZERO) + entry.amount
            if entry.kind is EntryKind.GRANT_START:
                self._check_start(entry, started)
            elif entry.kind is EntryKind.USAGE:
                self.drawn_charges.add(entry.reference)
            elif entry.kind is EntryKind.EXPIRY:
                self.expired.add(entry.grant_id)
        self.started = tuple(g for g in sorted(grants, key=lambda g: (g.starting_at, g.id)) if g.id not in started)
        for grant in self.started:
            self.balances[grant.id] = self.balances.get(grant.id, ZERO) + grant.amount
        self.cap_drawn: dict[tuple[str, str, Period], Decimal] = {}
        self.candidates: dict[tuple[str, CreditType], tuple[Grant, ...]] = {}
        self.common: dict[tuple[str, str, str, datetime], _Applicable] = {}
        self.applicable: dict[tuple[str, str | None, str, str, datetime], _Applicable] = {}
        self.reasons: dict[tuple[str, str], str] = {}
        self.budgets: dict[tuple[str, str, datetime], tuple[_Budget, ...]] = {}
        self.caps_below: dict[tuple[str, str, str], int] = {}
        self.payers: dict[str, str] = {}

    def _check_start(self, entry: LedgerEntry, started: set[str]) -> None:
        grant = self.grants[entry.grant_id]
        if entry.grant_id in started:
            raise InvalidLedgerEntry(f"Grant {grant.id} has two start entries on the ledger: a grant starts once.")
        if entry.amount != grant.amount:
            raise InvalidLedgerEntry(
                f"Grant {grant.id} started with {entry.amount} on the ledger but its amount is now {grant.amount}: "
                "a grant's amount does not change; record the difference as an ADJUSTMENT entry."
            )
        started.add(entry.grant_id)

    def run(self, charges: Iterable[Charge], as_of: datetime | None) -> BurnDownResult:
        ordered = sorted(charges, key=charge_order)
        if len({charge.id for charge in ordered}) < len(ordered):
            raise InvalidBurnDown(
                f"Two charges have the id {_repeated(c.id for c in ordered)}: charge ids must be unique."
            )
        drawn = tuple([self._draw(charge) for charge in ordered])
        expiries: tuple[LedgerEntry, ...] = ()
        if as_of is not None:
            expiries = _expiries(self.grants.values(), self.balances, self.expired, ensure_utc(as_of, "expiry time"))
            for entry in expiries:
                self.balances[entry.grant_id] += entry.amount
        return BurnDownResult(drawn, self.started, expiries, self.grants.values(), self.balances)

    def _candidates(self, contract_id: str, credit_type: CreditType) -> tuple[Grant, ...]:
        """The contract's grants but seat grants, then its ancestors' shared ones (the nearest ancestor's first),
        in ``credit_type``, in burn-down order."""
        key = (contract_id, credit_type)
        cached = self.candidates.get(key)
        if cached is None:
            pool = [
                g
                for g in self.by_contract.get(contract_id, ())
                if g.scope is not GrantScope.SEAT and g.credit_type == credit_type
            ]
            for ancestor in self.hierarchy.ancestors_of(contract_id):  # each holder's grants are in key order
                pool += [
                    g
                    for g in self.by_contract.get(ancestor, ())
                    if g.scope is GrantScope.SHARED and g.credit_type == credit_type
                ]
            cached = self.candidates[key] = tuple(pool)
        return cached

    def _applicable(self, charge: Charge) -> _Applicable:
        """The grants that apply to the charge, in burn-down order: the seat's own grants (the narrowest scope comes
        first), then the others, which are the same for every seat (both cached: charges often share all that matters).
        """
        common_key = (charge.contract_id, charge.product_id, charge.credit_type.id, charge.at)
        common = self.common.get(common_key)
        if common is None:
            candidates = self._candidates(charge.contract_id, charge.credit_type)
            grants = tuple(g for g in candidates if applies(g, charge, self.hierarchy))
            common = self._applicable_of(grants, charge.contract_id)
            self.common[common_key] = common
        if charge.contract_id not in self.seated:
            return common
        key = (charge.contract_id, charge.seat_id, charge.product_id, charge.credit_type.id, charge.at)
        cached = self.applicable.get(key)
        if cached is None:
            seats = self.by_seat.get((charge.contract_id, charge.seat_id), ())
            own = tuple(g for g in seats if applies(g, charge, self.hierarchy)) if seats else ()
            cached = common if not own else self._applicable_of(own + common.grants, charge.contract_id)
            self.applicable[key] = cached
        return cached

    def _applicable_of(self, grants: tuple[Grant, ...], contract_id: str) -> _Applicable:
        """An :class:`_Applicable` of the contract's charges, with its payer and whether budget caps may limit it."""
        payer = self.payers.get(contract_id)
        if payer is None:
            payer = self.payers[contract_id] = self.hierarchy.payer_of(contract_id)
        return _Applicable(grants, contract_id, payer, contract_id in self.capped)

    def _reason(self, first: Grant, later: Grant, contract_id: str) -> str:
        """:func:`ordering_reason`, with the keys worked out once per grant and the words once per pair (of one
        holder: the words for two holders depend on whose charge it is)."""
        if first.contract_id != later.contract_id:
            return _ordering_reason(first, later, self.keys[first.id], self.keys[later.id], contract_id)
        key = (first.id, later.id)
        cached = self.reasons.get(key)
        if cached is None:
            cached = self.reasons[key] = _ordering_reason(first, later, self.keys[first.id], self.keys[later.id])
        return cached

    def _budgets(self, charge: Charge) -> tuple[_Budget, ...]:
        """The budget caps in the charge's credit type on the path from its contract up to its root (nearest
        first), each with the cap period of the charge: those that may limit its draws on ancestors' grants."""
        key = (charge.contract_id, charge.credit_type.id, charge.at)
        budgets = self.budgets.get(key)
        if budgets is None:
            root = self.hierarchy.root_of(charge.contract_id)
            caps = self.hierarchy.caps_between(charge.contract_id, root, charge.credit_type)
            budgets = self.budgets[key] = tuple(_Budget(cap, cap.period_containing(charge.at)) for cap in caps)
        return budgets

    def _caps_below(self, charge: Charge, grant: Grant) -> int:
        """How many of :meth:`_budgets` limit the charge's draws on ``grant``: the caps below the grant's holder."""
        key = (charge.contract_id, grant.contract_id, charge.credit_type.id)
        count = self.caps_below.get(key)
        if count is None:
            caps = self.hierarchy.caps_between(charge.contract_id, grant.contract_id, charge.credit_type)
            count = self.caps_below[key] = len(caps)
        return count

    def _explain(self, position: int, applicable: _Applicable) -> str:
        """:func:`_explain`, worked out once for each position in each list of applicable grants."""
        explanation = applicable.explanations[position]
        if explanation is None:
            contract_id = applicable.contract_id

            def reason(first: Grant, later: Grant) -> str:
                return self._reason(first, later, contract_id)

            explanation = applicable.explanations[position] = _explain(position, applicable.grants, reason)
        return explanation

    def _draw(self, charge: Charge) -> DrawnCharge:
        amount = charge.amount
        if not (isinstance(amount, Decimal) and amount.is_finite()):
            amount = to_decimal(amount, f"amount of charge {charge.id}")
        if amount < ZERO:
            raise InvalidBurnDown(
                f"Charge {charge.id} is {amount}: only charges of zero or more can be drawn from grants; "
                "bill a credit note or an ADJUSTMENT instead."
            )
        if charge.id in self.drawn_charges:
            raise InvalidBurnDown(
                f"Charge {charge.id} was already drawn from grants (the ledger has its usage entries): "
                "pass the ledger as it was before that charge, or leave the charge out."
            )
        contract_id = charge.contract_id
        if contract_id in self.seated:
            key = (contract_id, charge.seat_id, charge.product_id, charge.credit_type.id, charge.at)
            applicable = self.applicable.get(key) or self._applicable(charge)
        else:
            applicable = self.common.get((contract_id, charge.product_id, charge.credit_type.id, charge.at)) or (
                self._applicable(charge)
            )
        payer = applicable.payer
        if not applicable.grants or not amount:
            return DrawnCharge(charge, payer, [], amount if amount else ZERO, ZERO, bool(applicable.grants), None)
        if applicable.capped:
            budgets = self._budgets(charge)
            if budgets:
                return self._draw_capped(charge, amount, applicable, payer, budgets)
        balances = self.balances
        remaining = amount
        draws: list[tuple[Grant, Decimal, str]] = []
        for position, grant in enumerate(applicable.grants):
            available = balances[grant.id]
            take = remaining if remaining < available else available
            if take <= ZERO:
                continue
            remaining -= take
            balances[grant.id] = available - take
            draws.append((grant, take, applicable.explanations[position] or self._explain(position, applicable)))
            if not remaining:
                return DrawnCharge(charge, payer, draws, ZERO, ZERO, True, None)
        return DrawnCharge(charge, payer, draws, remaining, ZERO, True, None)

    def _draw_capped(
        self, charge: Charge, amount: Decimal, applicable: _Applicable, payer: str, budgets: tuple[_Budget, ...]
    ) -> DrawnCharge:
        """:meth:`_draw` for a charge whose draws on its ancestors' shared grants budget caps limit.

        A draw on a grant held by an ancestor takes at most the room left under
        every cap below that holder (``budgets`` holds the path's caps, nearest
        first) and counts against each of them.
        """
        remaining = amount
        reach = 0  # how many of the path's caps limit some applicable grant
        draws: list[tuple[Grant, Decimal, str]] = []
        for position, grant in enumerate(applicable.grants):
            if remaining == 0:
                break
            available = self.balances[grant.id]
            below = self._caps_below(charge, grant) if grant.contract_id != charge.contract_id else 0
            note = ""
            if below:
                reach = max(reach, below)
                binding, room = budgets[0], budgets[0].cap.amount - self._cap_drawn(budgets[0])
                for budget in budgets[1:below]:
                    left = budget.cap.amount - self._cap_drawn(budget)
                    if left < room:
                        binding, room = budget, left
                room = max(room, ZERO)
                if room < min(available, remaining):
                    cap = binding.cap
                    note = f"; capped by {cap.child_contract_id}'s budget of {cap.amount} for {binding.label}"
                available = min(available, room)
            take = min(available, remaining)
            if take <= 0:
                continue
            remaining -= take
            for budget in budgets[:below]:
                self.cap_drawn[budget.key] = self._cap_drawn(budget) + take
            self.balances[grant.id] -= take
            draws.append((grant, take, self._explain(position, applicable) + note))
        if remaining == 0:
            return DrawnCharge(charge, payer, draws, ZERO, ZERO, True, None)
        used_up = next((b for b in budgets[:reach] if self._cap_drawn(b) >= b.cap.amount), None)
        if used_up is not None and used_up.cap.behaviour is CapBehaviour.BLOCK:
            return DrawnCharge(charge, payer, draws, ZERO, remaining, True, used_up)
        return DrawnCharge(charge, payer, draws, remaining, ZERO, True, used_up)

    def _cap_drawn(self, budget: _Budget) -> Decimal:
        """What the capped contract and the contracts under it drew on its ancestors' shared grants in the cap
        period (the ledger's draws, then this run's)."""
        drawn = self.cap_drawn.get(budget.key)
        if drawn is None:
            cap = budget.cap
            drawn = budget_used(
                cap.child_contract_id,
                cap.credit_type,
                budget.period,
                self.grants.values(),
                self.opening,
                self.hierarchy,
            )
            self.cap_drawn[budget.key] = drawn
        return drawn


def _repeated(ids: Iterable[str]) -> str | None:
    """The first id that comes again."""
    seen: set[str] = set()
    for charge_id in ids:
        if charge_id in seen:
            return charge_id
        seen.add(charge_id)
    return None


def _grant_id(grant: Grant) -> str:
    return grant.id


class _Applicable:
    """The grants that apply to some charges of one contract, in burn-down order, with why each came when it did
    (once worked out), who pays for what they leave uncovered and whether budget caps may limit their draws."""

    __slots__ = ("capped", "contract_id", "explanations", "grants", "payer")

    def __init__(self, grants: tuple[Grant, ...], contract_id: str, payer: str, capped: bool) -> None:
        self.grants = grants
        self.contract_id = contract_id
        self.payer = payer
        self.capped = capped
        self.explanations: list[str | None] = [None] * len(grants)


@dataclass(frozen=True, slots=True)
class _Budget:
    """A budget cap and the cap period a charge falls in; ``key`` names what has been drawn under it."""

    cap: BudgetCap
    period: Period
    key: tuple[str, str, Period] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.cap.child_contract_id, self.cap.credit_type.id, self.period))

    @property
    def label(self) -> str:
        return self.period.label()


def _explain(
    position: int, applicable: Sequence[Grant], reason: Callable[[Grant, Grant], str] = ordering_reason
) -> str:
    """Why ``applicable[position]`` was drawn when it was: what ran out before it, what it comes before.

    ``reason`` says why one grant comes before another (:func:`ordering_reason`).
    """
    if len(applicable) == 1:
        return "the only grant that applies to this charge"
    grant = applicable[position]
    head = f"#{position + 1} of {len(applicable)} applicable grants"
    if position:
        head += f", drawn after {', '.join(g.id for g in applicable[:position])} ran out"
    reasons: dict[str, list[str]] = {}
    for later in applicable[position + 1 :]:
        reasons.setdefault(reason(grant, later), []).append(later.id)
    if not reasons:
        return f"{head}; last in burn-down order"
    return f"{head}: " + "; ".join(f"{reason} ({', '.join(ids)})" for reason, ids in reasons.items())
