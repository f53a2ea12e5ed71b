"""Buying credits in the browser: an admin whose card is on file buys 10,000 AI credits from the account page,
confirms the price, sees the purchase paid and the pooled balance go up; the card was charged once, $100.00.

The card is put on the customer server-side through the Stripe gateway (card entry in the browser has its own
tests), against the local Stripe-compatible server of the ``stripe_payments`` fixture.
"""

from __future__ import annotations

import secrets

from playwright.sync_api import Page, expect

from portal.auth.passwords import hash_password
from portal.db.models import Customer, User
from portal.db.uow import UnitOfWork
from portal.payments.stripe_gateway import StripeGateway
from portal.services import billing
from portal.services.customers import create_customer
from portal.services.demo import DEMO_PASSWORD
from portal.services.identity import operator_identity
from tests.support.browser import sign_in
from tests.support.payments import GOOD_CARD, stripe_charges
from tests.support.stripe import TEST_SECRET_KEY

OPERATOR = operator_identity()
PAYMENT_MS = 20_000


def _customer_with_a_card(api_base: str, email: str) -> str:
    """A new customer on Starter (1 seat: 500 pooled AI credits) whose admin is ``email``, with a good card saved."""
    customer_id = create_customer(OPERATOR, f"Credit Buyers {secrets.token_hex(3)}").id
    with UnitOfWork() as uow:
        uow.session.add(
            User(
                email=email,
                name="Cora Credits",
                password_hash=hash_password(DEMO_PASSWORD),
                customer_id=customer_id,
                role="admin",
            )
        )
    with UnitOfWork() as uow:
        customer = uow.session.get(Customer, customer_id)
        assert customer is not None
        reference = customer.payment_customer_id
    assert reference is not None, "the Stripe customer is created with ours"
    assert StripeGateway(TEST_SECRET_KEY, api_base).set_default_card(reference, GOOD_CARD) is None
    provisioned = billing.provision(OPERATOR, customer_id, "starter", 1, (email,))
    assert provisioned.invoice is not None
    assert provisioned.invoice.status == "paid"
    return customer_id


def test_an_admin_buys_credits_and_sees_the_balance_go_up(page: Page, stripe_payments: str) -> None:
    email = f"buyer-{secrets.token_hex(3)}@credits.test"
    customer_id = _customer_with_a_card(stripe_payments, email)
    sign_in(page, email)
    expect(page.locator("#pool-card")).to_contain_text("500 AI credits")
    expect(page.locator("#credits-panel")).to_contain_text("AI credits at $0.01 each")
    expect(page.locator("#no-credit-purchases")).to_be_visible()

    page.fill("#credits-amount", "10.5")
    expect(page.locator("#credits-error")).to_contain_text("must be a whole number of credits")
    page.fill("#credits-amount", "10000")
    expect(page.locator("#credits-price")).to_have_text("10,000 AI credits for $100.00")
    expect(page.locator("#credits-error")).to_have_count(0)
    page.click("#buy-credits")
    expect(page.locator("#buy-question")).to_have_text("Buy 10,000 AI credits for $100.00?")
    page.click("#confirm-buy")

    expect(page.locator("#credits-outcome")).to_have_text(
        "10,000 AI credits were added to your balance: $100.00 was charged to your card.", timeout=PAYMENT_MS
    )
    purchase = page.locator("#credit-purchases .credit-purchase")
    expect(purchase).to_have_count(1)
    expect(purchase.first).to_contain_text("10,000 AI credits")
    expect(purchase.first).to_contain_text("$100.00")
    expect(purchase.first.locator(".invoice-status")).to_have_text("Paid")
    expect(page.locator("#pool-card")).to_contain_text("10,500 AI credits", timeout=PAYMENT_MS)

    with UnitOfWork() as uow:
        customer = uow.session.get(Customer, customer_id)
        assert customer is not None
        reference = customer.payment_customer_id
    assert stripe_charges(stripe_payments)(reference) == [(2000, "succeeded"), (10000, "succeeded")]
