"""Saving cards: a SetupIntent started on the server, confirmed as Stripe.js confirms it, checked and saved on the
server; at checkout the card is saved before anything is bought (the real SDK against the local Stripe fake)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import stripe
from sqlmodel import select

from portal.db.models import AuditEntry, Customer, User
from portal.db.uow import UnitOfWork
from portal.payments.stripe_gateway import NO_CARD
from portal.services import billing, cards
from portal.services.customers import create_customer
from portal.services.errors import Forbidden, InvalidInput, NotFound
from portal.services.identity import Identity, sign_in
from portal.services.purchase import purchase
from tests.integration.conftest import STAFF
from tests.support.payments import VISA_DECLINED, confirm_in_browser, stripe_charges, the_invoice
from tests.support.postgres import free_port
from tests.support.settings import settings_env
from tests.support.stripe import TEST_PUBLISHABLE_KEY, TEST_SECRET_KEY, stripe_settings


@pytest.fixture
def stripe_on(fake_stripe: str) -> Iterator[str]:
    """The portal collects through the fake Stripe for this test."""
    with settings_env(stripe_settings(fake_stripe)):
        yield fake_stripe


def _bought_without_card(buyer: Identity) -> Identity:
    """The buyer's new customer on Team (3 seats), bought before a card was saved; its admin."""
    purchase(buyer, "team", 3, "Initech")
    return sign_in("new@initech.test", "pw-123456").identity


def _customer(customer_id: str) -> Customer:
    with UnitOfWork() as uow:
        customer = uow.session.get(Customer, customer_id)
        assert customer is not None
        uow.session.expunge(customer)
        return customer


def test_a_card_confirmed_in_the_browser_becomes_the_default_and_pays_the_invoice(
    buyer: Identity, stripe_on: str
) -> None:
    admin = _bought_without_card(buyer)
    assert admin.customer_id is not None
    view, row, _ = the_invoice()
    assert row.status == "payment_failed"
    assert row.payment_note.startswith(NO_CARD)
    assert cards.card_of(admin, admin.customer_id) is None

    form = cards.start_card_form(admin, admin.customer_id)
    assert (form.publishable_key, form.stripe_js_url) == (TEST_PUBLISHABLE_KEY, f"{stripe_on}/js.stripe.com/v3/")
    assert form.client_secret.startswith(f"{form.setup_reference}_secret_")
    assert confirm_in_browser(stripe_on, form.client_secret) is None
    saved = cards.save_card(admin, admin.customer_id, form.setup_reference)

    assert saved.label == "Visa ending 4242, expires 12/2034"
    assert cards.card_of(admin, admin.customer_id) == saved
    customer = _customer(admin.customer_id)
    assert (customer.card_brand, customer.card_last4, customer.card_expires) == ("visa", "4242", "12/2034")
    assert customer.card_reference is not None
    assert customer.card_reference.startswith("pm_")
    paid = billing.collect(view)
    assert paid is not None
    assert paid.status == "paid"
    assert stripe_charges(stripe_on)(customer.payment_customer_id) == [(12000, "succeeded")]


def test_a_declined_card_is_refused_and_the_saved_card_stays(buyer: Identity, stripe_on: str) -> None:
    admin = _bought_without_card(buyer)
    assert admin.customer_id is not None
    good = cards.start_card_form(admin, admin.customer_id)
    assert confirm_in_browser(stripe_on, good.client_secret) is None
    cards.save_card(admin, admin.customer_id, good.setup_reference)

    bad = cards.start_card_form(admin, admin.customer_id)
    assert confirm_in_browser(stripe_on, bad.client_secret, VISA_DECLINED) == "Your card was declined."
    with pytest.raises(InvalidInput, match="The card was not confirmed: enter it again"):
        cards.save_card(admin, admin.customer_id, bad.setup_reference)
    card = cards.card_of(admin, admin.customer_id)
    assert card is not None
    assert card.last4 == "4242"


def test_a_card_form_of_another_customer_is_refused(buyer: Identity, stripe_on: str, initech: str) -> None:
    admin = _bought_without_card(buyer)
    assert admin.customer_id is not None
    theirs = cards.start_card_form(STAFF, initech)
    assert confirm_in_browser(stripe_on, theirs.client_secret) is None
    with pytest.raises(InvalidInput, match="was not started for your account"):
        cards.save_card(admin, admin.customer_id, theirs.setup_reference)
    assert cards.card_of(admin, admin.customer_id) is None


def test_only_the_accounts_admins_and_staff_change_its_card(buyer: Identity, stripe_on: str, initech: str) -> None:
    admin = _bought_without_card(buyer)
    assert admin.customer_id is not None
    member = replace(admin, role="member")
    with pytest.raises(Forbidden, match="Only an admin of this account or staff"):
        cards.start_card_form(member, admin.customer_id)
    with pytest.raises(NotFound):
        cards.start_card_form(admin, initech)
    form = cards.start_card_form(STAFF, admin.customer_id)
    assert confirm_in_browser(stripe_on, form.client_secret) is None
    cards.save_card(STAFF, admin.customer_id, form.setup_reference)
    with UnitOfWork() as uow:
        [entry] = uow.session.exec(select(AuditEntry).where(AuditEntry.action == "card.save")).all()
    assert entry.summary == "Saved the card of Initech: Visa ending 4242, expires 12/2034"


def test_without_a_payment_provider_no_card_form_starts(buyer: Identity) -> None:
    admin = _bought_without_card(buyer)
    assert admin.customer_id is not None
    assert not cards.cards_accepted()
    with pytest.raises(InvalidInput, match="Cards cannot be saved: payments are not configured"):
        cards.start_card_form(admin, admin.customer_id)


def test_checkout_saves_the_buyers_card_then_charges_the_first_invoice_to_it(buyer: Identity, stripe_on: str) -> None:
    form = cards.start_checkout_card(buyer)
    assert confirm_in_browser(stripe_on, form.client_secret) is None
    bought = purchase(buyer, "team", 3, "Initech", card_setup=form.setup_reference)
    assert bought.invoice is not None
    assert (bought.invoice.status, bought.invoice.total_due) == ("paid", "$120.00")
    customer = _customer(bought.customer_id)
    assert (customer.card_last4, customer.name) == ("4242", "Initech")
    assert stripe_charges(stripe_on)(customer.payment_customer_id) == [(12000, "succeeded")]


def test_a_card_declined_at_checkout_buys_nothing(buyer: Identity, stripe_on: str) -> None:
    form = cards.start_checkout_card(buyer)
    assert confirm_in_browser(stripe_on, form.client_secret, VISA_DECLINED) == "Your card was declined."
    with pytest.raises(InvalidInput, match="The card was not confirmed"):
        purchase(buyer, "team", 3, "Initech", card_setup=form.setup_reference)
    with UnitOfWork() as uow:
        assert uow.session.exec(select(Customer).where(Customer.name == "Initech")).all() == []
        user = uow.session.exec(select(User).where(User.email == "new@initech.test")).one()
        assert user.customer_id is None


def test_a_checkout_card_form_is_the_buyers_own(buyer: Identity, stripe_on: str) -> None:
    someone_else = replace(buyer, user_id="usr_someone_else")
    form = cards.start_checkout_card(someone_else)
    assert confirm_in_browser(stripe_on, form.client_secret) is None
    with pytest.raises(InvalidInput, match="was not started for your account"):
        purchase(buyer, "team", 3, "Initech", card_setup=form.setup_reference)


def test_a_customer_created_by_staff_gets_its_stripe_customer_at_once(database: str, stripe_on: str) -> None:
    created = create_customer(STAFF, "Hooli")
    reference = _customer(created.id).payment_customer_id
    assert reference is not None
    client = stripe.StripeClient(TEST_SECRET_KEY, base_addresses={"api": stripe_on})
    found = client.v1.customers.retrieve(reference)
    assert (found.name, found.metadata["portal_customer_id"]) == ("Hooli", created.id)


def test_a_customer_is_created_even_when_stripe_cannot_be_reached(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    with settings_env(stripe_settings(f"http://127.0.0.1:{free_port()}")):
        created = create_customer(STAFF, "Hooli")
    assert _customer(created.id).payment_customer_id is None
    assert f"customer {created.id} has no payment provider customer yet" in caplog.text
