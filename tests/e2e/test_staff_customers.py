"""Staff find a customer, grant it credits by hand (a reason is required) and void its first invoice; a customer's
admin is shown the staff-only notice instead."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import Page, expect

from portal.services import billing
from portal.services.customers import create_customer
from portal.services.identity import operator_identity
from tests.support.browser import HYDRATION_TIMEOUT_MS, open_page, sign_in

OPERATOR = operator_identity()
WAIT_MS = 15_000


def test_staff_search_grant_credits_and_void_an_invoice(page: Page) -> None:
    token = secrets.token_hex(3)
    # On Team from now: its first period's seats are invoiced at once, and with no closed period it stays out of
    # the simulations other tests check.
    customer_id = create_customer(OPERATOR, f"Umbrella {token} Labs").id
    billing.provision(OPERATOR, customer_id, "team", 3)
    first_invoice = billing.invoices(OPERATOR, customer_id)[-1].id
    sign_in(page, "staff@portal.test")
    open_page(page, "/staff/customers")

    page.fill("#customer-search", token)
    row = page.locator(f'.customer-row[data-customer="{customer_id}"]')
    expect(row).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator(".customer-row")).to_have_count(1)
    expect(row).to_contain_text("Team v1")
    row.locator(".customer-link").click()
    page.wait_for_url(re.compile(rf"/staff/customers/{customer_id}$"), timeout=HYDRATION_TIMEOUT_MS)
    expect(page.locator("#contract-package")).to_have_text("Team v1", timeout=WAIT_MS)
    expect(page.locator("#draft-panel")).to_be_visible()

    page.click("#open-grant")
    page.fill("#grant-amount", "500")
    page.click("#grant-submit")
    expect(page.locator("#grant-error")).to_contain_text("Say why the credit is granted", timeout=WAIT_MS)
    expect(page.locator("#grant-amount")).to_have_value("500")
    page.fill("#grant-reason", "Goodwill for the outage")
    page.click("#grant-submit")
    expect(page.locator("#grant-dialog")).to_have_count(0, timeout=WAIT_MS)
    manual = page.locator("#customer-grants tr").filter(has_text="manual")
    expect(manual).to_contain_text("500 AI credits", timeout=WAIT_MS)

    invoice = page.locator(f'.past-invoice[data-invoice="{first_invoice}"]')
    expect(invoice.locator(".invoice-status").first).not_to_have_text("Void")
    invoice.locator(".void-invoice").click()
    page.fill("#void-reason", "Billed twice")
    page.click("#void-submit")
    expect(invoice.locator(".invoice-status").first).to_have_text("Void", timeout=WAIT_MS)
    expect(invoice.locator(".void-invoice")).to_have_count(0)


def test_a_customer_admin_sees_the_staff_only_notice(page: Page) -> None:
    sign_in(page, "admin@acme.test")
    open_page(page, "/staff/customers")
    expect(page.get_by_text("This area is for staff only.")).to_be_visible()
    expect(page.locator("#customer-matches")).to_have_count(0)
    expect(page.locator("#customer-search")).to_have_count(0)
