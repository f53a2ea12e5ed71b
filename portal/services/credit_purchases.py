"""Credits for money: prepaid credits bought by a customer's admin, and auto-recharge.

* :func:`credit_offer` says which credits the customer can buy, at what price each, and whether card payments are
  set up; :func:`quote_credits` prices a number of them (the rules are in :mod:`portal.domain.credit_purchases`:
  whole credits, credits × unit price rounded once, half up, to the currency's minor unit).
* :func:`buy_credits` charges for credits and grants them **only once the payment succeeds**: it finalizes a one-line
  invoice for the purchase (committed first), collects it through the configured gateway
  (:func:`portal.services.billing.collect`, which never charges twice), and when it is paid gives the contract a
  prepaid commit: scope contract, source ``purchase``, from the moment it is granted until the contract ends, or for
  :data:`VALID_MONTHS` months when the contract has no end. A declined card leaves the purchase failed and grants
  nothing; without a payment provider a purchase is refused before anything is written.
* Exactly once: the grant's id is derived from the purchase's and a purchase's grant is unique, so whoever grants
  it (the buyer's request, the same request sent again, :func:`pay_again`, the ``invoice.paid`` webhook through
  :func:`grant_if_paid`, or :func:`reconcile` after its invoice was paid elsewhere) it is granted once.
* Auto-recharge (:func:`set_auto_recharge`, :func:`check_auto_recharge`): after usage is stored (the ingest API
  tells :func:`recharge_watcher`), a customer whose pooled balance in its credit type (the contract's pool, as the
  dashboard shows it) is below the threshold buys up to the target. One recharge at a time per customer: the
  recharge is claimed with a conditional update (two threads or processes never both win) and the balance is read
  again after the claim; while an automatic purchase is still waiting for its payment no other is bought. A failed
  payment turns auto-recharge off, records why and mails the customer's admins.

Purchase invoices are not billing-period invoices: the rating engine leaves them out of what a period billed
(:func:`portal.db.loaders.finalized_invoices`); their period is the credits' validity.

Authorization: staff and the customer's own admins; members are refused, other customers do not exist for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import ColumnElement
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select, update

from portal.auth.mail import Message, mailer
from portal.config import get_settings
from portal.db.codecs import invoice_lines_to_doc
from portal.db.loaders import Catalog, load_family, stored_invoice
from portal.db.models import (
    AutoRechargeRow,
    Contract,
    CreditPurchaseRow,
    Customer,
    GrantRow,
    InvoiceRow,
    User,
    new_id,
    utcnow,
)
from portal.db.uow import UnitOfWork
from portal.domain import credit_purchases as rules
from portal.domain import invoicing
from portal.domain.contracts import Terms
from portal.domain.errors import DomainError
from portal.domain.grants import GrantKind, GrantScope, GrantSource
from portal.domain.invoicing import Invoice, InvoiceLine, InvoiceStatus, LineKind, Timing
from portal.domain.money import ZERO, CreditType, Money, fiat
from portal.domain.periods import Period, add_months
from portal.payments import configured_gateway
from portal.payments.offline import OfflineGateway
from portal.services import billing, outgoing_webhooks
from portal.services.audit import record, record_if_staff
from portal.services.customers import Actor, visible_customer
from portal.services.errors import Forbidden, InvalidInput, NotFound, ServiceError
from portal.services.usage_watch import UsageWatcher

VALID_MONTHS = 12
"""How long purchased credits last when the contract has no end (else they last until it ends)."""
CLAIM_EXPIRES = timedelta(minutes=10)
"""A recharge claimed longer ago than this is taken to have died with its process, and may be claimed again."""
PENDING, PAID, FAILED, VOID = "pending", "paid", "failed", "void"
MANUAL, AUTO = "manual", "auto"
PURCHASE_PRODUCT = "credit_purchase"
"""The product id on a purchase invoice's line (not a catalog product: the line bills credits, not usage)."""
NEEDS_CARD_PAYMENTS = (
    "Buying credits needs card payments: this portal has no payment provider configured (STRIPE_SECRET_KEY), "
    "so nothing could be charged. Ask Portal staff for credits instead."
)
_STATUS_OF_INVOICE = {
    InvoiceStatus.PAYMENT_FAILED.value: FAILED,
    InvoiceStatus.VOID.value: VOID,
    InvoiceStatus.FINALIZED.value: PENDING,
}


@dataclass(frozen=True, slots=True)
class _Portal:
    """The portal acting for a customer on its own (auto-recharge): staff rights, named in the audit log."""

    audit_name: str
    is_staff: bool = True
    customer_id: str | None = None
    is_customer_admin: bool = False


AUTO_RECHARGE = _Portal("auto-recharge")
"""Who buys an automatic recharge."""


# --- views -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreditOffer:
    """The credits a customer can buy: the credit type, the price of one, the limits of one purchase, and why
    buying is not possible now (``refusal``, empty when it is)."""

    credit_type_id: str
    credit_type: str
    unit_price: str
    minimum: str
    maximum: str
    refusal: str


@dataclass(frozen=True, slots=True)
class QuoteView:
    """What a number of credits costs, formatted, with the question a buyer confirms."""

    credits: str
    label: str
    price: str
    price_minor: int
    question: str


@dataclass(frozen=True, slots=True)
class PurchaseView:
    """One purchase of credits: what, for how much, bought how (``manual`` or ``auto``), and how it stands
    (``pending``, ``paid`` — the credits were granted —, ``failed`` or ``void``) with the payment's last word."""

    id: str
    credits: str
    credits_units: str
    price: str
    price_minor: int
    currency: str
    source: str
    status: str
    note: str
    created_at: datetime
    paid_at: datetime | None
    invoice_id: str
    grant_id: str | None


@dataclass(frozen=True, slots=True)
class AutoRechargeView:
    """A customer's auto-recharge settings and what happened last; ``turned_off`` is the notice shown when a failed
    payment turned it off (empty otherwise)."""

    enabled: bool
    threshold: str
    target: str
    last_outcome: str
    turned_off: str
    updated_at: datetime | None
    updated_by: str


def _purchase_view(row: CreditPurchaseRow, credit_type: CreditType) -> PurchaseView:
    return PurchaseView(
        id=row.id,
        credits=credit_type.format(row.credits),
        credits_units=billing.plain_number(row.credits),
        price=Money.from_minor(row.price_minor, row.currency).format(),
        price_minor=row.price_minor,
        currency=row.currency,
        source=row.source,
        status=row.status,
        note=row.note,
        created_at=row.created_at,
        paid_at=row.paid_at,
        invoice_id=row.invoice_id,
        grant_id=row.grant_id,
    )


def _auto_view(row: AutoRechargeRow | None) -> AutoRechargeView:
    if row is None:
        return AutoRechargeView(False, "", "", "", "", None, "")
    turned_off = (
        f"Auto-recharge was turned off on {row.turned_off_at:%Y-%m-%d} because a payment failed: {row.last_outcome} "
        "Update your card, then turn it on again."
        if row.turned_off_at is not None and not row.enabled
        else ""
    )
    return AutoRechargeView(
        row.enabled,
        billing.plain_number(row.threshold),
        billing.plain_number(row.target),
        row.last_outcome,
        turned_off,
        row.updated_at,
        row.updated_by,
    )


def _quote_view(quote: rules.CreditQuote) -> QuoteView:
    price = quote.price.format()
    return QuoteView(
        billing.plain_number(quote.credits), quote.label, price, quote.price_minor, f"Buy {quote.label} for {price}?"
    )


# --- who, which credits, at what price --------------------------------------------------------------


def _require_admin(session: Session, actor: Actor, customer_id: str) -> Customer:
    """The customer, if ``actor`` is staff or one of its admins; members are refused, others see no customer."""
    customer = visible_customer(session, actor, customer_id)
    if not (actor.is_staff or (actor.is_customer_admin and actor.customer_id == customer_id)):
        raise Forbidden("Only an admin of this account or staff can buy credits and set up auto-recharge.")
    return customer


def _payments_refusal() -> str:
    """Why nothing can be charged now (no payment provider), or empty when card payments are set up."""
    return NEEDS_CARD_PAYMENTS if configured_gateway().name == OfflineGateway.name else ""


def _credits_of(terms: Terms) -> CreditType:
    """The credit type a contract on ``terms`` buys: its seat credits' unit, else the first custom unit it prices in."""
    if terms.seat_credits is not None and not terms.seat_credits.credit_type.is_fiat:
        return terms.seat_credits.credit_type
    for _, credit_type in terms.credit_types():
        if not credit_type.is_fiat:
            return credit_type
    raise InvalidInput("This plan keeps its balances in money, not in credits: there are no credits to buy.")


def _offer(session: Session, customer: Customer, at: datetime) -> tuple[Contract, CreditType]:
    """The customer's contract in force and the credit type it buys."""
    contract = billing.active_contract(session, customer.id, at)
    terms = load_family(session, contract.id, Catalog(session)).contract(contract.id).terms_at(at)
    credit_type = _credits_of(terms)
    if credit_type.currency.code != contract.currency:
        raise InvalidInput(
            f"{credit_type.name} are priced in {credit_type.currency.code} but {customer.name} pays in "
            f"{contract.currency}: ask Portal staff for credits."
        )
    return contract, credit_type


def _quote(credit_type: CreditType, credits: object) -> rules.CreditQuote:
    try:
        return rules.quote(credit_type, credits)
    except DomainError as exc:
        raise InvalidInput(str(exc)) from None


def credit_offer(actor: Actor, customer_id: str, at: datetime | None = None) -> CreditOffer:
    """Which credits the customer can buy, at what price each, and whether buying is possible now."""
    at = at or utcnow()
    with UnitOfWork() as uow:
        customer = _require_admin(uow.session, actor, customer_id)
        _, credit_type = _offer(uow.session, customer, at)
    currency = credit_type.currency
    return CreditOffer(
        credit_type.id,
        credit_type.name,
        f"{currency.symbol or currency.code + ' '}{billing.plain_number(credit_type.unit_price)}",
        credit_type.format(rules.MIN_CREDITS),
        credit_type.format(rules.MAX_CREDITS),
        _payments_refusal(),
    )


def quote_credits(actor: Actor, customer_id: str, credits: object, at: datetime | None = None) -> QuoteView:
    """What ``credits`` whole credits cost the customer now; nothing is stored."""
    at = at or utcnow()
    with UnitOfWork() as uow:
        customer = _require_admin(uow.session, actor, customer_id)
        _, credit_type = _offer(uow.session, customer, at)
    return _quote_view(_quote(credit_type, credits))


# --- buying ----------------------------------------------------------------------------------------


def _expiry(contract: Contract, bought_at: datetime) -> datetime:
    """When credits bought at ``bought_at`` expire: when the contract ends, else after :data:`VALID_MONTHS`."""
    return contract.ending_before or add_months(bought_at, VALID_MONTHS)


def _purchase_invoice(purchase_id: str, contract: Contract, quote: rules.CreditQuote, at: datetime) -> Invoice:
    """The finalized one-line invoice of a purchase; its period is the credits' validity."""
    period = Period(at, _expiry(contract, at))
    line = InvoiceLine(
        key=f"credits:{purchase_id}",
        kind=LineKind.FIXED,
        timing=Timing.IN_ADVANCE,
        contract_id=contract.id,
        product_id=PURCHASE_PRODUCT,
        description=f"{quote.label}, prepaid",
        period=period,
        credit_type=fiat(quote.credit_type.currency),
        quantity=quote.credits,
        unit_price=quote.credit_type.unit_price,
        units=quote.amount,
        overage_units=quote.amount,
        blocked_units=ZERO,
        amount_minor=quote.price_minor,
        grants_minor=0,
        blocked_minor=0,
        due_minor=quote.price_minor,
    )
    draft = Invoice(
        id=purchase_id,
        contract_id=contract.id,
        customer_id=contract.customer_id,
        period=period,
        currency=quote.credit_type.currency,
        status=InvoiceStatus.DRAFT,
        lines=(line,),
        as_of=at,
    )
    return invoicing.finalize(draft, at)


def _open_purchase(
    session: Session,
    actor: Actor,
    customer: Customer,
    credits: object,
    source: str,
    request_key: str | None,
    at: datetime,
) -> tuple[CreditPurchaseRow, billing.InvoiceView]:
    """Record a purchase and finalize its invoice (in the caller's transaction); nothing is charged or granted."""
    contract, credit_type = _offer(session, customer, at)
    quote = _quote(credit_type, credits)
    purchase_id = new_id("cpu")
    invoice = _purchase_invoice(purchase_id, contract, quote, at)
    row = InvoiceRow(
        contract_id=contract.id,
        customer_id=customer.id,
        period_start=invoice.period.start,
        period_end=invoice.period.end,
        status=invoice.status.value,
        currency=invoice.currency.code,
        total_minor=invoice.total_due_minor,
        document=invoice_lines_to_doc(invoice),
        finalized_at=at,
    )
    session.add(row)
    session.flush()
    purchase = CreditPurchaseRow(
        id=purchase_id,
        customer_id=customer.id,
        contract_id=contract.id,
        credit_type_id=credit_type.id,
        credits=quote.credits,
        price_minor=quote.price_minor,
        currency=invoice.currency.code,
        invoice_id=row.id,
        source=source,
        request_key=request_key,
        created_by=actor.audit_name,
        created_at=at,
    )
    session.add(purchase)
    session.flush()
    record_if_staff(
        session,
        actor,
        "credits.buy",
        ("credit_purchase", purchase.id),
        f"{quote.label} bought for {customer.name} for {quote.price.format()} ({source})",
        after={"customer_id": customer.id, "credits": str(quote.credits), "credit_type_id": credit_type.id,
               "price_minor": quote.price_minor, "currency": purchase.currency, "invoice_id": row.id},
    )  # fmt: skip
    return purchase, billing.invoice_view(replace(invoice, id=row.id), {})


def _grant(session: Session, purchase: CreditPurchaseRow, at: datetime) -> str:
    """Give the contract the purchased credits as a prepaid commit, in the caller's transaction; the grant id.

    A second grant of the same purchase fails on the grant's id (derived from the purchase's) and on the purchase's
    unique grant, whoever attempts it.
    """
    contract = session.get(Contract, purchase.contract_id)
    if contract is None:
        raise NotFound(f"The contract of purchase {purchase.id} no longer exists.")
    credit_type = Catalog(session).credit_type(purchase.credit_type_id)
    expires = _expiry(contract, purchase.created_at)
    price = Money.from_minor(purchase.price_minor, purchase.currency).format()
    grant = GrantRow(
        id=f"grt_{purchase.id}",
        contract_id=purchase.contract_id,
        kind=GrantKind.COMMIT.value,
        credit_type_id=purchase.credit_type_id,
        amount=purchase.credits,
        starting_at=at if at < expires else purchase.created_at,
        ending_before=expires,
        scope=GrantScope.CONTRACT.value,
        source=GrantSource.PURCHASE.value,
        reason=f"{credit_type.format(purchase.credits)} bought for {price} (purchase {purchase.id})",
    )
    session.add(grant)
    session.flush()
    outgoing_webhooks.emit_grant_created(session, purchase.customer_id, grant)
    purchase.grant_id, purchase.status, purchase.paid_at = grant.id, PAID, at
    session.add(purchase)
    session.flush()
    return grant.id


def _sync(session: Session, purchase: CreditPurchaseRow, at: datetime) -> None:
    """Bring a purchase up to date with its invoice: granted once the invoice is paid, failed or void with it."""
    if purchase.grant_id is not None:
        return
    invoice = session.get(InvoiceRow, purchase.invoice_id)
    if invoice is None:
        raise NotFound(f"The invoice of purchase {purchase.id} no longer exists.")
    if invoice.status == InvoiceStatus.PAID.value:
        _grant(session, purchase, at)
        purchase.note = invoice.payment_note
    else:
        purchase.status = _STATUS_OF_INVOICE.get(invoice.status, PENDING)
        purchase.note = invoice.payment_note[:500]
    session.add(purchase)


def _locked_purchases(session: Session, *where: ColumnElement[bool] | bool) -> list[CreditPurchaseRow]:
    """The purchases that match ``where``, oldest first, locked for this transaction (on PostgreSQL)."""
    query = select(CreditPurchaseRow).where(*where).order_by(col(CreditPurchaseRow.created_at))
    return list(session.exec(query.with_for_update()).all())


def _synced(*where: ColumnElement[bool] | bool) -> None:
    """:func:`_sync` the purchases that match ``where`` and are not granted yet; one transaction. When another
    transaction granted one of them at the same moment, the work is read again and done once more (it is then
    nothing for that purchase)."""
    for attempt in range(3):
        try:
            with UnitOfWork() as uow:
                at = utcnow()
                for purchase in _locked_purchases(uow.session, col(CreditPurchaseRow.grant_id).is_(None), *where):
                    _sync(uow.session, purchase, at)
            return
        except IntegrityError:
            if attempt == 2:
                raise


def grant_if_paid(session: Session, invoice_id: str, at: datetime | None = None) -> str | None:
    """Grant the credits a paid invoice was for, when it is a credit purchase's invoice whose credits were not granted
    yet, in the caller's transaction (the webhook's, which marked it paid); the new grant's id, else None."""
    invoice = session.get(InvoiceRow, invoice_id)
    if invoice is None or invoice.status != InvoiceStatus.PAID.value:
        return None
    found = _locked_purchases(session, CreditPurchaseRow.invoice_id == invoice_id)
    if not found or found[0].grant_id is not None:
        return None
    return _grant(session, found[0], at or utcnow())


def reconcile(customer_id: str) -> None:
    """Grant the credits of the customer's purchases whose invoices were paid since (a payment tried again, a late
    webhook), and mark failed or void the purchases whose invoices are."""
    _synced(CreditPurchaseRow.customer_id == customer_id)


def _view(purchase_id: str) -> PurchaseView:
    with UnitOfWork() as uow:
        row = uow.session.get(CreditPurchaseRow, purchase_id)
        if row is None:
            raise NotFound(f"There is no credit purchase {purchase_id}.")
        return _purchase_view(row, Catalog(uow.session).credit_type(row.credit_type_id))


def _collect(purchase_id: str, invoice: billing.InvoiceView) -> PurchaseView:
    """Collect the purchase's invoice (never charged twice), then grant the credits if it was paid."""
    billing.collect(invoice)
    _synced(CreditPurchaseRow.id == purchase_id)
    return _view(purchase_id)


def _stored_invoice(invoice_id: str) -> billing.InvoiceView:
    """A stored invoice as :func:`portal.services.billing.collect` takes it."""
    with UnitOfWork() as uow:
        row = uow.session.get(InvoiceRow, invoice_id)
        if row is None:
            raise NotFound(f"There is no invoice {invoice_id}.")
        return billing.invoice_view(stored_invoice(row, Catalog(uow.session).credit_types), {})


def _buy(
    actor: Actor, customer_id: str, credits: object, source: str, request_key: str | None, at: datetime
) -> PurchaseView:
    """Record a purchase and its invoice (committed), collect it, grant the credits if it was paid.

    With ``request_key``, a purchase made before with the same key is carried on instead (collected again if it is
    still pending, which never charges twice), so a request sent twice buys once.
    """
    key = request_key.strip()[:100] if request_key else None
    try:
        with UnitOfWork() as uow:
            customer = _require_admin(uow.session, actor, customer_id)
            earlier = _earlier(uow.session, customer_id, key)
            if earlier is None:
                purchase, invoice = _open_purchase(uow.session, actor, customer, credits, source, key, at)
                purchase_id = purchase.id
    except IntegrityError:  # the same request sent twice at once: the other one made the purchase
        earlier = _earlier(None, customer_id, key)
        if earlier is None:
            raise
    if earlier is not None:
        if earlier.status != PENDING:
            return _view(earlier.id)
        purchase_id, invoice = earlier.id, _stored_invoice(earlier.invoice_id)
    return _collect(purchase_id, invoice)


def _earlier(session: Session | None, customer_id: str, request_key: str | None) -> CreditPurchaseRow | None:
    """The customer's purchase made with ``request_key`` (detached), if any; in ``session``, else in a new one."""
    if request_key is None:
        return None
    if session is None:
        with UnitOfWork() as uow:
            return _earlier(uow.session, customer_id, request_key)
    query = select(CreditPurchaseRow).where(
        CreditPurchaseRow.customer_id == customer_id, CreditPurchaseRow.request_key == request_key
    )
    found = session.exec(query).first()
    if found is not None:
        session.expunge(found)
    return found


def buy_credits(
    actor: Actor, customer_id: str, credits: object, request_key: str | None = None, at: datetime | None = None
) -> PurchaseView:
    """Buy ``credits`` whole credits for the customer (its admins and staff) and charge its card at once.

    The credits are granted only when the payment succeeds (status ``paid``); a declined card leaves the purchase
    ``failed`` with the reason, and nothing granted. ``request_key`` (any string the buyer chose for this purchase)
    makes a repeated request carry on the first instead of buying again. Refused up front, with nothing written,
    when no payment provider is configured.
    """
    refusal = _payments_refusal()
    if refusal:
        with UnitOfWork() as uow:
            _require_admin(uow.session, actor, customer_id)
        raise InvalidInput(refusal)
    return _buy(actor, customer_id, credits, MANUAL, request_key, at or utcnow())


def pay_again(actor: Actor, customer_id: str, purchase_id: str) -> PurchaseView:
    """Collect a purchase whose payment failed (or is still due) again, e.g. after the card was changed; the credits
    are granted if it is paid now. A paid purchase is left as it is."""
    with UnitOfWork() as uow:
        _require_admin(uow.session, actor, customer_id)
        row = uow.session.get(CreditPurchaseRow, purchase_id)
        if row is None or row.customer_id != customer_id:
            raise NotFound(f"There is no credit purchase {purchase_id}.")
        if row.status in (PAID, VOID):
            raise InvalidInput(f"This purchase is {row.status}: there is nothing to pay.")
        invoice_id = row.invoice_id
    return _collect(purchase_id, _stored_invoice(invoice_id))


def purchases(actor: Actor, customer_id: str, limit: int = 50) -> list[PurchaseView]:
    """The customer's credit purchases, newest first (brought up to date with their invoices first)."""
    with UnitOfWork() as uow:
        _require_admin(uow.session, actor, customer_id)
    reconcile(customer_id)
    with UnitOfWork() as uow:
        rows = uow.session.exec(
            select(CreditPurchaseRow)
            .where(CreditPurchaseRow.customer_id == customer_id)
            .order_by(col(CreditPurchaseRow.created_at).desc(), col(CreditPurchaseRow.id))
            .limit(max(1, min(limit, 200)))
        ).all()
        catalog = Catalog(uow.session)
        return [_purchase_view(r, catalog.credit_type(r.credit_type_id)) for r in rows]


# --- auto-recharge ---------------------------------------------------------------------------------


def auto_recharge(actor: Actor, customer_id: str) -> AutoRechargeView:
    """The customer's auto-recharge settings and its last outcome."""
    with UnitOfWork() as uow:
        _require_admin(uow.session, actor, customer_id)
        return _auto_view(uow.session.get(AutoRechargeRow, customer_id))


def set_auto_recharge(
    actor: Actor, customer_id: str, enabled: bool, threshold: object, target: object, at: datetime | None = None
) -> AutoRechargeView:
    """Turn auto-recharge on or off with its threshold and target (whole credits, the target at least the smallest
    purchase above the threshold). Turning it on needs card payments and credits to buy. The balance is checked
    after the next usage is stored."""
    at = at or utcnow()
    try:
        low, high = rules.check_recharge(threshold, target)
    except DomainError as exc:
        raise InvalidInput(str(exc)) from None
    with UnitOfWork() as uow:
        customer = _require_admin(uow.session, actor, customer_id)
        if enabled:
            _offer(uow.session, customer, at)
            refusal = _payments_refusal()
            if refusal:
                raise InvalidInput(refusal.replace("Buying credits", "Auto-recharge", 1))
        row = uow.session.get(AutoRechargeRow, customer_id)
        before = None if row is None else {"enabled": row.enabled, "threshold": str(row.threshold),
                                           "target": str(row.target)}  # fmt: skip
        row = row or AutoRechargeRow(customer_id=customer_id, threshold=low, target=high, updated_by="")
        row.enabled, row.threshold, row.target = enabled, low, high
        row.updated_at, row.updated_by = at, actor.audit_name
        if enabled:
            row.turned_off_at = None
        uow.session.add(row)
        state = "on" if enabled else "off"
        record_if_staff(
            uow.session,
            actor,
            "credits.auto_recharge",
            ("customer", customer_id),
            f"auto-recharge of {customer.name} turned {state}: below {low:,} credits, buy up to {high:,}",
            after={"enabled": enabled, "threshold": str(low), "target": str(high), "before": before},
        )
        return _auto_view(row)


def _pooled(session: Session, customer_id: str, at: datetime) -> tuple[CreditType, Decimal]:
    """The credit type the customer buys and what is left of its contract's pool in it now (as the dashboard shows)."""
    contract = billing.active_contract(session, customer_id, at)
    rated = billing.rate(session, Catalog(session), contract.id, at)
    credit_type = _credits_of(rated.family.contract(contract.id).terms_at(at))
    result = invoicing.balances(
        rated.contract_id, rated.run.grants, (*rated.family.ledger, *rated.run.ledger_entries), at
    )
    return credit_type, sum((units for ct, units in result.pooled if ct.id == credit_type.id), ZERO)


def _below(customer_id: str, at: datetime) -> tuple[AutoRechargeRow, CreditType, Decimal] | None:
    """The settings, credit type and balance when auto-recharge is on and the balance is below its threshold."""
    with UnitOfWork() as uow:
        row = uow.session.get(AutoRechargeRow, customer_id)
        if row is None or not row.enabled:
            return None
        try:
            credit_type, balance = _pooled(uow.session, customer_id, at)
        except (NotFound, InvalidInput):  # no contract in force, or no credits to buy: nothing to recharge
            return None
        uow.session.expunge(row)
    return (row, credit_type, balance) if balance < row.threshold else None


def _claim(customer_id: str) -> bool:
    """Take the customer's one recharge slot (a conditional update: of two at once, one wins); True if taken."""
    now = utcnow()
    with UnitOfWork() as uow:
        result = uow.session.exec(
            update(AutoRechargeRow)
            .where(col(AutoRechargeRow.customer_id) == customer_id, col(AutoRechargeRow.enabled))
            .where(
                col(AutoRechargeRow.recharging_since).is_(None)
                | (col(AutoRechargeRow.recharging_since) < now - CLAIM_EXPIRES)
            )
            .values(recharging_since=now)
        )
        return result.rowcount == 1


def _release(customer_id: str) -> None:
    with UnitOfWork() as uow:
        uow.session.exec(
            update(AutoRechargeRow).where(col(AutoRechargeRow.customer_id) == customer_id).values(recharging_since=None)
        )


def _note(customer_id: str, outcome: str, turn_off: bool = False) -> list[str]:
    """Record the last outcome (and turn auto-recharge off after a failure); the admins' emails when turned off."""
    at = utcnow()
    with UnitOfWork() as uow:
        row = uow.session.get(AutoRechargeRow, customer_id)
        if row is None:
            return []
        row.last_outcome = outcome[:500]
        if not turn_off:
            uow.session.add(row)
            return []
        row.enabled, row.turned_off_at, row.updated_at, row.updated_by = False, at, at, AUTO_RECHARGE.audit_name
        uow.session.add(row)
        record(
            uow.session,
            AUTO_RECHARGE,
            "credits.auto_recharge_off",
            ("customer", customer_id),
            f"auto-recharge of {customer_id} turned off: {outcome}",
            before={"enabled": True},
            after={"enabled": False, "reason": outcome[:500]},
        )
        query = select(User.email).where(User.customer_id == customer_id, User.role == "admin").order_by(User.email)
        return list(uow.session.exec(query).all())


def _tell_admins(customer_id: str, emails: list[str], what_happened: str) -> None:
    with UnitOfWork() as uow:
        customer = uow.session.get(Customer, customer_id)
        name = customer.name if customer else customer_id
    body = (
        f"{what_happened}\n\n"
        "Auto-recharge is now turned off: no more credits are bought automatically, and usage beyond your credits "
        "is billed as overage.\n"
        f"Update your card, then turn auto-recharge on again on your account page: {get_settings().public_url}/customer"
    )
    for email in emails:
        mailer().send(Message(to=email, subject=f"Auto-recharge is off for {name}: a payment failed", body=body))


def check_auto_recharge(customer_id: str, at: datetime | None = None) -> PurchaseView | None:
    """Recharge the customer when auto-recharge is on and its pooled balance is below the threshold: buy the target
    minus the balance, rounded up to whole credits; the purchase, or None when nothing was bought.

    At most one recharge runs per customer, whatever runs this at once: the recharge is claimed first, and the
    balance read again after the claim. While an automatic purchase still waits for its payment, no other is bought;
    one left waiting longer than :data:`CLAIM_EXPIRES` (its process died) is collected again instead, which never
    charges twice. A failed payment (or a refused purchase) turns auto-recharge off, records why and mails the
    admins.
    """
    at = at or utcnow()
    if _below(customer_id, at) is None or not _claim(customer_id):
        return None
    try:
        reconcile(customer_id)
        try:
            attempt = _recharge(customer_id, at)
        except ServiceError as exc:  # the purchase was refused: nothing was charged
            _tell_admins(customer_id, _note(customer_id, str(exc), turn_off=True), str(exc))
            return None
        if attempt is None:
            return None
        wanted, bought = attempt
        if bought.status == PAID:
            _note(customer_id, f"Bought {wanted} for {bought.price} on {at:%Y-%m-%d %H:%M} UTC.")
        elif bought.status == FAILED:
            reason = f"The payment of {bought.price} for {wanted} failed: {bought.note}"
            _tell_admins(customer_id, _note(customer_id, reason, turn_off=True), reason)
        else:
            _note(customer_id, f"Buying {wanted} for {bought.price}: the payment is not complete yet. {bought.note}")
        return bought
    finally:
        _release(customer_id)


def _recharge(customer_id: str, at: datetime) -> tuple[str, PurchaseView] | None:
    """With the recharge claimed: carry on an automatic purchase left waiting, or buy what the balance needs now.
    What was bought, in words, and the purchase; None when nothing is to be bought (yet)."""
    with UnitOfWork() as uow:
        waiting = uow.session.exec(
            select(CreditPurchaseRow).where(
                CreditPurchaseRow.customer_id == customer_id,
                CreditPurchaseRow.source == AUTO,
                CreditPurchaseRow.status == PENDING,
            )
        ).first()
        if waiting is not None:
            label = Catalog(uow.session).credit_type(waiting.credit_type_id).format(waiting.credits)
            uow.session.expunge(waiting)
    if waiting is not None:
        if utcnow() - waiting.created_at < CLAIM_EXPIRES:
            _note(customer_id, f"A recharge of {label} waits for its payment: none is bought meanwhile.")
            return None
        wanted = f"{label} (a recharge of {waiting.created_at:%Y-%m-%d %H:%M} UTC, carried on)"
        return wanted, _refused_as(wanted, lambda: _collect(waiting.id, _stored_invoice(waiting.invoice_id)))
    found = _below(customer_id, at)
    if found is None:
        return None
    settings, credit_type, balance = found
    credits = rules.recharge_credits(balance, settings.target)
    fmt = credit_type.format
    wanted = f"{fmt(credits)} (the balance was {fmt(balance)}, below {fmt(settings.threshold)})"
    return wanted, _refused_as(wanted, lambda: _buy(AUTO_RECHARGE, customer_id, credits, AUTO, None, at))


def _refused_as(wanted: str, purchase: Callable[[], PurchaseView]) -> PurchaseView:
    """Run ``purchase``; a refusal says what auto-recharge could not buy, and why."""
    try:
        return purchase()
    except ServiceError as exc:
        raise ServiceError(f"Auto-recharge could not buy {wanted}: {exc}") from exc


class RechargeWatcher(UsageWatcher):
    """After usage is stored, on its own thread: grants the credits of purchases paid since (by a retry or a late
    webhook), then checks the auto-recharge of the customers that have it on."""

    name = "auto-recharge"

    def handle(self, customer_ids: set[str]) -> None:
        """Reconcile and recharge those of ``customer_ids`` that need it (two queries tell which)."""
        ids = sorted(customer_ids)
        with UnitOfWork() as uow:
            enabled = uow.session.exec(
                select(AutoRechargeRow.customer_id).where(
                    col(AutoRechargeRow.customer_id).in_(ids), col(AutoRechargeRow.enabled)
                )
            ).all()
            unsettled = uow.session.exec(
                select(CreditPurchaseRow.customer_id)
                .where(col(CreditPurchaseRow.customer_id).in_(ids), col(CreditPurchaseRow.grant_id).is_(None))
                .where(col(CreditPurchaseRow.status).in_((PENDING, FAILED)))
                .distinct()
            ).all()
        for customer_id in unsettled:
            reconcile(customer_id)
        for customer_id in enabled:
            check_auto_recharge(customer_id)


_WATCHER = RechargeWatcher()


def recharge_watcher() -> RechargeWatcher:
    """The process's auto-recharge watcher (the ingest API tells it whose usage was stored)."""
    return _WATCHER
