"""Staff see adoption per tier as charts, with this month's figures in a table under them."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from portal.services.adoption import adoption
from portal.services.identity import operator_identity
from tests.support.browser import open_page, sign_in

OPERATOR = operator_identity()
WAIT_MS = 15_000


def test_adoption_charts_and_this_months_team_customers(page: Page) -> None:
    view = adoption(OPERATOR, 12)
    (team,) = [s for s in view.series if s.tier == "Team v1"]
    sign_in(page, "staff@portal.test")
    open_page(page, "/staff/adoption")
    expect(page.locator("#chart-customers .recharts-surface").first).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#chart-seats .recharts-surface").first).to_be_visible()
    row = page.locator('.adoption-row[data-tier="Team v1"]')
    expect(row.locator(".adoption-customers")).to_have_text(str(team.customers[-1]))
    expect(row.locator(".adoption-seats")).to_have_text(str(team.seats[-1]))
    expect(row.locator(".adoption-revenue")).to_have_text(team.revenue[-1])
