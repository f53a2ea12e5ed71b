"""Paying by card in the browser (Stripe.js from the local Stripe-compatible server): a new customer enters a test
card and buys seats; adding seats charges the card the prorated amount the preview showed; a declined card buys
nothing; an admin replaces the card."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from portal.db.models import Customer, User
from portal.db.uow import UnitOfWork
from tests.support.browser import HYDRATION_TIMEOUT_MS, new_user, open_page, sign_in
from tests.support.payments import VISA, VISA_DECLINED, stripe_charges

PASSWORD = "card-buyer-password-1"


def _new_user() -> str:
    return new_user("card-buyer", "Cai Card", PASSWORD)


def _customer_of(email: str) -> Customer | None:
    with UnitOfWork() as uow:
        customer_id = uow.session.exec(select(User.customer_id).where(User.email == email)).one()
        customer = uow.session.get(Customer, customer_id) if customer_id else None
        if customer is not None:
            uow.session.expunge(customer)
        return customer


def _type_card(page: Page, box: str, number: str) -> None:
    """Type a test card into the card field Stripe.js mounted in ``box``."""
    field = page.locator(f"{box} input[placeholder=number]")
    expect(field).to_be_visible(timeout=HYDRATION_TIMEOUT_MS)
    field.fill(number)
    page.locator(f"{box} input[placeholder=exp_month]").fill("12")
    page.locator(f"{box} input[placeholder=exp_year]").fill("34")
    page.locator(f"{box} input[placeholder=cvc]").fill("123")
    page.locator(f"{box} input[placeholder=postal_code]").fill("10001")


def _cents(text: str) -> int:
    return int(text.replace("$", "").replace(",", "").replace(".", ""))


def _buy_with_card(page: Page, company: str) -> str:
    """A new user signs in and buys 3 Team seats ($120.00 today) with the test Visa; their email."""
    email = _new_user()
    sign_in(page, email, PASSWORD)
    open_page(page, "/checkout?tier=team&seats=3")
    expect(page.locator("#due-today")).to_have_text("$120.00")
    page.fill("#company", company)
    _type_card(page, "#checkout-card", VISA)
    page.click("#buy")
    page.wait_for_url(re.compile(r"/customer$"), timeout=HYDRATION_TIMEOUT_MS)
    return email


def test_a_new_customer_pays_by_card_and_added_seats_are_charged_as_previewed(page: Page, stripe_payments: str) -> None:
    email = _buy_with_card(page, "Card Co")
    expect(page.locator("#card-on-file")).to_have_text("Visa ending 4242, expires 12/2034")
    expect(page.locator("#past-invoices .invoice-status").first).to_have_text("Paid")
    customer = _customer_of(email)
    assert customer is not None
    charges = stripe_charges(stripe_payments)
    assert charges(customer.payment_customer_id) == [(12000, "succeeded")]

    open_page(page, "/customer/seats")
    page.fill("#seat-count", "5")
    page.click("#preview-seats")
    expect(page.locator("#preview-now")).not_to_have_text("$0.00")
    previewed = page.locator("#preview-now").inner_text()
    page.click("#confirm-seats")
    expect(page.get_by_text(f"The account now has 5 seats. {previewed} was charged.")).to_be_visible()
    assert charges(customer.payment_customer_id) == [(12000, "succeeded"), (_cents(previewed), "succeeded")]


DECLINED_IN_BROWSER = pytest.mark.browser_error("402 (Payment Required)")
"""Stripe.js reports the provider's answer to a declined card as a failed request in the console."""


@DECLINED_IN_BROWSER
def test_a_declined_card_at_checkout_buys_nothing(page: Page, stripe_payments: str) -> None:
    email = _new_user()
    sign_in(page, email, PASSWORD)
    open_page(page, "/checkout?tier=team&seats=3")
    page.fill("#company", "Declined Co")
    _type_card(page, "#checkout-card", VISA_DECLINED)
    page.click("#buy")
    expect(page.locator("#checkout-error")).to_contain_text("Your card was declined.")
    expect(page.locator("#buy")).to_be_enabled()
    assert _customer_of(email) is None


@DECLINED_IN_BROWSER
def test_an_admin_replaces_the_card_invoices_are_charged_to(page: Page, stripe_payments: str) -> None:
    email = _buy_with_card(page, "Replace Co")
    expect(page.locator("#card-on-file")).to_contain_text("ending 4242")

    page.click("#open-card-form")
    _type_card(page, "#account-card", VISA_DECLINED)
    page.click("#save-card")
    expect(page.locator("#card-error")).to_contain_text("Your card was declined.")
    expect(page.locator("#card-on-file")).to_contain_text("ending 4242")
    page.locator("[role=dialog]").get_by_role("button", name="Cancel").click()

    page.click("#open-card-form")
    _type_card(page, "#account-card", "4000056655665556")
    page.click("#save-card")
    expect(page.locator("#card-on-file")).to_have_text("Visa ending 5556, expires 12/2034")
    customer = _customer_of(email)
    assert customer is not None
    assert customer.card_last4 == "5556"
