"""A failed payment in the browser: the customer admin sees the red banner, pays again after the card is replaced
(through the Stripe gateway, on the local Stripe-compatible server), and sees the invoice paid and the banner gone.
"""

from __future__ import annotations

import secrets

from playwright.sync_api import Page, expect

from portal.db.models import Customer
from portal.db.uow import UnitOfWork
from portal.payments.stripe_gateway import StripeGateway
from portal.services import identity
from portal.services.purchase import purchase
from tests.support.browser import new_user, open_page, sign_in
from tests.support.payments import DECLINED_AT_CHARGE, GOOD_CARD, stripe_charges
from tests.support.stripe import TEST_SECRET_KEY

PASSWORD = "retry-admin-password-1"


def _bought_without_a_card() -> tuple[str, str, str]:
    """A new admin whose first invoice ($120.00, 3 Team seats) could not be paid: their email, the invoice's
    period and the Stripe customer."""
    email = new_user("retry-admin", "Rae Retry", PASSWORD)
    bought = purchase(identity.sign_in(email, PASSWORD).identity, "team", 3, f"Retry Co {secrets.token_hex(2)}")
    assert bought.invoice is not None
    assert bought.invoice.status == "payment_failed"
    with UnitOfWork() as uow:
        customer = uow.session.get(Customer, bought.customer_id)
        assert customer is not None
        assert customer.payment_customer_id is not None
        return email, bought.invoice.period, customer.payment_customer_id


def test_an_admin_pays_a_failed_invoice_again_once_the_card_is_replaced(page: Page, stripe_payments: str) -> None:
    email, period, stripe_customer = _bought_without_a_card()
    gateway = StripeGateway(TEST_SECRET_KEY, stripe_payments)
    sign_in(page, email, PASSWORD)
    open_page(page, "/customer")
    banner = page.locator(".payment-failed")
    expect(banner).to_have_count(1)
    expect(banner).to_contain_text(f"Payment of $120.00 for {period} failed: No card on file")
    expect(banner).to_contain_text("Update your card, then pay again.")
    expect(page.locator("#past-invoices .invoice-status").first).to_have_text("Payment failed")

    # A card that is declined: paying again fails, and the banner says why.
    assert gateway.set_default_card(stripe_customer, DECLINED_AT_CHARGE) is None
    banner.locator(".pay-again").click()
    expect(banner.locator(".pay-again-outcome")).to_contain_text("Your card was declined")
    expect(banner.locator(".pay-again")).to_be_enabled()

    # The card is replaced: paying again pays the invoice once, and the banner goes.
    assert gateway.set_default_card(stripe_customer, GOOD_CARD) is None
    banner.locator(".pay-again").click()
    expect(page.locator(".payment-failed")).to_have_count(0)
    expect(page.locator("#past-invoices .invoice-status").first).to_have_text("Paid")
    assert stripe_charges(stripe_payments)(stripe_customer) == [(12000, "failed"), (12000, "succeeded")]
