"""Saving a customer's card: a card form started on the server, confirmed in the browser, saved on the server.

Card numbers never reach us: the browser sends them to the payment provider
(Stripe.js) to confirm a setup the server started (:func:`start_card_form`);
the server then checks that setup with the provider, makes its card the
customer's default and keeps what a person recognizes it by (brand, last four
digits, expiry) (:func:`save_card`). Only the customer's admins and staff may
do either. A buyer without an account yet confirms a card the same way
(:func:`start_checkout_card`); :func:`portal.services.purchase.purchase`
saves it on the new customer before anything is bought.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.config import get_settings
from portal.db.models import Customer
from portal.db.uow import UnitOfWork
from portal.payments import configured_gateway
from portal.payments.gateway import CardRefused, PaymentGateway, PaymentProviderError, SavedCard
from portal.services import billing, payment_customers
from portal.services.audit import record_if_staff
from portal.services.customers import Actor, visible_customer
from portal.services.errors import InvalidInput, NotSignedIn
from portal.services.identity import Identity

PROVIDER_DOWN = "The payment provider could not be reached: try again in a minute."


@dataclass(frozen=True, slots=True)
class CardForm:
    """What the browser needs to show a card form and confirm it: the provider's keys and the setup's secret.

    ``setup_reference`` stays on the server (it names the setup :func:`save_card` checks).
    """

    publishable_key: str
    stripe_js_url: str
    client_secret: str
    setup_reference: str


@dataclass(frozen=True, slots=True)
class CardView:
    """The card invoices are charged to, as a person recognizes it."""

    brand: str
    last4: str
    expires: str

    @property
    def label(self) -> str:
        """``Visa ending 4242, expires 12/2034``."""
        return f"{self.brand.title()} ending {self.last4}, expires {self.expires}"


def cards_accepted() -> bool:
    """Whether customers can save a card here (a payment provider is configured)."""
    return configured_gateway().accepts_cards


def card_of(actor: Actor, customer_id: str) -> CardView | None:
    """The customer's saved card, or None (anyone who may see the customer)."""
    with UnitOfWork() as uow:
        customer = visible_customer(uow.session, actor, customer_id)
        return _view(customer)


def start_card_form(actor: Actor, customer_id: str) -> CardForm:
    """Start a card form for the customer (its admins and staff): the provider's customer is created if needed."""
    gateway = _card_gateway()
    with UnitOfWork() as uow:
        billing.require_manager(uow.session, actor, customer_id)
    reference = _provider_customer(gateway, customer_id)
    return _form(gateway, reference, _owner(customer_id))


def save_card(actor: Actor, customer_id: str, setup_reference: str) -> CardView:
    """Make the card confirmed for ``setup_reference`` the customer's default and keep its description.

    :class:`InvalidInput` says why a card was refused (declined, not confirmed, not started for this customer).
    """
    gateway = _card_gateway()
    with UnitOfWork() as uow:
        billing.require_manager(uow.session, actor, customer_id)
    reference = _provider_customer(gateway, customer_id)
    card = _saved(gateway, setup_reference, reference, _owner(customer_id))
    with UnitOfWork() as uow:
        customer = payment_customers.customer_row(uow.session, customer_id)
        replaced = customer.card_reference is not None
        keep_card(customer, card)
        uow.session.add(customer)
        view = CardView(card.brand, card.last4, card.expires)
        record_if_staff(
            uow.session,
            actor,
            "card.save",
            ("customer", customer_id),
            f"{'Replaced' if replaced else 'Saved'} the card of {customer.name}: {view.label}",
        )
        return view


def start_checkout_card(identity: Identity | None) -> CardForm:
    """Start a card form for a signed-in buyer who has no customer yet (their purchase saves the card)."""
    if identity is None:
        raise NotSignedIn("Sign in or create an account to buy.")
    return _form(_card_gateway(), None, _buyer(identity))


def checkout_card(identity: Identity, setup_reference: str, customer_id: str, company: str) -> tuple[str, SavedCard]:
    """Create the provider's customer for the buyer's new customer ``customer_id`` (not stored yet) and save the
    card they confirmed (:func:`start_checkout_card`) on it: the provider's customer and the card."""
    gateway = _card_gateway()
    try:
        reference = gateway.ensure_customer(customer_id, company, identity.email, None)
    except PaymentProviderError:
        raise InvalidInput(PROVIDER_DOWN) from None
    assert reference is not None  # a gateway that accepts cards has customers
    return reference, _saved(gateway, setup_reference, reference, _buyer(identity))


def keep_card(customer: Customer, card: SavedCard) -> None:
    """Record ``card`` as the customer's default (the caller adds the row to its session)."""
    customer.card_reference = card.reference
    customer.card_brand, customer.card_last4, customer.card_expires = card.brand, card.last4, card.expires


def _card_gateway() -> PaymentGateway:
    gateway = configured_gateway()
    if not gateway.accepts_cards:
        raise InvalidInput(
            "Cards cannot be saved: payments are not configured here, so amounts are recorded as due instead."
        )
    return gateway


def _form(gateway: PaymentGateway, provider_customer: str | None, owner: dict[str, str]) -> CardForm:
    settings = get_settings()
    try:
        setup = gateway.start_card_setup(provider_customer, owner)
    except PaymentProviderError:
        raise InvalidInput(PROVIDER_DOWN) from None
    return CardForm(settings.stripe_publishable_key or "", settings.stripe_js_url, setup.client_secret, setup.reference)


def _saved(gateway: PaymentGateway, setup_reference: str, provider_customer: str, owner: dict[str, str]) -> SavedCard:
    try:
        return gateway.save_card(setup_reference, provider_customer, owner)
    except CardRefused as refused:
        raise InvalidInput(str(refused)) from None
    except PaymentProviderError:
        raise InvalidInput(PROVIDER_DOWN) from None


def _owner(customer_id: str) -> dict[str, str]:
    return {"portal_customer_id": customer_id}


def _buyer(identity: Identity) -> dict[str, str]:
    return {"portal_user_id": identity.user_id}


def _provider_customer(gateway: PaymentGateway, customer_id: str) -> str:
    try:
        reference = payment_customers.provider_customer(gateway, customer_id)
    except PaymentProviderError:
        raise InvalidInput(PROVIDER_DOWN) from None
    assert reference is not None  # a gateway that accepts cards has customers
    return reference


def _view(customer: Customer) -> CardView | None:
    if customer.card_reference is None:
        return None
    return CardView(customer.card_brand, customer.card_last4, customer.card_expires)
