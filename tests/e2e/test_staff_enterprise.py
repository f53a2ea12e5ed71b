"""Staff set up an enterprise on a customer's staff page: open it with a shared commitment, add a division paid by
its parent and a team under it with a separate statement, see the three levels, and limit the commitment's child
access to the team."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import Locator, Page, expect

from portal.services.customers import create_customer
from portal.services.identity import operator_identity
from tests.support.browser import HYDRATION_TIMEOUT_MS, open_page, sign_in

OPERATOR = operator_identity()
WAIT_MS = 15_000


def _row(page: Page, name: str) -> Locator:
    return page.locator(f'[data-testid="enterprise-row-{name}"]')


def _add_department(page: Page, name: str, **choices: str) -> None:
    page.click("#add-department")
    page.fill("#department-name", name)
    for field, value in choices.items():
        page.select_option(f"#department-{field}", value)
    page.click("#department-submit")
    expect(page.locator("#department-dialog")).to_have_count(0, timeout=WAIT_MS)


def test_staff_open_an_enterprise_add_departments_and_limit_child_access(page: Page) -> None:
    token = secrets.token_hex(3)
    name = f"Initech {token}"
    customer_id = create_customer(OPERATOR, name).id  # fresh, so other tests' figures do not move
    sign_in(page, "staff@portal.test")
    open_page(page, f"/staff/customers/{customer_id}")

    # No contract yet: open it as an enterprise; a wrong amount is explained in the dialog.
    expect(page.locator("#enterprise-none")).to_be_visible(timeout=WAIT_MS)
    page.click("#open-enterprise")
    expect(page.locator("#enterprise-credit-type")).to_have_value("ai-credits")
    page.fill("#enterprise-commitment", "lots")
    page.click("#enterprise-open-submit")
    expect(page.locator("#enterprise-open-error")).to_contain_text("must be a number", timeout=WAIT_MS)
    page.fill("#enterprise-commitment", "50000")
    page.click("#enterprise-open-submit")
    expect(page.locator("#enterprise-open-dialog")).to_have_count(0, timeout=WAIT_MS)
    commitment = page.locator(".enterprise-commitment")
    expect(commitment.locator(".commitment-amount")).to_have_text("50,000 AI credits", timeout=WAIT_MS)
    expect(commitment.locator(".commitment-access")).to_have_text("every department")
    expect(page.locator("#billing-note")).to_have_count(0)  # the page reloaded: the contract is there too

    # A division paid by its parent, and a team under it with its own statement.
    _add_department(page, "Ops", payer="parent")
    expect(_row(page, "Ops")).to_have_count(1, timeout=WAIT_MS)
    ops_id = _row(page, "Ops").get_attribute("data-customer")
    assert ops_id
    page.click("#add-department")
    expect(page.locator("#department-error")).to_have_count(0)
    page.click("#department-submit")
    expect(page.locator("#department-error")).to_contain_text("Give the department a name", timeout=WAIT_MS)
    page.fill("#department-name", "Ops East")
    page.select_option("#department-parent", ops_id)
    page.select_option("#department-statement", "separate")
    page.click("#department-submit")
    expect(page.locator("#department-dialog")).to_have_count(0, timeout=WAIT_MS)

    rows = page.locator(".enterprise-row")
    expect(rows).to_have_count(3, timeout=WAIT_MS)
    expect(rows.locator(".enterprise-name")).to_have_text([name, "Ops", "Ops East"])
    levels = [("Ops", "1", "Parent", "Consolidated"), ("Ops East", "2", "Self", "Separate")]
    for row_name, depth, payer, statement in levels:
        row = _row(page, row_name)
        expect(row).to_have_attribute("data-depth", depth)
        expect(row.locator(".enterprise-payer")).to_have_text(payer)
        expect(row.locator(".enterprise-statement")).to_have_text(statement)

    # Only the team may draw on the commitment.
    commitment.locator(".commitment-access-edit").click()
    expect(page.locator("#access-all")).to_be_checked()
    page.check("#access-chosen")
    page.locator('[data-testid="access-choice-Ops East"]').check()
    page.click("#access-submit")
    expect(page.locator("#access-dialog")).to_have_count(0, timeout=WAIT_MS)
    expect(commitment.locator(".commitment-access")).to_have_text("Ops East", timeout=WAIT_MS)

    # The division's own page shows its part of the tree.
    _row(page, "Ops").locator(".enterprise-name").click()
    page.wait_for_url(re.compile(rf"/staff/customers/{ops_id}$"), timeout=HYDRATION_TIMEOUT_MS)
    expect(page.locator(".enterprise-row")).to_have_count(2, timeout=WAIT_MS)
    expect(page.locator("#enterprise-no-commitment")).to_contain_text(name)
