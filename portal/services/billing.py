"""Contracts, seats, balances and invoices: every figure comes from the rating engine over the stored usage rollups.

Use cases:

* :func:`provision` gives a customer a contract on a package (by alias such
  as ``team``, or a version id) with seats, and finalizes its first invoice
  (the seats in advance): what is due today.
* :func:`change_seats` adds or removes seat ids or sets the count; the
  prorated charge of an increase is finalized at once. :func:`preview_seats`
  and :func:`preview_switch` show what a change would cost without making it.
* :func:`balances` and :func:`draft` rate the current period live: because
  ingest updates the rollups in the same transaction as it stores events,
  they include every event acknowledged before the call.
* :func:`invoices` lists what was finalized.
* :func:`collect` charges a finalized invoice through the payment gateway (a failure is retried on a
  schedule by the billing job, :mod:`portal.services.period_close`); :func:`pay_again` is a customer
  admin's own retry, once the card is replaced.

Authorization: staff may act on any customer; a customer's admins and keys
read their own (and their departments'); only staff provision contracts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlmodel import Session, col, select

from portal.db.codecs import invoice_lines_to_doc
from portal.db.loaders import (
    Catalog,
    Family,
    bucketed_usage,
    finalized_invoices,
    load_family,
    stored_invoice,
    stored_usage,
)
from portal.db.models import (
    Contract,
    ContractTerms,
    CreditPurchaseRow,
    Customer,
    InvoiceRow,
    LedgerEntryRow,
    Package,
    PackageVersion,
    SeatChangeRow,
    SeatSubscriptionRow,
    User,
    utcnow,
)
from portal.db.uow import UnitOfWork
from portal.domain import invoicing
from portal.domain.errors import DomainError
from portal.domain.hierarchy import ConsolidatedStatement
from portal.domain.invoicing import Invoice, InvoiceLine, InvoiceRun, InvoiceStatus, SeatCountChange, TierSwitch, Timing
from portal.domain.metrics import UsageSource
from portal.domain.money import CreditType, Money
from portal.domain.payment_retries import next_retry
from portal.domain.periods import Frequency, Period
from portal.domain.seats import MAX_SEATS
from portal.payments import configured_gateway
from portal.payments.gateway import (
    CollectionLine,
    CollectionRequest,
    CollectionResult,
    PaymentProviderError,
    PaymentStatus,
)
from portal.services import outgoing_webhooks
from portal.services.audit import record, record_if_staff
from portal.services.customers import Actor, visible_customer
from portal.services.errors import Forbidden, InvalidInput, NotFound

NOTHING_TO_PAY = "Nothing to pay."
COLLECTION_LEASE = timedelta(minutes=15)
"""How long one collection attempt may take before the billing job may collect the invoice instead.

An invoice is collected by whoever finalized it (or asked to pay again) right after the commit; should that
process die before it recorded the outcome, the job collects the invoice once the lease has run out. Two-phase
collection (the provider's invoice is recorded before it is paid) makes such a second attempt charge nothing more.
"""
NO_MORE_RETRIES = "There will be no more automatic attempts: update your card, then pay again."
PAYMENT_NOTE_LENGTH = 500


def _hour(instant: datetime) -> datetime:
    return instant.replace(minute=0, second=0, microsecond=0)


# --- views -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AppliedView:
    """What one grant paid of a line, and why it came when it did."""

    grant_id: str
    amount: str
    units: str
    explanations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GroupView:
    """A line's share for one seat or group."""

    group: str
    units: str
    amount: str
    due: str


@dataclass(frozen=True, slots=True)
class TierView:
    """One tier of a line's price."""

    tier: int
    quantity: str
    unit_price: str
    amount: str


@dataclass(frozen=True, slots=True)
class LineView:
    """An invoice line, formatted (amounts in the invoice currency; units in the line's credit type)."""

    key: str
    kind: str
    timing: str
    department: str
    description: str
    period: str
    quantity: str
    unit_price: str
    units: str
    amount: str
    grants_applied: str
    due: str
    amount_minor: int
    due_minor: int
    grants: tuple[AppliedView, ...]
    groups: tuple[GroupView, ...]
    tiers: tuple[TierView, ...]


@dataclass(frozen=True, slots=True)
class StatementRowView:
    """One department's usage on a parent's consolidated statement, in one credit unit (formatted)."""

    department: str
    depth: int
    pays_own_overage: bool
    charged: str
    from_own_credits: str
    from_shared_commitment: str
    overage: str
    blocked: str


@dataclass(frozen=True, slots=True)
class InvoiceView:
    """An invoice, formatted; ``*_minor`` figures are integer minor units of ``currency``."""

    id: str
    status: str
    customer_id: str
    period_start: datetime
    period_end: datetime
    period: str
    currency: str
    lines: tuple[LineView, ...]
    subtotal: str
    grants_applied: str
    total_due: str
    due_now: str
    subtotal_minor: int
    grants_applied_minor: int
    total_due_minor: int
    payment_note: str = ""
    statement: tuple[StatementRowView, ...] = ()
    """For a parent: each department's usage, own credits, draw on the shared commitment and overage."""
    next_payment_at: datetime | None = None
    """When the billing job collects it (again); None when no automatic attempt is due."""
    buys_credits: bool = False
    """It charges for prepaid credits bought (not owed: a failed payment means the credits were not bought)."""


@dataclass(frozen=True, slots=True)
class GrantView:
    """One grant's balance."""

    id: str
    kind: str
    source: str
    scope: str
    seat_id: str
    credit_type: str
    granted: str
    remaining: str
    remaining_units: str
    starts: datetime
    expires: datetime | None


@dataclass(frozen=True, slots=True)
class SeatView:
    """One seat's credit."""

    seat_id: str
    granted: str
    used: str
    remaining: str
    remaining_units: str
    drawn_from_pool: str


@dataclass(frozen=True, slots=True)
class PoolView:
    """What is left of the pooled grants in one credit type."""

    credit_type: str
    remaining: str
    remaining_units: str


@dataclass(frozen=True, slots=True)
class BalancesView:
    """A contract's balances as of an instant."""

    customer_id: str
    contract_id: str
    as_of: datetime
    period: str
    pooled: tuple[PoolView, ...]
    grants: tuple[GrantView, ...]
    seats: tuple[SeatView, ...]


@dataclass(frozen=True, slots=True)
class ContractView:
    """A contract's current terms, period and seats."""

    id: str
    customer_id: str
    package: str
    rank: int
    period: str
    period_start: datetime
    period_end: datetime
    seats: int
    seat_ids: tuple[str, ...]
    unassigned_seats: int


@dataclass(frozen=True, slots=True)
class PreviewView:
    """What a pending change would do: due now, change at period end, change next period, and lines due now."""

    due_now: str
    at_period_end: str
    next_period: str
    due_now_minor: int
    lines: tuple[LineView, ...]


def _units(credit_type: CreditType, units: Decimal) -> str:
    return credit_type.format(units)


def plain_number(number: Decimal) -> str:
    """A decimal without exponent or trailing zeros: ``3``, ``0.0025``, ``1250``."""
    return f"{number.normalize():f}"


def _unit_price(line: InvoiceLine) -> str:
    """A unit price at full precision (prices per token can be fractions of a cent)."""
    if line.unit_price is None:
        return ""
    if line.credit_type.is_fiat:
        return f"{line.currency.symbol or line.currency.code + ' '}{plain_number(line.unit_price)}"
    return f"{plain_number(line.unit_price)} {line.credit_type.name}"


def line_view(line: InvoiceLine, departments: dict[str, str]) -> LineView:
    """An invoice line as the UI and API show it."""
    money = line.currency

    def fmt(minor: int) -> str:
        return Money.from_minor(minor, money).format()

    return LineView(
        key=line.key,
        kind=line.kind.value,
        timing=line.timing.value,
        department=departments.get(line.contract_id, ""),
        description=line.description,
        period=line.period.label(),
        quantity=plain_number(line.quantity),
        unit_price=_unit_price(line),
        units=_units(line.credit_type, line.units),
        amount=fmt(line.amount_minor),
        grants_applied=fmt(line.grants_minor),
        due=fmt(line.due_minor),
        amount_minor=line.amount_minor,
        due_minor=line.due_minor,
        grants=tuple(
            AppliedView(g.grant_id, fmt(g.amount_minor), _units(line.credit_type, g.units), g.explanations)
            for g in line.grants
        ),
        groups=tuple(
            GroupView(
                ", ".join(f"{k}={v}" for k, v in g.group),
                _units(line.credit_type, g.units),
                fmt(g.amount_minor),
                fmt(g.due_minor),
            )
            for g in line.groups
        ),
        tiers=tuple(
            TierView(t.tier, str(t.quantity), str(t.unit_price), _units(line.credit_type, t.amount)) for t in line.tiers
        ),
    )


def statement_view(
    statement: ConsolidatedStatement | None, departments: dict[str, str]
) -> tuple[StatementRowView, ...]:
    """A consolidated statement's rows as the UI and API show them (departments depth first)."""
    if statement is None:
        return ()
    return tuple(
        StatementRowView(
            department=departments.get(g.contract_id, g.contract_id),
            depth=g.depth,
            pays_own_overage=g.payer_contract_id == g.contract_id and not g.is_parent,
            charged=_units(g.credit_type, g.charged),
            from_own_credits=_units(g.credit_type, g.from_own_grants),
            from_shared_commitment=_units(g.credit_type, g.from_shared_commit),
            overage=_units(g.credit_type, g.overage),
            blocked=_units(g.credit_type, g.blocked),
        )
        for g in statement.groups
    )


def invoice_view(invoice: Invoice, departments: dict[str, str]) -> InvoiceView:
    """An invoice as the UI and API show it."""
    currency = invoice.currency
    return InvoiceView(
        id=invoice.id,
        status=invoice.status.value,
        customer_id=invoice.customer_id,
        period_start=invoice.period.start,
        period_end=invoice.period.end,
        period=invoice.period.label(),
        currency=currency.code,
        lines=tuple(line_view(line, departments) for line in invoice.lines),
        subtotal=invoice.subtotal.format(),
        grants_applied=invoice.grants_applied.format(),
        total_due=invoice.total_due.format(),
        due_now=Money.from_minor(invoice.due_now_minor, currency).format(),
        subtotal_minor=invoice.subtotal_minor,
        grants_applied_minor=invoice.grants_applied_minor,
        total_due_minor=invoice.total_due_minor,
        statement=statement_view(invoice.statement, departments),
    )


# --- loading and rating ----------------------------------------------------------------------------


def active_contracts(session: Session, customer_ids: Iterable[str], at: datetime) -> dict[str, Contract]:
    """Each customer's contract in force at ``at`` (the latest started, not ended); customers without one are
    left out. One query for them all."""
    wanted = list(dict.fromkeys(customer_ids))
    rows = session.exec(
        select(Contract)
        .where(col(Contract.customer_id).in_(wanted), col(Contract.starting_at) <= at)
        .where((col(Contract.ending_before).is_(None)) | (col(Contract.ending_before) > at))
        .order_by(col(Contract.starting_at))
    ).all()
    return {row.customer_id: row for row in rows}  # the latest started wins


def active_contract(session: Session, customer_id: str, at: datetime) -> Contract:
    """The customer's contract in force at ``at`` (the latest started, not ended)."""
    row = active_contracts(session, [customer_id], at).get(customer_id)
    if row is None:
        raise NotFound("This customer has no contract yet: provision a package first.")
    return row


@dataclass(frozen=True)
class Rated:
    """A family rated for the period containing ``at``."""

    family: Family
    contract_id: str
    period: Period
    run: InvoiceRun
    usage: dict[str, UsageSource]
    finalized: tuple[Invoice, ...]
    departments: dict[str, str]

    @property
    def payer_id(self) -> str:
        """The contract whose invoice carries this contract's lines."""
        return self.family.hierarchy.payer_of(self.contract_id)


def _departments(session: Session, family: Family) -> dict[str, str]:
    """Customer names by contract id, to label department lines."""
    ids = [c.customer_id for c in family.contracts]
    names = {c.id: c.name for c in session.exec(select(Customer).where(col(Customer.id).in_(ids))).all()}
    return {c.id: names.get(c.customer_id, c.customer_id) for c in family.contracts}


def rate(
    session: Session,
    catalog: Catalog,
    contract_id: str,
    at: datetime,
    period: Period | None = None,
    *,
    aggregated_by_database: bool = False,
) -> Rated:
    """Rate the family of ``contract_id`` for the billing period containing ``at`` (or ``period``), as of ``at``.

    The usage is the hourly rollups of the period, read into memory (what forecasts cut by the hour need), or,
    with ``aggregated_by_database``, summed by the database over the draft's windows (less to read: what closing
    a period needs).
    """
    family = load_family(session, contract_id, catalog)
    contract = family.contract(contract_id)
    period = period or contract.billing_period_containing(at)
    usage: dict[str, UsageSource] = dict(
        stored_usage(session, family.contracts)
        if aggregated_by_database
        else bucketed_usage(session, family.contracts, period)
    )
    finalized = tuple(finalized_invoices(session, [c.id for c in family.contracts], period, catalog))
    run = invoicing.draft_invoices(
        family.contracts,
        period,
        usage,
        as_of=at,
        hierarchy=family.hierarchy,
        ledger=family.ledger,
        finalized=finalized,
    )
    return Rated(family, contract_id, period, run, usage, finalized, _departments(session, family))


def _for_customer(session: Session, actor: Actor, customer_id: str, at: datetime) -> tuple[Catalog, Rated]:
    visible_customer(session, actor, customer_id)
    contract = active_contract(session, customer_id, at)
    catalog = Catalog(session)
    return catalog, rate(session, catalog, contract.id, at)


def draft(actor: Actor, customer_id: str, at: datetime | None = None) -> InvoiceView:
    """The live draft invoice of the customer's current period (its payer's invoice, for a department)."""
    at = at or utcnow()
    with UnitOfWork() as uow:
        _, rated = _for_customer(uow.session, actor, customer_id, at)
        return invoice_view(rated.run.invoice(rated.payer_id), rated.departments)


def balances(actor: Actor, customer_id: str, at: datetime | None = None) -> BalancesView:
    """The customer's balances now: per grant (with this period's burn-down), pooled, and per seat."""
    at = at or utcnow()
    with UnitOfWork() as uow:
        _, rated = _for_customer(uow.session, actor, customer_id, at)
        result = invoicing.balances(
            rated.contract_id, rated.run.grants, (*rated.family.ledger, *rated.run.ledger_entries), at
        )
    return BalancesView(
        customer_id=customer_id,
        contract_id=rated.contract_id,
        as_of=at,
        period=rated.period.label(),
        pooled=tuple(PoolView(ct.name, ct.format(units), plain_number(units)) for ct, units in result.pooled),
        grants=tuple(
            GrantView(
                id=s.grant.id,
                kind=s.grant.kind.value,
                source=s.grant.source.value,
                scope=s.grant.scope.value,
                seat_id=s.grant.seat_id or "",
                credit_type=s.grant.credit_type.name,
                granted=s.grant.credit_type.format(s.grant.amount),
                remaining=s.grant.credit_type.format(s.remaining),
                remaining_units=plain_number(s.remaining),
                starts=s.grant.starting_at,
                expires=s.grant.ending_before,
            )
            for s in result.grants
        ),
        seats=tuple(
            SeatView(
                b.seat_id,
                b.credit_type.format(b.granted),
                b.credit_type.format(b.used),
                b.credit_type.format(b.remaining),
                str(b.remaining),
                b.credit_type.format(b.drawn_from_pool),
            )
            for b in result.seats
        ),
    )


def invoices(actor: Actor, customer_id: str) -> list[InvoiceView]:
    """The customer's finalized invoices, newest first."""
    with UnitOfWork() as uow:
        customer = visible_customer(uow.session, actor, customer_id)
        rows = uow.session.exec(
            select(InvoiceRow)
            .where(InvoiceRow.customer_id == customer.id)
            .order_by(col(InvoiceRow.finalized_at).desc())
        ).all()
        credit_types = Catalog(uow.session).credit_types
        purchases = set(
            uow.session.exec(select(CreditPurchaseRow.invoice_id).where(CreditPurchaseRow.customer_id == customer.id))
        )
        return [replace(stored_view(row, credit_types), buys_credits=row.id in purchases) for row in rows]


def stored_view(row: InvoiceRow, credit_types: Mapping[str, CreditType]) -> InvoiceView:
    """A stored invoice as the UI and API show it, with its payment note."""
    return with_payment(invoice_view(stored_invoice(row, credit_types), {}), row)


def with_payment(view: InvoiceView, row: InvoiceRow) -> InvoiceView:
    """``view`` with the status, payment note and next automatic attempt stored on ``row``."""
    return replace(view, status=row.status, payment_note=row.payment_note, next_payment_at=row.next_payment_at)


def contract_view(actor: Actor, customer_id: str, at: datetime | None = None) -> ContractView:
    """The customer's current contract: package, period and seats."""
    at = at or utcnow()
    with UnitOfWork() as uow:
        visible_customer(uow.session, actor, customer_id)
        row = active_contract(uow.session, customer_id, at)
        catalog = Catalog(uow.session)
        contract = load_family(uow.session, row.id, catalog).contract(row.id)
        period = contract.billing_period_containing(at)
        terms = contract.terms_at(at)
        seats = contract.seats.state_at(at) if contract.seats else None
        return ContractView(
            id=contract.id,
            customer_id=customer_id,
            package=terms.name,
            rank=terms.rank,
            period=period.label(),
            period_start=period.start,
            period_end=period.end,
            seats=seats.quantity if seats else 0,
            seat_ids=seats.seat_ids if seats else (),
            unassigned_seats=seats.unassigned if seats else 0,
        )


# --- changes ---------------------------------------------------------------------------------------


_EntryKey = tuple[str, str, str, str | None, str | None]
"""A recorded movement: grant, kind, reference (the charge a draw is for), and whose charge it was."""


def _record_ledger(session: Session, rated: Rated) -> None:
    """Append the entries the recorded ledger lacks (grant starts, this period's draws so far).

    The entries of grants stored with a contract are read back before rating, so the run's are all new. Those of
    the credits the engine derives each period (a package's seat and pool credits) are not read back: it works
    them out over the whole period each time. A period finalized twice (its seats in advance, then its close)
    would record them twice, so for these grants only the difference between the run's entries and those already
    recorded is appended (a draw no longer made is reversed): each grant's recorded entries add up to the run's.
    """
    owners = {g.id: g.contract_id for g in rated.run.grants}
    stored = {g.id for contract in rated.family.contracts for g in contract.grants}
    derived = {e.grant_id for e in rated.run.ledger_entries if e.grant_id not in stored}
    recorded: dict[_EntryKey, tuple[Decimal, datetime]] = {}
    if derived:
        for row in session.exec(select(LedgerEntryRow).where(col(LedgerEntryRow.grant_id).in_(derived))):
            key = (row.grant_id, row.kind, row.reference, row.contract_id, row.seat_id)
            total, _ = recorded.get(key, (Decimal(0), row.at))
            recorded[key] = (total + row.amount, row.at)
    for entry in rated.run.ledger_entries:
        key = (entry.grant_id, entry.kind.value, entry.reference, entry.contract_id, entry.seat_id)
        before, _ = recorded.pop(key, (Decimal(0), entry.at))
        if entry.amount != before:
            session.add(_ledger_row(key, owners[entry.grant_id], entry.at, entry.amount - before))
    for key, (before, at) in recorded.items():  # a derived grant's draw the run no longer makes
        if before:
            session.add(_ledger_row(key, owners[key[0]], at, -before))


def _ledger_row(key: _EntryKey, owner: str, at: datetime, amount: Decimal) -> LedgerEntryRow:
    grant_id, kind, reference, contract_id, seat_id = key
    return LedgerEntryRow(
        grant_id=grant_id,
        grant_contract_id=owner,
        at=at,
        kind=kind,
        amount=amount,
        reference=reference,
        contract_id=contract_id,
        seat_id=seat_id,
    )


def finalize_due_now(session: Session, rated: Rated, at: datetime) -> InvoiceView | None:
    """Finalize what is due today (the in-advance lines of the payer's draft) as an invoice; None if nothing is.

    The period's first such invoice opens it (``opens_period``): the billing job then knows its seats are billed.
    """
    draft_invoice = rated.run.invoice(rated.payer_id)
    lines = tuple(line for line in draft_invoice.lines if line.timing is Timing.IN_ADVANCE)
    if not lines:
        return None
    final = invoicing.finalize(replace(draft_invoice, lines=lines), at)
    opened = session.exec(
        select(InvoiceRow.id).where(
            InvoiceRow.contract_id == final.contract_id,
            InvoiceRow.period_start == final.period.start,
            col(InvoiceRow.opens_period).is_(True),
        )
    ).first()
    return store_final(session, rated, final, at, opens_period=opened is None)


def store_final(
    session: Session,
    rated: Rated,
    final: Invoice,
    at: datetime,
    *,
    closes_period: bool = False,
    opens_period: bool = False,
) -> InvoiceView:
    """Store the finalized invoice ``final`` of ``rated``'s payer with the ledger entries its run lacks.

    An invoice with nothing to pay is stored as paid (the provider is never asked); any other is due for collection
    by whoever finalized it, and by the billing job should that attempt not record an outcome within
    :data:`COLLECTION_LEASE`. ``closes_period`` marks the invoice that closes its period, ``opens_period`` the
    one that bills its seats in advance first (each once per period).
    """
    nothing_to_pay = final.total_due_minor <= 0
    row = InvoiceRow(
        contract_id=final.contract_id,
        customer_id=final.customer_id,
        period_start=final.period.start,
        period_end=final.period.end,
        status=InvoiceStatus.PAID.value if nothing_to_pay else final.status.value,
        currency=final.currency.code,
        total_minor=final.total_due_minor,
        document=invoice_lines_to_doc(final),
        finalized_at=at,
        paid_at=at if nothing_to_pay else None,
        payment_note=NOTHING_TO_PAY if nothing_to_pay else "",
        next_payment_at=None if nothing_to_pay else at + COLLECTION_LEASE,
        closes_period=True if closes_period else None,
        opens_period=True if opens_period else None,
    )
    session.add(row)
    outgoing_webhooks.emit_invoice(session, row, "invoice.finalized")
    outgoing_webhooks.emit_invoice_outcome(session, row)  # nothing to pay: paid at once
    _record_ledger(session, rated)
    return with_payment(invoice_view(replace(final, id=row.id), rated.departments), row)


def published_version(session: Session, package: str) -> PackageVersion:
    """The package version named by an alias (its newest published version) or by a version id."""
    version = session.get(PackageVersion, package)
    if version is None:
        found = session.exec(
            select(PackageVersion)
            .join(Package, col(Package.id) == PackageVersion.package_id)
            .where(Package.key == package, PackageVersion.status == "published")
            .order_by(col(PackageVersion.version).desc())
        ).first()
        if found is None:
            raise InvalidInput(f"There is no published package {package!r}.")
        version = found
    if version.status != "published":
        raise InvalidInput(f"Package version {version.id} is {version.status}: only a published version can be sold.")
    return version


def require_manager(session: Session, actor: Actor, customer_id: str) -> None:
    """Staff, or an admin of the customer (keys need the staff scope to change contracts)."""
    visible_customer(session, actor, customer_id)
    if not (actor.is_staff or (actor.is_customer_admin and actor.customer_id == customer_id)):
        raise Forbidden("Only an admin of this account or staff can change its contract.")


@dataclass(frozen=True, slots=True)
class Provisioned:
    """A new contract and its first invoice (what is due today)."""

    contract: ContractView
    invoice: InvoiceView | None


SETTLED = frozenset({InvoiceStatus.PAID.value, InvoiceStatus.VOID.value})
"""Statuses of invoices with nothing left to collect."""


def collect(invoice: InvoiceView | None, at: datetime | None = None) -> InvoiceView | None:
    """Collect a just-finalized invoice through the payment gateway, after the commit that finalized it.

    The outcome is recorded on the invoice: paid, payment failed (with the reason), or still due (no
    provider configured). A failed payment never undoes what was bought; it shows on the invoice.

    Two phases, so that a retry or a crash at any step never charges twice: the provider's invoice is
    prepared and its id committed with ours first, then settled; a retry settles the recorded one again.

    A declined card, or a provider that could not be reached, is tried again by the billing job on the
    schedule of :mod:`portal.domain.payment_retries` (``next_payment_at``); after the last retry the invoice
    stays payment failed, for the customer admin to pay again. A credit purchase is never retried: it fails at
    once (credits bought days later by surprise would be worse), and the admin buys or pays again. ``at`` is the
    time of the attempt (now).
    """
    return None if invoice is None else collect_invoice(invoice, at)


def collect_invoice(invoice: InvoiceView, at: datetime | None = None) -> InvoiceView:
    """:func:`collect` one invoice (never None)."""
    at = at or utcnow()
    gateway = configured_gateway()
    with UnitOfWork() as uow:
        row = uow.session.get(InvoiceRow, invoice.id)
        customer = uow.session.get(Customer, row.customer_id) if row else None
        if row is None or customer is None:
            raise NotFound(f"There is no invoice {invoice.id}.")
        if row.status in SETTLED:
            return with_payment(invoice, row)
        row.payment_attempts += 1
        uow.session.add(row)
        email = uow.session.exec(
            select(User.email).where(User.customer_id == customer.id).where(User.role == "admin").order_by(User.email)
        ).first()
        request = CollectionRequest(
            invoice_id=row.id,
            customer_id=customer.id,
            customer_name=customer.name,
            amount_minor=row.total_minor,
            currency=row.currency,
            description=f"{customer.name}: {invoice.period}",
            attempt=row.payment_attempts,
            lines=tuple(CollectionLine(line.description, line.due_minor) for line in invoice.lines if line.due_minor),
        )
        recorded = row.payment_reference if row.payment_provider == gateway.name else None
        known_customer = customer.payment_customer_id
    reference = recorded
    unreachable = False
    try:
        provider_customer = gateway.ensure_customer(request.customer_id, request.customer_name, email, known_customer)
        request = replace(request, provider_customer=provider_customer)
        if reference is None:
            reference = gateway.prepare(request)
        if provider_customer != known_customer or reference != recorded:
            _record_references(request, gateway.name, provider_customer, reference)
        result = gateway.settle(request, reference)
    except PaymentProviderError as error:
        unreachable = True
        result = CollectionResult(
            PaymentStatus.DUE, gateway.name, f"The payment could not be completed: {error}", reference
        )
    with UnitOfWork() as uow:
        row = uow.session.exec(select(InvoiceRow).where(InvoiceRow.id == invoice.id).with_for_update()).first()
        if row is None:
            raise NotFound(f"There is no invoice {invoice.id}.")
        if row.status in SETTLED:  # paid or voided meanwhile (a webhook, another attempt): that stands
            return with_payment(invoice, row)
        if result.reference is not None or row.payment_reference is None:
            row.payment_provider, row.payment_reference = result.provider, result.reference
        row.payment_note = result.message
        if result.status is PaymentStatus.PAID:
            row.status, row.paid_at, row.next_payment_at = InvoiceStatus.PAID.value, at, None
        elif _buys_credits(uow.session, row.id) and (result.status is PaymentStatus.FAILED or unreachable):
            row.status, row.next_payment_at = InvoiceStatus.PAYMENT_FAILED.value, None
        elif result.status is PaymentStatus.FAILED or unreachable:
            _schedule_retry(row, at, declined=not unreachable)
        else:  # no provider to collect with: recorded as due, and nothing to try again
            row.next_payment_at = None
        uow.session.add(row)
        outgoing_webhooks.emit_invoice_outcome(uow.session, row)
        return with_payment(invoice, row)


def _buys_credits(session: Session, invoice_id: str) -> bool:
    found = session.exec(select(CreditPurchaseRow.id).where(CreditPurchaseRow.invoice_id == invoice_id)).first()
    return found is not None


def _schedule_retry(row: InvoiceRow, at: datetime, declined: bool) -> None:
    """After a failed attempt at ``at``: the next retry of the schedule, or, after the last, payment failed for good
    (the note says so).

    A declined card fails the invoice at once; a provider that could not be reached leaves it as it was (we do
    not know that anything failed) until the retries are used up.
    """
    row.payment_failed_at = row.payment_failed_at or at
    row.next_payment_at = next_retry(row.payment_failed_at, at)
    if row.next_payment_at is None:
        row.status, row.payment_note = InvoiceStatus.PAYMENT_FAILED.value, _noted(row.payment_note, NO_MORE_RETRIES)
    elif declined:
        row.status = InvoiceStatus.PAYMENT_FAILED.value


def _noted(message: str, addition: str) -> str:
    """``message`` (ended as a sentence) followed by ``addition``, within the 500 characters a payment note holds
    (``message`` is cut)."""
    if not message:
        return addition
    ended = message if message.endswith((".", "!", "?", ")")) else f"{message}."
    return f"{ended[: PAYMENT_NOTE_LENGTH - len(addition) - 1]} {addition}"


def pay_again(actor: Actor, invoice_id: str, at: datetime | None = None) -> InvoiceView:
    """Collect an unpaid invoice again now, as the customer admin asks once they have updated the card.

    Admins of the invoice's customer and staff only (:class:`Forbidden` for anyone else who can see the customer,
    :class:`NotFound` for who cannot); a paid or void invoice is refused (:class:`InvalidInput`). The invoice is
    settled as :func:`collect` does, so it is never charged twice; the outcome is on the returned invoice.
    """
    at = at or utcnow()
    with UnitOfWork() as uow:
        session = uow.session
        row = session.get(InvoiceRow, invoice_id)
        if row is None:
            raise NotFound(f"There is no invoice {invoice_id}.")
        try:
            visible_customer(session, actor, row.customer_id)
        except NotFound:
            raise NotFound(f"There is no invoice {invoice_id}.") from None
        if not (actor.is_staff or (actor.is_customer_admin and actor.customer_id == row.customer_id)):
            raise Forbidden("Only an admin of this account or staff can pay its invoices.")
        if row.status == InvoiceStatus.PAID.value:
            raise InvalidInput(f"Invoice {invoice_id} is paid already: there is nothing to pay.")
        if row.status == InvoiceStatus.VOID.value:
            raise InvalidInput(f"Invoice {invoice_id} was voided: there is nothing to pay.")
        row.next_payment_at = at + COLLECTION_LEASE  # the billing job leaves it alone while this attempt runs
        session.add(row)
        view = stored_view(row, Catalog(session).credit_types)
        record_if_staff(
            session, actor, "invoice.pay_again", ("invoice", row.id), f"payment of invoice {row.id} tried again"
        )
    return collect_invoice(view, at)


def _record_references(
    request: CollectionRequest, provider: str, provider_customer: str | None, reference: str | None
) -> None:
    """Commit the provider's customer and invoice ids before anything is charged against them."""
    with UnitOfWork() as uow:
        customer = uow.session.get(Customer, request.customer_id)
        row = uow.session.get(InvoiceRow, request.invoice_id)
        if customer is None or row is None:
            raise NotFound(f"There is no invoice {request.invoice_id}.")
        if provider_customer is not None:
            customer.payment_customer_id = provider_customer
            uow.session.add(customer)
        if reference is not None:
            row.payment_provider, row.payment_reference = provider, reference
            uow.session.add(row)


def check_seats(version: PackageVersion, seats: int, holders: int) -> None:
    """Refuse a seat count the package does not allow, or more holders than seats."""
    if seats > MAX_SEATS:
        raise InvalidInput(f"A contract has at most {MAX_SEATS:,} seats; {seats} were asked for.")
    if seats < version.min_seats or (version.max_seats is not None and seats > version.max_seats):
        most = f" and at most {version.max_seats}" if version.max_seats is not None else ""
        raise InvalidInput(f"This package needs at least {version.min_seats} seats{most}; {seats} were asked for.")
    if holders > seats:
        raise InvalidInput(f"{holders} people cannot hold {seats} seats: add seats or name fewer people.")


def open_contract(
    session: Session, customer: Customer, version: PackageVersion, seats: int, seat_ids: Sequence[str], at: datetime
) -> tuple[str, InvoiceView | None]:
    """Create the customer's contract on ``version`` from the current hour, and finalize what is due today.

    Returns the contract id and the first invoice (the first period's seats, in advance).
    """
    ids = tuple(dict.fromkeys(s.strip() for s in seat_ids if s.strip()))
    check_seats(version, seats, len(ids))
    if version.currency != customer.currency:
        raise InvalidInput(f"The package bills in {version.currency} but {customer.name} pays in {customer.currency}.")
    existing = session.exec(
        select(Contract)
        .where(Contract.customer_id == customer.id)
        .where((col(Contract.ending_before).is_(None)) | (col(Contract.ending_before) > at))
    ).first()
    if existing is not None:
        raise InvalidInput(f"{customer.name} already has a contract: switch its tier instead.")
    start = _hour(at)
    contract = Contract(
        customer_id=customer.id,
        currency=customer.currency,
        starting_at=start,
        billing_frequency=Frequency[version.billing_frequency].name,
    )
    session.add(contract)
    session.flush()
    session.add(
        ContractTerms(contract_id=contract.id, starting_at=start, package_version_id=version.id, reason="provisioned")
    )
    session.add(SeatSubscriptionRow(contract_id=contract.id, started_at=start, quantity=seats, seat_ids=list(ids)))
    outgoing_webhooks.emit_contract(session, customer.id, "contract.started", contract.id, version.id, start)
    session.flush()
    try:
        rated = rate(session, Catalog(session), contract.id, at)
    except DomainError as exc:
        raise InvalidInput(str(exc)) from None
    return contract.id, finalize_due_now(session, rated, at)


def provision(
    actor: Actor, customer_id: str, package: str, seats: int, seat_ids: Sequence[str] = (), at: datetime | None = None
) -> Provisioned:
    """Put the customer on a package version with ``seats`` seats (``seat_ids`` hold the first ones); staff only.

    The contract starts at the current hour, so billing periods are anchored there; the first
    period's seats are charged at once and that invoice is finalized (then collected).
    """
    at = at or utcnow()
    if not actor.is_staff:
        raise Forbidden("Only staff can provision contracts.")
    with UnitOfWork() as uow:
        customer = visible_customer(uow.session, actor, customer_id)
        version = published_version(uow.session, package)
        contract_id, invoice = open_contract(uow.session, customer, version, seats, seat_ids, at)
        record(
            uow.session,
            actor,
            "contract.provision",
            ("contract", contract_id),
            f"{customer.name} provisioned on {package} (version {version.version}) with {seats} seats",
            after={"customer_id": customer_id, "package_version_id": version.id, "seats": seats,
                   "seat_ids": list(seat_ids), "starts": at.isoformat()},
        )  # fmt: skip
    return Provisioned(contract_view(actor, customer_id, at), collect(invoice))


def _seat_rows(subscription_id: str, change: SeatCountChange) -> list[SeatChangeRow]:
    """The stored seat changes of a change, in the order :func:`invoicing.apply_change` applies them."""
    rows = []
    if change.remove:
        rows.append(
            SeatChangeRow(
                subscription_id=subscription_id, at=change.at, kind="remove_seat_ids", seat_ids=list(change.remove)
            )
        )
    if change.add:
        rows.append(
            SeatChangeRow(subscription_id=subscription_id, at=change.at, kind="add_seat_ids", seat_ids=list(change.add))
        )
    if change.quantity is not None:
        rows.append(
            SeatChangeRow(subscription_id=subscription_id, at=change.at, kind="set_quantity", quantity=change.quantity)
        )
    return rows


def _seat_change(
    contract_id: str, add: Sequence[str], remove: Sequence[str], quantity: int | None, at: datetime
) -> SeatCountChange:
    clean = [tuple(dict.fromkeys(s.strip() for s in ids if s.strip())) for ids in (add, remove)]
    if quantity is not None and not 0 <= quantity <= MAX_SEATS:
        raise InvalidInput(f"The number of seats must be from 0 to {MAX_SEATS:,}, not {quantity}.")
    return SeatCountChange(contract_id, at, add=clean[0], remove=clean[1], quantity=quantity)


def _preview(rated: Rated, change: invoicing.PendingChange, at: datetime) -> PreviewView:
    try:
        result = invoicing.preview(
            change,
            rated.family.contracts,
            rated.period,
            rated.usage,
            as_of=at,
            hierarchy=rated.family.hierarchy,
            ledger=rated.family.ledger,
            finalized=rated.finalized,
        )
    except DomainError as exc:
        raise InvalidInput(str(exc)) from None

    def fmt(minor: int) -> str:
        return Money.from_minor(minor, result.currency).format()

    return PreviewView(
        due_now=fmt(result.due_now_minor),
        at_period_end=fmt(result.at_period_end_minor),
        next_period=fmt(result.next_period_minor),
        due_now_minor=result.due_now_minor,
        lines=tuple(line_view(line, rated.departments) for line in (*result.due_now, *result.next_period)),
    )


def preview_seats(
    actor: Actor,
    customer_id: str,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    quantity: int | None = None,
    at: datetime | None = None,
) -> PreviewView:
    """What adding or removing seat ids, or setting the count, would cost, without doing it."""
    at = at or utcnow()
    with UnitOfWork() as uow:
        _, rated = _for_customer(uow.session, actor, customer_id, at)
        return _preview(rated, _seat_change(rated.contract_id, add, remove, quantity, at), at)


def change_seats(
    actor: Actor,
    customer_id: str,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    quantity: int | None = None,
    at: datetime | None = None,
) -> tuple[ContractView, InvoiceView | None]:
    """Add or remove seat ids, or set the count; an increase's prorated charge is finalized at once."""
    at = at or utcnow()
    with UnitOfWork() as uow:
        session = uow.session
        require_manager(session, actor, customer_id)
        catalog, rated = _for_customer(session, actor, customer_id, at)
        change = _seat_change(rated.contract_id, add, remove, quantity, at)
        try:
            changed = invoicing.apply_change(rated.family.contract(rated.contract_id), change)
        except DomainError as exc:
            raise InvalidInput(str(exc)) from None
        outgoing_webhooks.emit_seat_changes(session, customer_id, rated.family.contract(rated.contract_id), changed, at)
        subscription = session.exec(
            select(SeatSubscriptionRow).where(SeatSubscriptionRow.contract_id == rated.contract_id)
        ).one()
        session.add_all(_seat_rows(subscription.id, change))
        session.flush()
        invoice = finalize_due_now(session, rate(session, catalog, rated.contract_id, at), at)
        record_if_staff(
            session,
            actor,
            "contract.seats",
            ("contract", rated.contract_id),
            f"seats of {customer_id} changed: added {', '.join(add) or 'none'}, removed {', '.join(remove) or 'none'}"
            + (f", count set to {quantity}" if quantity is not None else ""),
            after={"add": list(add), "remove": list(remove), "quantity": quantity, "at": at.isoformat()},
        )
    return contract_view(actor, customer_id, at), collect(invoice)


def preview_switch(actor: Actor, customer_id: str, package: str, at: datetime | None = None) -> PreviewView:
    """What moving to another package would cost: an upgrade at once (prorated), a downgrade from next period."""
    at = at or utcnow()
    with UnitOfWork() as uow:
        catalog, rated = _for_customer(uow.session, actor, customer_id, at)
        terms = catalog.version_terms(published_version(uow.session, package))
        return _preview(rated, TierSwitch(rated.contract_id, terms, at), at)
