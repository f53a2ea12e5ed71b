"""A new user buys a tier from the pricing page, then changes seats and plan with previews."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import Page, expect

from tests.support.browser import new_user, open_page, sign_in

PASSWORD = "buyer-password-1"


def _new_user() -> str:
    return new_user("buyer", "Bea Buyer", PASSWORD)


def _buy(page: Page, tier: str, seats: int) -> None:
    open_page(page, f"/checkout?tier={tier}&seats={seats}")
    page.fill("#company", f"Company {secrets.token_hex(2)}")
    page.click("#buy")
    page.wait_for_url(re.compile(r"/customer$"))


def test_a_visitor_prices_a_tier_and_is_asked_to_create_an_account(page: Page) -> None:
    open_page(page, "/")
    page.locator('.tier-card[data-tier="team"] .choose-tier').click()
    page.wait_for_url(re.compile(r"/checkout\?tier=team"))
    page.wait_for_selector("#hydrated", state="attached")
    expect(page.locator("#due-today")).to_have_text("$120.00")
    page.fill("#checkout-seats", "5")
    expect(page.locator("#due-today")).to_have_text("$200.00")
    expect(page.locator("#per-period")).to_have_text("$200.00")
    page.fill("#checkout-seats", "2")
    expect(page.locator("#checkout-error")).to_contain_text("at least 3 seats")
    expect(page.locator("#to-sign-up")).to_be_visible()


def test_a_signed_in_user_buys_and_then_changes_seats_and_plan(page: Page) -> None:
    email = _new_user()
    sign_in(page, email, PASSWORD)
    _buy(page, "team", 3)
    open_page(page, "/customer/seats")
    expect(page.locator("#seat-summary")).to_contain_text("3 seats on Team v1; 1 assigned")
    page.fill("#seat-count", "5")
    page.click("#preview-seats")
    expect(page.locator("#preview-now")).not_to_have_text("$0.00")
    due = page.locator("#preview-now").inner_text()
    page.click("#confirm-seats")
    expect(page.get_by_text(f"The account now has 5 seats. {due} was charged.")).to_be_visible()
    expect(page.locator("#seat-summary")).to_contain_text("5 seats")
    page.fill("#seat-count", "0")
    page.click("#preview-seats")
    expect(page.locator("#seats-error")).to_contain_text("cannot go down to 0")
    open_page(page, "/customer/plan")
    page.locator('.preview-switch[data-tier="starter"]').click()
    expect(page.get_by_text("The switch takes effect at the start of the next period.")).to_be_visible()
    expect(page.locator("#switch-due-now")).to_have_text("$0.00")
    page.click("#confirm-switch")
    expect(page.get_by_text(re.compile("Plan changed to Starter"))).to_be_visible()


def test_members_cannot_change_seats_or_plan(page: Page) -> None:
    sign_in(page, "member@acme.test")
    open_page(page, "/customer/seats")
    expect(page.get_by_text("Only an admin of this account or staff can change its contract.")).to_be_visible()
    open_page(page, "/customer/plan")
    expect(page.get_by_text("Only an admin of the account can change its plan.")).to_be_visible()
