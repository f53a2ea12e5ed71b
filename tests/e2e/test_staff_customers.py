"""Staff find a customer, grant it credits by hand (a reason is required) and void its first invoice; a customer's
admin is shown the staff-only notice instead."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.support.browser import open_page, sign_in
from tests.support.journeys import staff_grant_credits_and_void_an_invoice


def test_staff_search_grant_credits_and_void_an_invoice(page: Page) -> None:
    staff_grant_credits_and_void_an_invoice(page)


def test_a_customer_admin_sees_the_staff_only_notice(page: Page) -> None:
    sign_in(page, "admin@acme.test")
    open_page(page, "/staff/customers")
    expect(page.get_by_text("This area is for staff only.")).to_be_visible()
    expect(page.locator("#customer-matches")).to_have_count(0)
    expect(page.locator("#customer-search")).to_have_count(0)
