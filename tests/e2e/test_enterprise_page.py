"""The enterprise page in the browser: an enterprise admin splits a monthly allocation between two departments,
sees a department's usage beyond its budget as its overage, moves budget to cover it; the department's admin
sees only their own department, without the controls.

Each test opens its own enterprise through the services (a shared commitment of 10,000 AI credits), so the
figures of the demo's Globex, which other tests read, stay as they are. The demo rate card bills AI tokens at 10
AI credits per 1,000 tokens, and an AI credit is worth $0.01.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import col, select, update

from portal.auth.passwords import hash_password
from portal.db.models import Customer, User, utcnow
from portal.db.uow import UnitOfWork
from portal.domain.metrics import UsageEvent
from portal.services import enterprise, enterprise_alerts
from portal.services.customers import create_customer
from portal.services.demo import DEMO_PASSWORD
from portal.services.demo_catalog import CREDITS, RATE_CARD, TOKENS_EVENT
from portal.services.errors import Forbidden, NotFound
from portal.services.identity import operator_identity
from portal.services.identity import sign_in as service_sign_in
from portal.services.ingest_writer import writer
from tests.support.browser import open_page, sign_in

STAFF = operator_identity()


def _new_enterprise(name: str) -> tuple[str, str, str]:
    """An enterprise with a shared commitment of 10,000 AI credits and an admin; (customer id, admin, suffix)."""
    suffix = secrets.token_hex(3)
    customer = create_customer(STAFF, f"{name} {suffix}")
    enterprise.open_enterprise(STAFF, customer.id, rate_card_id=RATE_CARD, commitment="10000", credit_type_id=CREDITS)
    admin = f"admin-{suffix}@{name.lower()}.test"
    with UnitOfWork() as uow:
        uow.session.add(
            User(
                email=admin,
                name="Ada Admin",
                password_hash=hash_password(DEMO_PASSWORD),
                customer_id=customer.id,
                role="admin",
            )
        )
    return customer.id, admin, suffix


def _department_id(parent_id: str, name: str) -> str:
    with UnitOfWork() as uow:
        return uow.session.exec(select(Customer.id).where(Customer.parent_id == parent_id, Customer.name == name)).one()


def _set_password(email: str) -> None:
    """What accepting the invitation would do: the invited admin chooses a password."""
    with UnitOfWork() as uow:
        uow.session.exec(
            update(User).where(col(User.email) == email).values(password_hash=hash_password(DEMO_PASSWORD))
        )


def _use(customer_id: str, tokens: int, tag: str) -> None:
    """``tokens`` AI tokens used by ``customer_id`` an hour ago (or at the start of the month, if later)."""
    now = utcnow()
    at = max(now - timedelta(hours=1), now.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
    event = UsageEvent(f"e2e-{tag}", customer_id, TOKENS_EVENT, at, {"tokens": str(tokens), "user_id": "ann"})
    writer().submit([event]).result(timeout=30)


def _create_department(page: Page, name: str, admin: str, budget: str) -> None:
    page.click("#new-department")
    page.fill("#department-name", name)
    page.fill("#department-admin-email", admin)
    page.fill("#department-budget", budget)
    page.click("#create-department-submit")
    expect(page.get_by_text(f"Invited {admin} as admin of {name}")).to_be_visible()
    expect(page.get_by_test_id(f"department-{name}")).to_be_visible()


def test_an_admin_splits_the_allocation_moves_budget_and_the_department_admin_sees_only_theirs(page: Page) -> None:
    enterprise_id, admin, suffix = _new_enterprise("Initrode")
    research_admin, marketing_admin = f"lead-{suffix}@research.test", f"lead-{suffix}@marketing.test"

    # 1. The admin lands on the page and splits a 1,000-credit monthly allocation 60/40.
    sign_in(page, admin)
    expect(page.locator("#enterprise-kind")).to_have_text("Enterprise")
    expect(page.locator("#nav-enterprise")).to_have_text("Enterprise")
    expect(page.get_by_text("No departments yet")).to_be_visible()
    expect(page.locator("#commitment-card")).to_contain_text("Enterprise commitment")
    expect(page.locator("#commitment-remaining")).to_contain_text("10,000 AI credits")
    _create_department(page, "Research", research_admin, "600")
    _create_department(page, "Marketing", marketing_admin, "400")
    expect(page.locator("#allocated")).to_have_text("1,000 AI credits")
    research, marketing = page.get_by_test_id("department-Research"), page.get_by_test_id("department-Marketing")
    expect(research.locator(".dept-budget")).to_have_text("600 AI credits")
    expect(marketing.locator(".dept-budget")).to_have_text("400 AI credits")
    expect(research.locator(".dept-members")).to_have_text("1")
    expect(research.locator(".dept-status")).to_have_text("ok")

    # 2. Research uses 800 credits: 600 from the commitment (its budget), 200 its own overage.
    research_id, marketing_id = _department_id(enterprise_id, "Research"), _department_id(enterprise_id, "Marketing")
    _use(research_id, 80_000, f"{suffix}-r1")
    enterprise_alerts.evaluate(enterprise_id)  # what the ingest API's watcher does within a second
    page.click("#refresh")
    expect(research.locator(".dept-used")).to_have_text("800 AI credits")
    expect(research.locator(".dept-from-commitment")).to_have_text("600 AI credits")
    expect(research.locator(".dept-overage")).to_have_text("200 AI credits")
    expect(research.locator(".dept-overage-value")).to_have_text("$2.00")
    expect(research.locator(".dept-status")).to_have_text("exhausted")
    expect(page.locator("#commitment-remaining")).to_contain_text("9,400 AI credits")
    expect(page.locator("#alerts")).to_contain_text("Budget used up")
    expect(page.locator("#alerts")).to_contain_text("Research has drawn its whole 600 AI credits budget")
    expect(page.locator(".commitment-forecast")).to_contain_text("at the last 7 days' burn of")

    # 3. Moving more than Marketing has is refused in the dialog; moving 300 covers Research's overage.
    page.click("#move-budget")
    expect(page.locator("#move-current-budgets")).to_contain_text("400 AI credits")
    page.select_option("#move-from", value=marketing_id)
    page.select_option("#move-to", value=research_id)
    page.fill("#move-amount", "500")
    page.click("#move-submit")
    expect(page.locator("#move-error")).to_contain_text("move at most that much")
    page.fill("#move-amount", "300")
    page.click("#move-submit")
    expect(page.get_by_text("Moved 300 of budget from Marketing to Research")).to_be_visible()
    expect(research.locator(".dept-budget")).to_have_text("900 AI credits")
    expect(research.locator(".dept-from-commitment")).to_have_text("800 AI credits")
    expect(research.locator(".dept-overage")).to_have_text("—")
    expect(research.locator(".dept-status")).to_have_text("88% used")
    expect(marketing.locator(".dept-budget")).to_have_text("100 AI credits")
    expect(page.locator("#commitment-remaining")).to_contain_text("9,200 AI credits")

    # 4. Research uses 200 more credits: 900 from the commitment (its budget now), 100 its own overage, which
    # its admin finds on Research's own invoice ($1.00 of $10.00). Research's admin sees Research alone, cannot
    # change budgets, and cannot reach Marketing.
    _use(research_id, 20_000, f"{suffix}-r2")
    _set_password(research_admin)
    page.context.clear_cookies()
    sign_in(page, research_admin)
    open_page(page, "/customer")
    expect(page.locator("#draft-totals")).to_contain_text("$1.00")
    expect(page.locator("#draft-totals")).to_contain_text("$9.00")
    page.click("#nav-enterprise")
    page.wait_for_url("**/enterprise")
    expect(page.locator("#enterprise-kind")).to_have_text("Department")
    expect(page.locator("#enterprise-name")).to_have_text("Research")
    expect(page.locator("#department-notice")).to_contain_text("set by the enterprise admins")
    expect(page.locator(".department-row")).to_have_count(1)
    mine = page.get_by_test_id("department-Research")
    expect(mine.locator(".dept-budget")).to_have_text("900 AI credits")
    expect(mine.locator(".dept-from-commitment")).to_have_text("900 AI credits")
    expect(mine.locator(".dept-overage")).to_have_text("100 AI credits")
    expect(page.locator("#departments-table")).not_to_contain_text("Marketing")
    for control in (".set-budget", "#move-budget", "#new-department", "#commitment-card"):
        expect(page.locator(control)).to_have_count(0)
    open_page(page, f"/staff/customers/{marketing_id}")
    expect(page.get_by_text("Not available to you")).to_be_visible()
    expect(page.get_by_text("Marketing")).to_have_count(0)
    lead = service_sign_in(research_admin, DEMO_PASSWORD).identity
    assert lead.is_department_admin
    with pytest.raises(NotFound):
        enterprise.set_budget(lead, marketing_id, "5000")
    with pytest.raises(NotFound):
        enterprise.move_budget(lead, marketing_id, research_id, "100")
    with pytest.raises(Forbidden):
        enterprise.set_budget(lead, research_id, "5000")


def test_errors_stay_in_the_dialogs_and_an_emptied_budget_is_removed(page: Page) -> None:
    _, admin, suffix = _new_enterprise("Hooli")
    sign_in(page, admin)
    expect(page.get_by_text("No departments yet")).to_be_visible()
    page.click("#new-department-empty")
    page.fill("#department-name", "Platform")
    page.click("#create-department-submit")
    expect(page.locator("#create-department-error")).to_contain_text("Give the email address of the department's admin")
    page.fill("#department-admin-email", f"lead-{suffix}@platform.test")
    page.fill("#department-budget", "250")
    page.select_option("#department-behaviour", value="block")
    page.click("#create-department-submit")
    platform = page.get_by_test_id("department-Platform")
    expect(platform.locator(".dept-budget")).to_have_text("250 AI credits")
    expect(platform.locator(".dept-behaviour")).to_have_text("Usage blocked")
    expect(page.locator("#move-budget")).to_have_count(0)

    platform.locator(".set-budget").click()
    expect(page.locator("#budget-amount")).to_have_value("250")
    expect(page.locator("#behaviour-block")).to_be_checked()
    page.fill("#budget-amount", "lots")
    page.click("#save-budget")
    expect(page.locator("#budget-error")).to_contain_text("must be a number")
    page.fill("#budget-amount", "")
    page.click("#behaviour-overage")
    page.click("#save-budget")
    expect(page.get_by_text("Removed the budget of Platform")).to_be_visible()
    expect(platform.locator(".dept-budget")).to_have_text("No budget")
    expect(page.locator("#allocation-summary")).to_contain_text("Platform may draw on the commitment without limit")
