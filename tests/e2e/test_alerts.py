"""Alerts in the browser: an admin adds a low-balance alert, usage sent through the API crosses it, the header's
bell shows an unread notification, the notification centre lists it and marks it read, and the alert is deleted
after confirming.

Figures: on Team, 1,000 AI tokens draw 10 AI credits, so 6,000 tokens take the pooled balance 60 credits down.
"""

from __future__ import annotations

import secrets
import time
from decimal import Decimal

import httpx
from playwright.sync_api import Page, expect
from reflex.config import get_config

from portal.db.models import utcnow
from portal.services import billing
from portal.services.api_keys import create_api_key
from portal.services.customers import create_customer
from portal.services.identity import operator_identity
from tests.support.browser import account_user, open_page, sign_in

OPERATOR = operator_identity()


def _alerting_co() -> tuple[str, str]:
    """A customer on Team with one admin; its id and the admin's email."""
    tag = secrets.token_hex(3)
    customer = create_customer(OPERATOR, f"Alerting Co {tag}")
    admin = account_user(customer.id, f"admin-{tag}@alerting.test")
    billing.provision(OPERATOR, customer.id, "team", 3, (admin,))
    return customer.id, admin


def _send_6000_tokens(customer_id: str, user: str, key: str) -> str:
    """Send 6,000 tokens of ``user`` through the ingest API and give the watcher its second; the transaction id."""
    transaction_id = f"alert-{secrets.token_hex(6)}"
    event = {
        "transaction_id": transaction_id,
        "customer_id": customer_id,
        "event_type": "ai_usage",
        "timestamp": utcnow().isoformat(),
        "properties": {"tokens": "6000", "user_id": user},
    }
    response = httpx.post(
        f"{get_config().api_url}/api/v1/ingest", json=[event], headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    time.sleep(1.5)  # the watcher evaluates within a second
    return transaction_id


def test_an_admin_adds_a_low_balance_alert_and_the_bell_shows_it_when_usage_crosses_it(page: Page) -> None:
    customer_id, admin = _alerting_co()
    pooled = Decimal(billing.balances(OPERATOR, customer_id).pooled[0].remaining_units)
    threshold = pooled - 50  # 6,000 tokens (60 credits) take the balance below it
    key = create_api_key(OPERATOR, f"alerts-{secrets.token_hex(3)}", ["ingest"], customer_id).token

    sign_in(page, admin)
    page.select_option("#alert-kind", "balance_below")
    page.fill("#alert-threshold", "lots")
    page.click("#add-alert")
    expect(page.locator("#alert-error")).to_contain_text("The threshold 'lots' is not a number")
    page.fill("#alert-threshold", str(threshold))
    page.click("#add-alert")
    rule = page.locator("#alert-rules .alert-rule")
    expect(rule).to_have_count(1)
    expect(rule).to_contain_text("pooled credit")
    expect(rule.locator(".alert-state")).to_have_text("OK")
    expect(page.locator("#unread-count")).to_have_count(0)

    transaction_id = _send_6000_tokens(customer_id, admin, key)

    open_page(page, "/customer")
    expect(page.locator("#unread-count")).to_have_text("1")
    expect(rule.locator(".alert-state")).to_have_text("In alarm")
    page.click("#notification-bell")
    page.wait_for_url("**/notifications")
    item = page.locator("#notifications .notification")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(f"Alert: credit balance below {threshold}")
    expect(item).to_contain_text(transaction_id)
    item.locator(".mark-read").click()
    expect(page.locator("#unread-count")).to_have_count(0)
    expect(page.locator("#notifications .unread")).to_have_count(0)

    open_page(page, "/customer")
    rule.locator(".delete-alert").click()
    expect(page.get_by_text("Delete this alert?")).to_be_visible()
    page.click("#confirm-delete-alert")
    expect(page.locator("#alert-rules .alert-rule")).to_have_count(0)


def test_staff_add_an_alert_for_any_customer_on_its_page(page: Page) -> None:
    customer_id, _ = _alerting_co()
    sign_in(page, "staff@portal.test")
    open_page(page, f"/staff/customers/{customer_id}")
    page.select_option("#alert-kind", "spend_above")
    page.fill("#alert-threshold", "25")
    page.click("#add-alert")
    rule = page.locator("#alert-rules .alert-rule")
    expect(rule).to_contain_text("Spend in the period at or above 25")
    expect(rule).to_contain_text("customer")
    expect(rule.locator(".alert-state")).to_have_text("OK")


def test_staff_add_an_alert_for_every_customer_and_see_which_customer_crossed_it(page: Page) -> None:
    customer_id, admin = _alerting_co()
    name = f"Alerting Co {admin.split('@')[0].removeprefix('admin-')}"  # as _alerting_co named it
    key = create_api_key(OPERATOR, f"alerts-{secrets.token_hex(3)}", ["ingest"], customer_id).token

    sign_in(page, "staff@portal.test")
    page.click("#staff-nav-alerts")
    page.wait_for_url("**/staff/alerts")
    expect(page.locator("#alert-kind option")).to_have_count(3)  # no seat, grant or pacing kinds
    page.select_option("#alert-kind", "usage_above")
    page.select_option("#alert-metric", "met_ai_tokens")
    page.fill("#alert-group-key", "user_id")
    page.fill("#alert-group-value", admin)  # only this customer's user: no other customer crosses it
    page.fill("#alert-threshold", "6000")
    page.click("#add-alert")
    rule = page.locator("#alert-rules .alert-rule").filter(has_text=admin)
    expect(rule).to_have_count(1)
    expect(rule.locator(".alert-state")).to_have_text("OK")

    _send_6000_tokens(customer_id, admin, key)

    open_page(page, "/staff/alerts")
    expect(rule.locator(".alert-state")).to_have_text("In alarm")
    expect(rule.locator(".alert-customers")).to_have_text(name)
    rule.locator(".delete-alert").click()
    page.click("#confirm-delete-alert")
    expect(rule).to_have_count(0)
