"""Customers for staff: find one, grant credits by hand with a reason, void an unpaid invoice.

Everything else staff see of a customer (contract and seats, balances,
invoices with their explanations, the live draft) comes from the same
services the customer's own pages use, called with staff rights.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from portal.db.codecs import lookup_credit_type
from portal.db.loaders import Catalog
from portal.db.models import (
    Contract,
    Customer,
    GrantRow,
    IngestAlias,
    InvoiceRow,
    Package,
    PackageVersion,
    User,
    utcnow,
)
from portal.db.uow import UnitOfWork
from portal.domain.errors import DomainError
from portal.domain.invoicing import InvoiceStatus
from portal.domain.money import Money, bounded_decimal
from portal.domain.periods import ensure_utc
from portal.services import outgoing_webhooks
from portal.services.audit import record, require_staff
from portal.services.billing import active_contract
from portal.services.customers import Actor
from portal.services.errors import InvalidInput, NotFound
from portal.services.proposals import current_terms

SEARCH_LIMIT = 50
MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class CustomerMatch:
    """One customer in a staff search: who, under whom, on what, with how many users."""

    id: str
    name: str
    parent: str
    package: str
    users: int


def search(actor: Actor, text: str = "", limit: int = SEARCH_LIMIT) -> list[CustomerMatch]:
    """Customers whose name, id or ingest alias contains ``text`` (all when empty), by name (staff only)."""
    require_staff(actor)
    wanted = text.strip()
    with UnitOfWork() as uow:
        session = uow.session
        query = select(Customer).order_by(col(Customer.name)).limit(max(1, min(limit, SEARCH_LIMIT)))
        if wanted:
            pattern = f"%{wanted}%"
            aliased = select(IngestAlias.customer_id).where(col(IngestAlias.alias).ilike(pattern))
            query = query.where(
                col(Customer.name).ilike(pattern) | col(Customer.id).ilike(pattern) | col(Customer.id).in_(aliased)
            )
        customers = session.exec(query).all()
        names = dict(session.exec(select(Customer.id, Customer.name)).all())
        users = Counter(session.exec(select(User.customer_id).where(col(User.customer_id).is_not(None))).all())
        packages = _package_labels(session, utcnow(), [c.id for c in customers])
        return [
            CustomerMatch(
                c.id, c.name, names.get(c.parent_id, "") if c.parent_id else "", packages.get(c.id, ""), users[c.id]
            )
            for c in customers
        ]


def _package_labels(session: Session, at: datetime, customer_ids: list[str]) -> dict[str, str]:
    """Each of these customers' tier now, e.g. ``Team v1`` (a bare rate card reads ``custom rates``)."""
    terms = current_terms(session, at, customer_ids)
    versions = {
        v.id: f"{p.name} v{v.version}"
        for v, p in session.exec(select(PackageVersion, Package).where(PackageVersion.package_id == Package.id)).all()
    }
    owners = dict(
        session.exec(select(Contract.id, Contract.customer_id).where(col(Contract.id).in_(list(terms)))).all()
    )
    return {
        owners[contract_id]: versions.get(t.package_version_id or "", "custom rates")
        for contract_id, t in terms.items()
        if contract_id in owners
    }


@dataclass(frozen=True, slots=True)
class ManualGrant:
    """A credit granted by hand."""

    id: str
    customer_id: str
    contract_id: str
    amount: str
    starts: datetime
    expires: datetime | None
    reason: str


def grant_credits(
    actor: Actor,
    customer_id: str,
    amount: object,
    credit_type_id: str,
    reason: str,
    *,
    starting_at: datetime | None = None,
    ending_before: datetime | None = None,
) -> ManualGrant:
    """Give the customer's current contract a credit by hand (source ``manual``), with the reason why."""
    require_staff(actor)
    why = reason.strip()
    if not why:
        raise InvalidInput("Say why the credit is granted (the customer and the audit log see the reason).")
    if len(why) > MAX_REASON:
        raise InvalidInput(f"The reason is {len(why)} characters long: keep it to {MAX_REASON}.")
    try:
        units = bounded_decimal(amount, "credit amount")
        start = ensure_utc(starting_at or utcnow(), "start")
        end = ensure_utc(ending_before, "expiry") if ending_before is not None else None
    except DomainError as exc:
        raise InvalidInput(str(exc)) from None
    if units <= 0:
        raise InvalidInput(f"The credit amount must be more than zero, not {units}.")
    if end is not None and end <= start:
        raise InvalidInput(f"The credit expires ({end:%Y-%m-%d}) before it starts ({start:%Y-%m-%d}).")
    with UnitOfWork() as uow:
        session = uow.session
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise NotFound(f"There is no customer {customer_id}.")
        try:
            credit_type = lookup_credit_type(Catalog(session).credit_types, credit_type_id)
        except DomainError as exc:
            raise InvalidInput(str(exc)) from None
        contract = active_contract(session, customer_id, start)
        grant = GrantRow(
            contract_id=contract.id,
            kind="credit",
            credit_type_id=credit_type_id,
            amount=credit_type.round(units),
            starting_at=start,
            ending_before=end,
            source="manual",
            reason=why,
        )
        session.add(grant)
        session.flush()
        outgoing_webhooks.emit_grant_created(session, customer_id, grant)
        shown = credit_type.format(grant.amount)
        record(
            session,
            actor,
            "grant.manual",
            ("grant", grant.id),
            f"{shown} granted to {customer.name}: {why}",
            after={"customer_id": customer_id, "contract_id": contract.id, "amount": str(grant.amount),
                   "credit_type_id": credit_type_id, "starts": start.isoformat(),
                   "expires": end.isoformat() if end else None, "reason": why},
        )  # fmt: skip
        return ManualGrant(grant.id, customer_id, contract.id, shown, start, end, why)


def void_invoice(actor: Actor, invoice_id: str, reason: str) -> str:
    """Void a finalized, unpaid invoice (what it billed is billed again by the period's next draft); the new
    status."""
    require_staff(actor)
    why = reason.strip()
    if not why:
        raise InvalidInput("Say why the invoice is voided (the audit log keeps the reason).")
    with UnitOfWork() as uow:
        row = uow.session.get(InvoiceRow, invoice_id)
        if row is None:
            raise NotFound(f"There is no invoice {invoice_id}.")
        if row.status == InvoiceStatus.VOID.value:
            raise InvalidInput(f"Invoice {invoice_id} is already void.")
        if row.status == InvoiceStatus.PAID.value:
            raise InvalidInput(
                f"Invoice {invoice_id} is paid: refund the payment first, then void it, so no money is lost track of."
            )
        before = row.status
        row.status = InvoiceStatus.VOID.value
        row.voided_at = utcnow()
        total = Money.from_minor(row.total_minor, row.currency).format()
        record(
            uow.session,
            actor,
            "invoice.void",
            ("invoice", row.id),
            f"invoice of {total} voided: {why[:MAX_REASON]}",
            before={"status": before},
            after={"status": row.status, "reason": why[:MAX_REASON]},
        )
        return row.status
