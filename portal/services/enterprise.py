"""Enterprise accounts: the tree of departments, their draw on the shared commitment, and their budgets.

An enterprise is a customer whose contract holds a shared commitment (a ``shared`` grant) or that has child
customers (departments, which may have departments of their own). Its admins see every department below them
with what it used this period, what it drew from commitments held above it, its own overage and its budget;
they create departments (inviting each one's admin), set budgets and move budget between departments.

A **budget** is a cap, per billing period, on how much a department and everything under it may draw from the
commitments held above it (stored as the department contract's budget cap in the commitment's credit type);
at the cap, the department's usage becomes overage billed to its payer, or (``block``) is refused at ingest.
Department admins see their own department and those under it, never their siblings, and cannot change their
own budget: only an admin of a customer above it (or staff) can. Every change is audited.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from sqlmodel import Session, col, select

from portal.db.loaders import Catalog
from portal.db.models import BudgetCapRow, Contract, ContractTerms, Customer, GrantRow, User, utcnow
from portal.db.uow import UnitOfWork
from portal.domain import invoicing
from portal.domain.errors import DomainError
from portal.domain.forecast import Forecast, forecast
from portal.domain.grants import DrawnCharge, Grant, GrantScope
from portal.domain.metrics import BucketedUsage, UsageSource
from portal.domain.money import ZERO, CreditType, bounded_decimal, to_decimal
from portal.domain.periods import Frequency, Period, billing_period_containing
from portal.services import audit, billing, local_accounts, members, payment_customers
from portal.services.billing import Rated
from portal.services.customers import MAX_DEPTH, ancestors, customers_under
from portal.services.errors import Forbidden, InvalidInput, NotFound
from portal.services.identity import Identity

BEHAVIOURS = ("overage", "block")
"""What happens when a department has drawn its whole budget: overage billed to its payer, or usage refused."""

PAYERS = ("self", "parent")
"""Who pays a department's overage: the department itself, or the customer above it."""

STATEMENTS = ("consolidated", "separate")
"""Whether a department's usage statement is folded into the statement of the customer above it."""

MAX_NAME = 200
"""The longest department name."""

FORECAST_DAYS = 7
"""Forecasts project the burn of this many trailing days (those inside the current billing period)."""


# --- views -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DepartmentFigures:
    """One department's figures this period, in the commitment's credit type (full precision)."""

    used: Decimal
    from_commitment: Decimal
    from_own_credits: Decimal
    overage: Decimal
    blocked: Decimal
    budget_drawn: Decimal
    """What the department and everything under it drew from commitments held above it (what its budget caps)."""


@dataclass(frozen=True, slots=True)
class DepartmentView:
    """A department (or the enterprise itself, at depth 0) with its budget and figures this period."""

    customer_id: str
    contract_id: str
    name: str
    depth: int
    parent_id: str | None
    payer: str
    statement: str
    """``consolidated`` or ``separate`` for a department; empty for a customer at the top of its tree."""
    members: int
    budget: Decimal | None
    behaviour: str
    figures: DepartmentFigures
    can_change_budget: bool
    forecast: Forecast | None
    """When the budget runs out this period at the trailing week's burn (None without a budget)."""

    @property
    def budget_percent(self) -> int:
        """How much of its budget the department has drawn, in whole percent (0 without a budget)."""
        if not self.budget:
            return 100 if self.budget is not None and self.figures.budget_drawn > 0 else 0
        return int(self.figures.budget_drawn * 100 / self.budget)

    @property
    def status(self) -> str:
        """``ok``, ``warning`` (80% of the budget drawn) or ``exhausted`` (all of it); ``ok`` without a budget."""
        if self.budget is None:
            return "ok"
        if self.figures.budget_drawn >= self.budget:
            return "exhausted"
        return "warning" if self.budget_percent >= 80 else "ok"


@dataclass(frozen=True, slots=True)
class CommitmentView:
    """A shared commitment held by the enterprise (or a department above the viewer)."""

    grant_id: str
    reason: str
    amount: Decimal
    remaining: Decimal
    drawn_this_period: Decimal
    starting_at: datetime
    ending_before: datetime | None
    forecast: Forecast
    """When it runs out at the trailing week's burn, and what is left (or short) at its term's end."""
    child_access: tuple[str, ...] | None
    """Which departments may draw on it: None for every one, else the customer ids of those that may."""


@dataclass(frozen=True, slots=True)
class EnterpriseView:
    """What an enterprise (or department) admin sees: commitments, and the departments from theirs down."""

    customer_id: str
    name: str
    period: Period
    credit_type: CreditType | None
    commitments: tuple[CommitmentView, ...]
    departments: tuple[DepartmentView, ...]
    """Depth first: the viewer's own customer first (depth 0), each department followed by those under it."""
    can_manage: bool
    """True when the viewer may create departments and set budgets below their own customer."""

    @property
    def allocated(self) -> Decimal:
        """The budgets set on the departments directly under the viewer's customer, summed."""
        return sum((d.budget or ZERO for d in self.departments if d.depth == 1), ZERO)

    def department(self, customer_id: str) -> DepartmentView:
        """One department of the view."""
        for row in self.departments:
            if row.customer_id == customer_id:
                return row
        raise NotFound(f"There is no department {customer_id} here.")


# --- the tree ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tree:
    """A customer and every customer under it, with their contracts in force."""

    root: Customer
    customers: dict[str, Customer]
    children: dict[str, list[str]]
    contracts: dict[str, Contract]

    def walk(self, customer_id: str, depth: int = 0) -> Iterable[tuple[Customer, int]]:
        """The customer and those under it, depth first, each level by name."""
        yield self.customers[customer_id], depth
        for child in sorted(self.children.get(customer_id, ()), key=lambda c: self.customers[c].name):
            yield from self.walk(child, depth + 1)

    def below(self, customer_id: str) -> list[str]:
        """Every customer under ``customer_id`` (not itself)."""
        return [c.id for c, depth in self.walk(customer_id) if depth > 0]


def _tree(session: Session, root: Customer, at: datetime) -> _Tree:
    ids = customers_under(session, [root.id])
    customers = {c.id: c for c in session.exec(select(Customer).where(col(Customer.id).in_(ids))).all()}
    children: dict[str, list[str]] = defaultdict(list)
    for customer_id in ids[1:]:
        children[customers[customer_id].parent_id or ""].append(customer_id)
    return _Tree(root, customers, dict(children), billing.active_contracts(session, ids, at))


def _own_customer(session: Session, identity: Identity) -> Customer:
    if identity.customer_id is None:
        raise Forbidden("Your account does not belong to a customer.")
    if not identity.is_customer_admin:
        raise Forbidden("Only an admin of the account can see its departments and budgets.")
    customer = session.get(Customer, identity.customer_id)
    if customer is None:
        raise NotFound("Your account's customer no longer exists.")
    return customer


def _manageable(session: Session, identity: Identity, customer_id: str) -> Customer:
    """The department ``customer_id``, if ``identity`` may change its budget (an admin above it, or staff)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"There is no department {customer_id}.")
    if identity.is_staff:
        return customer
    own = _own_customer(session, identity)
    if customer.id == own.id:
        raise Forbidden("Your own budget is set by the admins above your department: ask them to change it.")
    if own.id not in {a.id for a in ancestors(session, customer)}:
        raise NotFound(f"There is no department {customer_id}.")
    return customer


# --- figures -----------------------------------------------------------------------------------------


def _commitments(rated: Rated, contract: Contract) -> list[Grant]:
    """The shared grants in play this period held by ``contract`` or the contracts above it, nearest first."""
    holders = [contract.id, *rated.family.hierarchy.ancestors_of(contract.id)]
    shared = [g for g in rated.run.grants if g.scope is GrantScope.SHARED]
    return [g for holder in holders for g in shared if g.contract_id == holder]


def _draw_sums(drawn: Sequence[DrawnCharge], credit_type: CreditType) -> dict[str, dict[str, Decimal]]:
    """Per contract: ``used``, ``overage``, ``blocked`` and, per grant holder, what its charges drew."""
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for d in drawn:
        if d.charge.credit_type != credit_type:
            continue
        row = sums[d.charge.contract_id]
        row["used"] += d.charge.amount
        row["overage"] += d.overage
        row["blocked"] += d.blocked
        for grant, take, _ in d.draws:
            row[f"holder:{grant.contract_id}"] += take
    return sums


def _figures(
    contract_id: str, subtree: Sequence[str], above: set[str], sums: dict[str, dict[str, Decimal]]
) -> DepartmentFigures:
    row = sums.get(contract_id, {})
    from_above = sum((v for k, v in row.items() if k.removeprefix("holder:") in above), ZERO)
    own = sum((v for k, v in row.items() if k.startswith("holder:")), ZERO) - from_above
    budget_drawn = sum(
        (v for c in subtree for k, v in sums.get(c, {}).items() if k.startswith("holder:") and k[7:] in above),
        ZERO,
    )
    return DepartmentFigures(
        used=row.get("used", ZERO),
        from_commitment=from_above,
        from_own_credits=own,
        overage=row.get("overage", ZERO),
        blocked=row.get("blocked", ZERO),
        budget_drawn=budget_drawn,
    )


def _before(usage: UsageSource, cutoff: datetime) -> UsageSource:
    """The hourly usage of ``usage`` before ``cutoff`` (rollups are hourly: cutoffs are whole hours)."""
    if not isinstance(usage, BucketedUsage):
        return usage
    return BucketedUsage({m: {k: v for k, v in b.items() if k[0] < cutoff} for m, b in usage.buckets.items()})


def _trailing(rated: Rated, at: datetime) -> list[tuple[datetime, Sequence[DrawnCharge]]]:
    """The family's draws as drafted at each day of the trailing week inside the period, oldest first, and now.

    Each earlier draft counts only the usage before its day (whole hours), so consecutive drafts differ by
    that day's burn.
    """
    hour = at.replace(minute=0, second=0, microsecond=0)
    cutoffs = sorted({max(hour - timedelta(days=k), rated.period.start) for k in range(FORECAST_DAYS, 0, -1)})
    family = rated.family
    drafts: list[tuple[datetime, Sequence[DrawnCharge]]] = []
    for cutoff in cutoffs:
        usage = {c: _before(u, cutoff) for c, u in rated.usage.items()}
        run = invoicing.draft_invoices(
            family.contracts,
            rated.period,
            usage,
            as_of=max(cutoff, rated.period.start),
            hierarchy=family.hierarchy,
            ledger=family.ledger,
            finalized=rated.finalized,
        )
        drafts.append((cutoff, run.burn_down.drawn))
    drafts.append((at, rated.run.burn_down.drawn))
    return drafts


def _daily_burns(points: Sequence[tuple[datetime, Decimal]]) -> list[Decimal]:
    """The burn per day between consecutive (instant, cumulative draw) points (empty spans skipped)."""
    burns: list[Decimal] = []
    for (start, before), (end, after) in pairwise(points):
        seconds = Decimal((end - start).total_seconds())
        if seconds > 0:
            burns.append(max(after - before, ZERO) * 86_400 / seconds)
    return burns


def _forecast(
    points: Sequence[tuple[datetime, Decimal]], balance: Decimal, at: datetime, end: datetime | None
) -> Forecast:
    burns = _daily_burns(points)
    return forecast(balance, burns or [ZERO], at, end)


def enterprise_view(identity: Identity, at: datetime | None = None) -> EnterpriseView:
    """The viewer's customer and every department under it, with this period's figures and budgets.

    For admins of a customer (an enterprise, a division or a department); a department admin sees only their
    own department and those under it.
    """
    at = at or utcnow()
    with UnitOfWork() as uow:
        return view_of(uow.session, _own_customer(uow.session, identity), at)


def view_of(session: Session, viewer: Customer, at: datetime) -> EnterpriseView:
    """:func:`enterprise_view` of ``viewer``'s customer, for whoever may see it (the caller checked)."""
    tree = _tree(session, viewer, at)
    own_contract = tree.contracts.get(viewer.id)
    if own_contract is None:
        raise NotFound(f"{viewer.name} has no contract yet: ask us to set up the enterprise agreement.")
    rated = billing.rate(session, Catalog(session), own_contract.id, at)
    commitments = _commitments(rated, own_contract)
    credit_type = commitments[0].credit_type if commitments else None
    trailing = _trailing(rated, at) if credit_type is not None else [(at, rated.run.burn_down.drawn)]
    rows = _department_rows(session, tree, rated, credit_type, trailing)
    held = [g for g in commitments if g.contract_id == own_contract.id]
    drawn_then = [(when, _drawn_per_grant(drawn)) for when, drawn in trailing] if held else []
    return EnterpriseView(
        customer_id=viewer.id,
        name=viewer.name,
        period=rated.period,
        credit_type=credit_type,
        commitments=tuple(_commitment_view(session, g, rated, tree, drawn_then) for g in held),
        departments=rows,
        can_manage=bool(held) or len(rows) > 1,
    )


def _department_rows(
    session: Session,
    tree: _Tree,
    rated: Rated,
    credit_type: CreditType | None,
    trailing: Sequence[tuple[datetime, Sequence[DrawnCharge]]],
) -> tuple[DepartmentView, ...]:
    """The viewer's customer and each department under it, depth first, with figures, budget and forecast."""
    contract_ids = [c.id for c in tree.contracts.values()]
    caps = {
        cap.child_contract_id: cap
        for cap in session.exec(select(BudgetCapRow).where(col(BudgetCapRow.child_contract_id).in_(contract_ids)))
        if credit_type is None or cap.credit_type_id == credit_type.id
    }
    members = Counter(
        session.exec(select(User.customer_id).where(col(User.customer_id).in_(list(tree.customers)))).all()
    )
    history = [(when, _draw_sums(drawn, credit_type)) for when, drawn in trailing] if credit_type else []
    sums = history[-1][1] if history else {}
    hierarchy = rated.family.hierarchy
    at = trailing[-1][0]
    rows: list[DepartmentView] = []
    for customer, depth in tree.walk(tree.root.id):
        contract = tree.contracts.get(customer.id)
        if contract is None:
            continue
        subtree = [contract.id] + [tree.contracts[c].id for c in tree.below(customer.id) if c in tree.contracts]
        cap = caps.get(contract.id)
        above = set(hierarchy.ancestors_of(contract.id))
        figures = _figures(contract.id, subtree, above, sums)
        budget_forecast = None
        if cap is not None:
            points = [(when, _figures(contract.id, subtree, above, past).budget_drawn) for when, past in history]
            left = max(cap.amount - figures.budget_drawn, ZERO)
            budget_forecast = _forecast(points, left, at, rated.period.end)
        rows.append(
            DepartmentView(
                customer_id=customer.id,
                contract_id=contract.id,
                name=customer.name,
                depth=depth,
                parent_id=customer.parent_id if depth else None,
                payer=contract.payer if contract.parent_contract_id else "self",
                statement=contract.statement if contract.parent_contract_id else "",
                members=members.get(customer.id, 0),
                budget=cap.amount if cap else None,
                behaviour=cap.behaviour if cap else "overage",
                figures=figures,
                can_change_budget=depth > 0,
                forecast=budget_forecast,
            )
        )
    return tuple(rows)


def _commitment_view(
    session: Session,
    grant: Grant,
    rated: Rated,
    tree: _Tree,
    drawn_then: Sequence[tuple[datetime, Mapping[str, Decimal]]],
) -> CommitmentView:
    """A commitment with what is left, what this period drew, its forecast at the trailing week's burn and which
    departments may draw on it."""
    row = session.get(GrantRow, grant.id)
    access = (row.child_access if row is not None else None) or []
    customer_of = {c.id: customer_id for customer_id, c in tree.contracts.items()}
    remaining = rated.run.burn_down.balance(grant.id)
    points = [(when, drawn[grant.id]) for when, drawn in drawn_then]
    return CommitmentView(
        grant.id,
        row.reason if row is not None and row.reason else "Shared commitment",
        grant.amount,
        remaining,
        points[-1][1],
        grant.starting_at,
        grant.ending_before,
        _forecast(points, remaining, points[-1][0], grant.ending_before),
        None if access == ["*"] else tuple(customer_of[c] for c in access if c in customer_of),
    )


def _drawn_per_grant(drawn: Sequence[DrawnCharge]) -> dict[str, Decimal]:
    """What the charges drew from each grant, by grant id."""
    sums: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for d in drawn:
        for grant, take, _ in d.draws:
            sums[grant.id] += take
    return sums


# --- budgets -----------------------------------------------------------------------------------------


def _amount(value: object, what: str) -> Decimal:
    try:
        amount = to_decimal(str(value).replace(",", "").strip(), what)
    except DomainError:
        raise InvalidInput(f"The {what} must be a number, such as 250000; {value!r} is not.") from None
    try:
        bounded_decimal(amount, what)
    except DomainError as exc:
        raise InvalidInput(str(exc)) from None
    if amount < 0:
        raise InvalidInput(f"The {what} cannot be negative ({amount}).")
    return amount


def _budgeted_contract(session: Session, customer: Customer, at: datetime) -> Contract:
    contract = billing.active_contract(session, customer.id, at)
    if contract.parent_contract_id is None:
        raise InvalidInput(f"{customer.name} is not a department of an enterprise, so it has no budget.")
    return contract


def _budget_credit_type(session: Session, customer: Customer, at: datetime) -> str:
    """The credit type of the nearest shared commitment above ``customer`` (what its budget is kept in)."""
    for above in ancestors(session, customer):
        try:
            contract = billing.active_contract(session, above.id, at)
        except NotFound:
            continue
        row = session.exec(
            select(GrantRow).where(GrantRow.contract_id == contract.id, GrantRow.scope == "shared")
        ).first()
        if row is not None:
            return row.credit_type_id
    raise InvalidInput(f"There is no shared commitment above {customer.name} for a budget to draw on.")


def _budgeted(session: Session, identity: Identity, customer_id: str, at: datetime) -> tuple[Customer, Contract, str]:
    """A department whose budget ``identity`` may change, its contract and the credit type of its budget."""
    customer = _manageable(session, identity, customer_id)
    return customer, _budgeted_contract(session, customer, at), _budget_credit_type(session, customer, at)


def _cap(session: Session, contract: Contract, credit_type_id: str) -> BudgetCapRow | None:
    return session.exec(
        select(BudgetCapRow).where(
            BudgetCapRow.child_contract_id == contract.id, BudgetCapRow.credit_type_id == credit_type_id
        )
    ).first()


def _cap_snapshot(cap: BudgetCapRow | None) -> dict[str, str] | None:
    return None if cap is None else {"amount": str(cap.amount), "behaviour": cap.behaviour}


def set_budget(
    identity: Identity, customer_id: str, amount: object, behaviour: str = "overage", at: datetime | None = None
) -> None:
    """Set (or, with an empty ``amount``, remove) a department's budget per period and what happens at it.

    Admins of a customer above the department, and staff; a department admin cannot change their own.
    """
    at = at or utcnow()
    if behaviour not in BEHAVIOURS:
        raise InvalidInput(f"At the budget, usage is either 'overage' or 'block', not {behaviour!r}.")
    cleared = amount is None or str(amount).strip() == ""
    units = None if cleared else _amount(amount, "budget")
    with UnitOfWork() as uow:
        session = uow.session
        customer, contract, credit_type_id = _budgeted(session, identity, customer_id, at)
        cap = _cap(session, contract, credit_type_id)
        before = _cap_snapshot(cap)
        if units is None:
            if cap is not None:
                session.delete(cap)
        elif cap is None:
            cap = BudgetCapRow(
                child_contract_id=contract.id, credit_type_id=credit_type_id, amount=units, behaviour=behaviour
            )
            session.add(cap)
        else:
            cap.amount, cap.behaviour = units, behaviour
            session.add(cap)
        summary = (
            f"budget of {customer.name} removed"
            if units is None
            else f"budget of {customer.name} set to {units} per period ({behaviour} at the cap)"
        )
        audit.record(session, identity, "budget.set", ("customer", customer.id), summary, before, _cap_snapshot(cap))


def move_budget(
    identity: Identity, from_customer_id: str, to_customer_id: str, amount: object, at: datetime | None = None
) -> None:
    """Move ``amount`` of budget from one department to another, in one audited change."""
    at = at or utcnow()
    units = _amount(amount, "amount to move")
    if units == 0:
        raise InvalidInput("Move more than zero.")
    if from_customer_id == to_customer_id:
        raise InvalidInput("Choose two different departments to move budget between.")
    with UnitOfWork() as uow:
        session = uow.session
        source, source_contract, credit_type_id = _budgeted(session, identity, from_customer_id, at)
        target, target_contract, target_type_id = _budgeted(session, identity, to_customer_id, at)
        if target_type_id != credit_type_id:
            raise InvalidInput(f"{source.name} and {target.name} draw on commitments in different units.")
        giving = _cap(session, source_contract, credit_type_id)
        if giving is None:
            raise InvalidInput(f"{source.name} has no budget to move from: set one first.")
        if giving.amount < units:
            raise InvalidInput(f"{source.name}'s budget is {giving.amount}: move at most that much.")
        taking = _cap(session, target_contract, credit_type_id) or BudgetCapRow(
            child_contract_id=target_contract.id, credit_type_id=credit_type_id, amount=ZERO
        )
        before = {"from": _cap_snapshot(giving), "to": _cap_snapshot(taking if taking.id is not None else None)}
        giving.amount -= units
        taking.amount += units
        session.add(giving)
        session.add(taking)
        audit.record(
            session,
            identity,
            "budget.move",
            ("customer", target.id),
            f"moved {units} of budget from {source.name} to {target.name}",
            before,
            {"from": _cap_snapshot(giving), "to": _cap_snapshot(taking)},
        )


# --- departments -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DepartmentSpec:
    """What a new department is: its name, its admin, who pays its overage, its statement, its budget and rates."""

    name: str
    admin_email: str = ""
    payer: str = "self"
    statement: str = "consolidated"
    budget: object = None
    behaviour: str = "overage"
    rate_card_id: str | None = None
    """Custom rates (staff only); by default the department is billed on its parent's terms."""

    def checked(self, identity: Identity) -> DepartmentSpec:
        """The spec with its name trimmed, after checking every field (:class:`InvalidInput` names what is wrong)."""
        title = self.name.strip()
        if not title:
            raise InvalidInput("Give the department a name.")
        if len(title) > MAX_NAME:
            raise InvalidInput(f"Department names can be at most {MAX_NAME} characters long.")
        if self.payer not in PAYERS:
            raise InvalidInput(f"A department's overage is paid by 'self' or 'parent', not {self.payer!r}.")
        if self.statement not in STATEMENTS:
            raise InvalidInput(f"A department's statement is 'consolidated' or 'separate', not {self.statement!r}.")
        if self.behaviour not in BEHAVIOURS:
            raise InvalidInput(f"At the budget, usage is either 'overage' or 'block', not {self.behaviour!r}.")
        if self.rate_card_id is not None and not identity.is_staff:
            raise Forbidden("Only staff can give a department its own rates.")
        if not self.admin_email.strip() and not identity.is_staff:
            raise InvalidInput("Give the email address of the department's admin: they get an invitation.")
        email = local_accounts.checked_email(self.admin_email) if self.admin_email.strip() else ""
        if self.budget is not None and str(self.budget).strip():
            _amount(self.budget, "budget")
        return replace(self, name=title, admin_email=email)


def _parent_for(session: Session, identity: Identity, parent_id: str | None) -> Customer:
    """The customer a new department goes under, if ``identity`` may add departments there."""
    if parent_id is None:
        return _own_customer(session, identity)
    parent = session.get(Customer, parent_id)
    if parent is None:
        raise NotFound(f"There is no customer {parent_id}.")
    if not identity.is_staff and parent.id != _own_customer(session, identity).id:
        _manageable(session, identity, parent.id)
    if len(ancestors(session, parent)) + 2 > MAX_DEPTH:
        raise InvalidInput(f"{parent.name} is {MAX_DEPTH - 1} levels down already: departments go {MAX_DEPTH} deep.")
    return parent


def _new_department_contract(
    session: Session, customer: Customer, parent: Customer, spec: DepartmentSpec, at: datetime
) -> Contract:
    """The department's contract: on its parent's calendar from the parent's current period, on the parent's
    terms or the rates staff chose."""
    parent_contract = billing.active_contract(session, parent.id, at)
    terms = session.exec(
        select(ContractTerms)
        .where(ContractTerms.contract_id == parent_contract.id, col(ContractTerms.starting_at) <= at)
        .order_by(col(ContractTerms.starting_at).desc())
    ).first()
    if terms is None:
        raise InvalidInput(f"{parent.name}'s contract has no terms in force yet.")
    if spec.rate_card_id is not None:
        try:
            Catalog(session).rate_card(spec.rate_card_id)
        except DomainError as exc:
            raise InvalidInput(str(exc)) from None
    start = billing_period_containing(parent_contract.starting_at, Frequency[parent_contract.billing_frequency], at)
    contract = Contract(
        customer_id=customer.id,
        currency=parent_contract.currency,
        starting_at=start.start,
        billing_frequency=parent_contract.billing_frequency,
        seat_key=parent_contract.seat_key,
        parent_contract_id=parent_contract.id,
        payer=spec.payer,
        statement=spec.statement,
    )
    session.add(contract)
    session.flush()
    session.add(
        ContractTerms(
            contract_id=contract.id,
            starting_at=start.start,
            package_version_id=None if spec.rate_card_id else terms.package_version_id,
            rate_card_id=spec.rate_card_id or terms.rate_card_id,
            reason="department",
        )
    )
    return contract


def create_department(
    identity: Identity, spec: DepartmentSpec, *, parent_id: str | None = None, at: datetime | None = None
) -> str:
    """Create a department under ``parent_id`` (by default the admin's own customer) with an optional budget,
    and invite its admin; returns the new customer's id.

    Admins create departments under their own customer or a department below it; staff anywhere, with custom
    rates if they like and without an admin. The department is charged only for what it uses; its overage is
    billed to itself (``payer`` self) or to the customer above it (parent).
    """
    at = at or utcnow()
    spec = spec.checked(identity)
    with UnitOfWork() as uow:
        session = uow.session
        parent = _parent_for(session, identity, parent_id)
        siblings = session.exec(select(Customer.name).where(Customer.parent_id == parent.id)).all()
        taken = next((s for s in siblings if s.casefold() == spec.name.casefold()), None)
        if taken is not None:
            raise InvalidInput(f"{parent.name} already has a department called {taken}: choose another name.")
        customer = Customer(name=spec.name, currency=parent.currency, parent_id=parent.id)
        session.add(customer)
        session.flush()
        contract = _new_department_contract(session, customer, parent, spec, at)
        if spec.budget is not None and str(spec.budget).strip():
            session.add(
                BudgetCapRow(
                    child_contract_id=contract.id,
                    credit_type_id=_budget_credit_type(session, customer, at),
                    amount=_amount(spec.budget, "budget"),
                    behaviour=spec.behaviour,
                )
            )
        admin = members.invitee(session, customer.id, spec.admin_email, "", role="admin") if spec.admin_email else None
        if admin is not None:
            session.add(admin)
            session.flush()
        token = local_accounts.issue_invitation(session, admin, at) if admin is not None else None
        invited = f"; {spec.admin_email} invited as its admin" if admin is not None else ""
        audit.record(
            session,
            identity,
            "department.create",
            ("customer", customer.id),
            f"department {spec.name} created under {parent.name}{invited}",
            None,
            {"name": spec.name, "parent_id": parent.id, "payer": spec.payer, "statement": spec.statement,
             "admin": spec.admin_email, "budget": str(spec.budget or ""), "rate_card_id": spec.rate_card_id},
        )  # fmt: skip
        if admin is not None:
            session.expunge(admin)
        customer_id = customer.id
    if admin is not None:
        local_accounts.send_invitation(admin, spec.name, identity.name or identity.email, token)
    if spec.payer == "self":  # it gets invoices of its own: its payment provider customer now
        payment_customers.register(customer_id)
    return customer_id


# --- blocking at the budget --------------------------------------------------------------------------


def gated_customers(session: Session) -> set[str]:
    """The customers a blocking budget may stop: those whose contract has one, and every customer under them."""
    query = (
        select(Contract.customer_id)
        .join(BudgetCapRow, col(BudgetCapRow.child_contract_id) == Contract.id)
        .where(BudgetCapRow.behaviour == "block")
    )
    return set(customers_under(session, session.exec(query).all()))


def budget_exhausted(session: Session, customer_id: str, at: datetime) -> str | None:
    """Why usage of ``customer_id`` is refused now: its blocking budget (or one above it) is used up; else None."""
    contract = billing.active_contracts(session, [customer_id], at).get(customer_id)
    if contract is None:
        return None
    catalog = Catalog(session)
    rated = billing.rate(session, catalog, contract.id, at)
    hierarchy = rated.family.hierarchy
    path = [contract.id, *hierarchy.ancestors_of(contract.id)]
    caps = session.exec(
        select(BudgetCapRow).where(col(BudgetCapRow.child_contract_id).in_(path), BudgetCapRow.behaviour == "block")
    ).all()
    for cap in sorted(caps, key=lambda c: path.index(c.child_contract_id)):
        credit_type = catalog.credit_type(cap.credit_type_id)
        sums = _draw_sums(rated.run.burn_down.drawn, credit_type)
        subtree = [cap.child_contract_id, *hierarchy.descendants_of(cap.child_contract_id)]
        above = set(hierarchy.ancestors_of(cap.child_contract_id))
        drawn = _figures(cap.child_contract_id, subtree, above, sums).budget_drawn
        if drawn >= cap.amount:
            holder = rated.departments.get(cap.child_contract_id, cap.child_contract_id)
            return (
                f"budget exhausted: {holder} has drawn its whole budget of {credit_type.format(cap.amount)} for "
                f"{rated.period.label()}; ask your enterprise admin to raise it"
            )
    return None


# --- set-up by staff ---------------------------------------------------------------------------------


def open_enterprise(
    actor: Identity,
    customer_id: str,
    *,
    rate_card_id: str,
    commitment: object,
    credit_type_id: str,
    term_months: int = 12,
    reason: str = "Enterprise commitment",
    at: datetime | None = None,
) -> str:
    """Give a customer an enterprise contract (staff only): a bare rate card from the start of this month and a
    prepaid commitment shared with every department under it, for ``term_months``; returns the contract id."""
    audit.require_staff(actor)
    at = at or utcnow()
    amount = _amount(commitment, "commitment")
    if amount == 0:
        raise InvalidInput("The commitment must be more than zero.")
    if not 1 <= term_months <= 60:
        raise InvalidInput(f"The term is 1 to 60 months, not {term_months}.")
    start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = billing_period_containing(start, Frequency.MONTHLY, start).start
    for _ in range(term_months):
        end = billing_period_containing(start, Frequency.MONTHLY, end).end
    with UnitOfWork() as uow:
        session = uow.session
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise NotFound(f"There is no customer {customer_id}.")
        try:
            Catalog(session).rate_card(rate_card_id)
            Catalog(session).credit_type(credit_type_id)
        except DomainError as exc:
            raise InvalidInput(str(exc)) from None
        if session.exec(select(Contract).where(Contract.customer_id == customer.id)).first() is not None:
            raise InvalidInput(f"{customer.name} already has a contract.")
        contract = Contract(customer_id=customer.id, currency=customer.currency, starting_at=start)
        session.add(contract)
        session.flush()
        session.add(
            ContractTerms(contract_id=contract.id, starting_at=start, rate_card_id=rate_card_id, reason="enterprise")
        )
        session.add(
            GrantRow(
                contract_id=contract.id,
                kind="commit",
                credit_type_id=credit_type_id,
                amount=amount,
                starting_at=start,
                ending_before=end,
                scope="shared",
                child_access=["*"],
                source="purchase",
                reason=reason,
            )
        )
        audit.record(
            session,
            actor,
            "enterprise.open",
            ("customer", customer.id),
            f"{customer.name} opened as an enterprise with a shared commitment of {amount} for {term_months} months",
            None,
            {"rate_card_id": rate_card_id, "commitment": str(amount), "credit_type_id": credit_type_id,
             "starts": start.isoformat(), "ends": end.isoformat()},
        )  # fmt: skip
        return contract.id


@dataclass(frozen=True, slots=True)
class StaffEnterprise:
    """A customer's enterprise as staff see it: the view (None before it has a contract), or why it could not be
    drafted, and the customer at the top of its tree when that is another one."""

    view: EnterpriseView | None
    problem: str
    top_name: str


def staff_view(actor: Identity, customer_id: str, at: datetime | None = None) -> StaffEnterprise:
    """The enterprise view of any customer (staff only)."""
    audit.require_staff(actor)
    with UnitOfWork() as uow:
        session = uow.session
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise NotFound(f"There is no customer {customer_id}.")
        above = ancestors(session, customer)
        top_name = above[-1].name if above else ""
        try:
            return StaffEnterprise(view_of(session, customer, at or utcnow()), "", top_name)
        except NotFound:
            return StaffEnterprise(None, "", top_name)
        except (InvalidInput, DomainError) as exc:
            return StaffEnterprise(None, str(exc), top_name)


def commitment_units(actor: Identity) -> list[tuple[str, str]]:
    """The credit units a commitment may be kept in, as (id, name), by name (staff only)."""
    audit.require_staff(actor)
    with UnitOfWork() as uow:
        catalog = Catalog(uow.session)
        return sorted(((c.id, c.name) for c in catalog.credit_types.values()), key=lambda unit: unit[1])


def set_commitment_access(
    actor: Identity, grant_id: str, departments: Sequence[str] | None, at: datetime | None = None
) -> None:
    """Choose which departments may draw on a shared commitment (staff only): ``None`` for every department
    under its holder, an empty list for none, or the customer ids of the departments (any level) that may."""
    audit.require_staff(actor)
    at = at or utcnow()
    with UnitOfWork() as uow:
        session = uow.session
        grant = session.get(GrantRow, grant_id)
        if grant is None or grant.scope != "shared":
            raise NotFound(f"There is no shared commitment {grant_id}.")
        holder = session.exec(select(Contract).where(Contract.id == grant.contract_id)).one()
        if departments is None:
            access = ["*"]
        else:
            below = set(customers_under(session, [holder.customer_id]))
            unknown = [d for d in departments if d not in below or d == holder.customer_id]
            if unknown:
                raise InvalidInput(f"{unknown[0]} is not a department under the commitment's holder.")
            in_force = billing.active_contracts(session, departments, at)
            access = sorted(in_force[d].id for d in departments if d in in_force)
        before = {"child_access": grant.child_access}
        grant.child_access = access
        session.add(grant)
        audit.record(
            session,
            actor,
            "commitment.access",
            ("grant", grant.id),
            "commitment open to "
            + (
                "every department" if access == ["*"] else f"{len(access)} department(s)" if access else "no department"
            ),
            before,
            {"child_access": access},
        )
