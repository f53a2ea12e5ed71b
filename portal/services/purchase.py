"""Self-serve buying: a quote for a tier and a seat count, the purchase itself, and switching tiers.

* :func:`quote` prices a tier for a visitor, with the rating engine, before
  anything exists: what is due today (the first period's seats, in advance)
  and what each period costs after that.
* :func:`purchase` turns a signed-in user without a customer into the admin
  of a new customer with a contract on the tier; the buyer holds the first
  seat. The first invoice is finalized and then collected; a failed or
  unconfigured payment leaves it due and says so, it never undoes the purchase.
* :func:`switch_tier` moves a customer to another tier: an upgrade at once
  (the price difference for the rest of the period is charged now, with a
  prorated credit top-up), a downgrade at the start of the next period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, delete

from portal.db.loaders import Catalog
from portal.db.models import ContractTerms, Customer, PackageVersion, User, new_id, utcnow
from portal.db.uow import UnitOfWork
from portal.domain import contracts as dc
from portal.domain.errors import DomainError
from portal.domain.invoicing import TierSwitch, Timing, apply_change, draft_invoices, due_minor
from portal.domain.money import Money, currency
from portal.domain.periods import Frequency, Period
from portal.domain.seats import SeatState, SeatSubscription, SubscriptionMode
from portal.services import billing, cards, outgoing_webhooks
from portal.services.audit import record_if_staff
from portal.services.customers import Actor
from portal.services.errors import Forbidden, InvalidInput, NotSignedIn
from portal.services.identity import Identity

QUOTE = "quote"


@dataclass(frozen=True, slots=True)
class Quote:
    """What a tier costs for a number of seats: due today, per period after that, and the first period."""

    package: str
    name: str
    seats: int
    min_seats: int
    max_seats: int | None
    due_today: str
    due_today_minor: int
    per_period: str
    first_period: str


def _advance_minor(contract: dc.Contract, period: Period) -> int:
    run = draft_invoices([contract], period, {}, as_of=period.start)
    return due_minor(run.invoice(contract.id).lines, Timing.IN_ADVANCE)


def quote(package: str, seats: int | None = None, at: datetime | None = None) -> Quote:
    """Price ``seats`` seats (the tier's minimum when None) of a published tier as if bought at ``at``.

    Nothing is stored.
    """
    at = at or utcnow()
    with UnitOfWork() as uow:
        version = billing.published_version(uow.session, package)
        seats = version.min_seats if seats is None else seats
        billing.check_seats(version, seats, 0)
        catalog = Catalog(uow.session)
        terms = catalog.version_terms(version)
        products, metrics = catalog.billed_by([terms], version.seat_product_id)
        name = terms.name.rsplit(" v", 1)[0]
    start = at.replace(minute=0, second=0, microsecond=0)
    contract = dc.Contract(
        id=QUOTE,
        customer_id=QUOTE,
        currency=currency(version.currency),
        starting_at=start,
        terms=terms,
        products=products,
        metrics=metrics,
        frequency=Frequency[version.billing_frequency],
        seats=SeatSubscription(
            QUOTE, QUOTE, version.seat_product_id or "", SubscriptionMode.SEAT_BASED, start, SeatState(seats)
        ),
        seat_key="user_id",
    )
    first = contract.billing_period(0)
    today = _advance_minor(contract, first)
    money = contract.currency
    return Quote(
        package=package,
        name=name,
        seats=seats,
        min_seats=version.min_seats,
        max_seats=version.max_seats,
        due_today=Money.from_minor(today, money).format(),
        due_today_minor=today,
        per_period=Money.from_minor(_advance_minor(contract, contract.billing_period(1)), money).format(),
        first_period=first.label(),
    )


@dataclass(frozen=True, slots=True)
class Purchased:
    """The new customer and its first invoice."""

    customer_id: str
    customer_name: str
    invoice: billing.InvoiceView | None


def check_purchase(identity: Identity | None, package: str, seats: int, company: str) -> tuple[Identity, str]:
    """Refuse what :func:`purchase` would refuse, before a card is confirmed: the buyer and the company's name."""
    if identity is None:
        raise NotSignedIn("Sign in or create an account to buy.")
    if identity.is_staff:
        raise Forbidden("Staff accounts do not buy plans: sign in with a customer account.")
    if identity.customer_id is not None:
        raise InvalidInput(f"Your account already belongs to {identity.customer_name}: change its plan instead.")
    company = company.strip()
    if not company or len(company) > 200:
        raise InvalidInput("Enter your company's name (1 to 200 characters).")
    with UnitOfWork() as uow:
        billing.check_seats(billing.published_version(uow.session, package), seats, 1)
    return identity, company


def purchase(
    identity: Identity | None,
    package: str,
    seats: int,
    company: str,
    at: datetime | None = None,
    card_setup: str | None = None,
) -> Purchased:
    """Make the signed-in buyer the admin of a new customer on ``package`` with ``seats`` seats (they hold one).

    ``card_setup`` names the card form the buyer confirmed (:func:`portal.services.cards.start_checkout_card`):
    the card is saved on the new customer first, so a refused card buys nothing; the first invoice is then
    charged to it.
    """
    at = at or utcnow()
    identity, company = check_purchase(identity, package, seats, company)
    customer = Customer(id=new_id("cus"), name=company)
    if card_setup is not None:
        customer.payment_customer_id, card = cards.checkout_card(identity, card_setup, customer.id, company)
        cards.keep_card(customer, card)
    with UnitOfWork() as uow:
        session = uow.session
        version = billing.published_version(session, package)
        customer.currency = version.currency
        session.add(customer)
        session.flush()
        user = session.get(User, identity.user_id)
        if user is None:
            raise NotSignedIn("Your account no longer exists: sign up again.")
        user.customer_id, user.role = customer.id, "admin"
        session.add(user)
        _, invoice = billing.open_contract(session, customer, version, seats, (identity.email,), at)
        customer_id = customer.id
    return Purchased(customer_id, company, billing.collect(invoice))


def switch_tier(
    actor: Actor, customer_id: str, package: str, at: datetime | None = None
) -> tuple[billing.ContractView, billing.InvoiceView | None]:
    """Move the customer to another published tier: an upgrade at once, a downgrade from the next period.

    A switch replaces any switch already scheduled for later. What becomes due at once (an upgrade's
    price difference) is finalized and collected.
    """
    at = at or utcnow()
    with UnitOfWork() as uow:
        session = uow.session
        billing.require_manager(session, actor, customer_id)
        contract_row = billing.active_contract(session, customer_id, at)
        catalog = Catalog(session)
        rated = billing.rate(session, catalog, contract_row.id, at)
        contract = rated.family.contract(contract_row.id)
        version: PackageVersion = billing.published_version(session, package)
        terms = catalog.version_terms(version)
        if terms.name == contract.terms_at(at).name:
            raise InvalidInput(f"The account is already on {terms.name}.")
        seats = contract.seats.state_at(at) if contract.seats else SeatState(0)
        billing.check_seats(version, seats.quantity, len(seats.seat_ids))
        try:
            changed = apply_change(contract, TierSwitch(contract.id, terms, at))
        except DomainError as exc:
            raise InvalidInput(str(exc)) from None
        effective = changed.changes[-1].at if changed.changes else changed.starting_at
        session.exec(
            delete(ContractTerms).where(
                col(ContractTerms.contract_id) == contract.id, col(ContractTerms.starting_at) >= effective
            )
        )
        upgrade = terms.rank > contract.terms_at(at).rank
        session.add(
            ContractTerms(
                contract_id=contract.id,
                starting_at=effective,
                package_version_id=version.id,
                reason="upgrade" if upgrade else "downgrade",
            )
        )
        outgoing_webhooks.emit_contract(session, customer_id, "contract.changed", contract.id, version.id, effective)
        session.flush()
        invoice = billing.finalize_due_now(session, billing.rate(session, Catalog(session), contract.id, at), at)
        record_if_staff(
            session,
            actor,
            "contract.switch",
            ("contract", contract.id),
            f"{customer_id} switched to {terms.name} from {effective:%Y-%m-%d %H:%M} UTC",
            after={"package_version_id": version.id, "effective": effective.isoformat()},
        )
    return billing.contract_view(actor, customer_id, at), billing.collect(invoice)
