"""Staff add a product on the rate cards page (a wrong one is refused by name) and find it offered for a price."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import Page, expect

from portal.services.demo_catalog import RATE_CARD
from tests.support.browser import HYDRATION_TIMEOUT_MS, open_page, sign_in


def _choose(page: Page, trigger: str, option: str) -> None:
    page.click(trigger)
    page.get_by_role("option", name=option, exact=True).click()


def test_staff_add_a_fixed_fee_product_after_a_refused_usage_one(page: Page) -> None:
    name = f"Support desk {secrets.token_hex(3)}"
    sign_in(page, "staff@portal.test")
    open_page(page, "/staff/rate-cards")
    expect(page.locator("#products-table")).to_contain_text("AI tokens (per 1,000)", timeout=HYDRATION_TIMEOUT_MS)
    # A usage product must bill a metric: refused by name, what was typed kept.
    page.fill("#product-name", name)
    page.click("#add-product")
    expect(page.locator("#product-error")).to_contain_text("needs the billable metric it bills")
    expect(page.locator("#product-name")).to_have_value(name)
    _choose(page, "#product-kind", "Fixed fee")
    page.click("#add-product")
    row = page.locator(".product-row", has_text=name)
    expect(row).to_contain_text("fixed")
    expect(page.locator("#product-error")).to_have_count(0)
    # The card's price-change form offers it, to give it its first price.
    open_page(page, f"/staff/rate-cards/{RATE_CARD}")
    page.click("#rc-product")
    expect(page.get_by_role("option", name=re.compile(re.escape(name)))).to_be_visible()
