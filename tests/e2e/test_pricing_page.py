"""A visitor opens the pricing page and compares the seeded tiers."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.support.browser import open_page


def test_visitor_sees_the_published_tiers_with_their_prices(page: Page) -> None:
    open_page(page, "/")
    cards = page.locator(".tier-card")
    expect(cards).to_have_count(3)
    expect(page.locator(".tier-name")).to_have_text(["Starter", "Team", "Business"])
    expect(page.locator(".tier-price")).to_have_text(["$20.00", "$40.00", "$75.00"])
    team = page.locator('.tier-card[data-tier="team"]')
    expect(team).to_contain_text("2,000 AI credits per seat / month")
    expect(team).to_contain_text("pooled across your team")
    expect(team).to_contain_text("Most popular")
    expect(page.locator('.tier-card[data-tier="business"]')).to_contain_text("for each user, plus a shared pool")


def test_visitor_sees_only_the_pricing_link_and_a_sign_in_button(page: Page) -> None:
    open_page(page, "/")
    expect(page.locator("#nav-pricing")).to_be_visible()
    expect(page.locator("#sign-in-link")).to_be_visible()
    for area in ("#nav-customer", "#nav-enterprise", "#nav-staff"):
        expect(page.locator(area)).to_have_count(0)


def test_unknown_address_shows_the_not_found_page(page: Page) -> None:
    open_page(page, "/no-such-page")
    expect(page.get_by_text("Page not found")).to_be_visible()
    page.get_by_role("button", name="Go to pricing").click()
    expect(page.locator(".tier-card")).to_have_count(3)
