"""The customer dashboard in the browser: an admin's whole account, a member's own seat, live updates after an
ingest through the HTTP API, and the empty and error states.

The app's database is shared by the session's tests, so figures are read
from the services after each change rather than fixed in advance.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect
from reflex.config import get_config
from sqlmodel import col, select, update

from portal.auth.passwords import hash_password
from portal.db.models import InvoiceRow, User, UserSession, utcnow
from portal.db.uow import UnitOfWork
from portal.services import billing, dashboard
from portal.services.api_keys import create_api_key
from portal.services.customers import create_customer
from portal.services.demo import DEMO_PASSWORD
from portal.services.identity import Identity, operator_identity
from tests.support.browser import sign_in
from tests.support.journeys import customer_id_named

OPERATOR = operator_identity()
LIVE_MS = 2_000


def _acme_id() -> str:
    return customer_id_named("Acme AI")


def _add_user(email: str, customer_id: str, role: str) -> None:
    with UnitOfWork() as uow:
        uow.session.add(
            User(
                email=email,
                name=email.split("@")[0].title(),
                password_hash=hash_password(DEMO_PASSWORD),
                customer_id=customer_id,
                role=role,
            )
        )


def _new_customer(name: str, *admins_and_members: tuple[str, str]) -> str:
    """A customer without a contract, with the given (email, role) users."""
    customer = create_customer(OPERATOR, f"{name} {secrets.token_hex(3)}")
    for email, role in admins_and_members:
        _add_user(email, customer.id, role)
    return customer.id


def _pool_remaining(customer_id: str) -> str:
    return billing.balances(OPERATOR, customer_id).pooled[0].remaining


def test_admin_sees_plan_credits_seats_usage_and_explains_a_draft_line(page: Page) -> None:
    sign_in(page, "admin@acme.test")
    expect(page.locator("#plan-card")).to_contain_text("Team v1")
    expect(page.locator("#days-left")).to_contain_text("left")
    expect(page.locator("#seats-card")).to_contain_text("2 of 3")
    expect(page.locator("#manage-seats")).to_have_attribute("href", "/customer/seats")
    expect(page.locator("#change-plan")).to_have_attribute("href", "/customer/plan")
    expect(page.locator("#api-keys-link")).to_have_attribute("href", "/api-keys")
    expect(page.locator("#pool-card")).to_contain_text(_pool_remaining(_acme_id()))
    expect(page.locator("#pool-card .pool-granted")).to_have_text("of 6,000 AI credits")
    seats = page.locator("#seat-credits .seat-credits-row")
    expect(seats).to_have_count(2)
    expect(seats.nth(0)).to_contain_text("admin@acme.test")
    expect(seats.nth(1)).to_contain_text("member@acme.test")
    page.locator("#usage-chart .recharts-bar-rectangle").first.hover()
    expect(page.locator("#usage-chart .recharts-tooltip-wrapper")).to_contain_text("admin@acme.test")
    expect(page.locator("#usage-legend .series-legend-item")).to_have_count(2)
    page.locator("#metric-picker").get_by_role("radio", name="API requests").click()
    expect(page.locator("#usage-legend")).to_contain_text("admin@acme.test")

    draft = page.locator("#draft-lines .invoice-line", has_text="AI tokens (per 1,000)")
    expect(draft).to_contain_text("10 AI credits")
    draft.locator(".explain-line").click()
    dialog = page.locator("#explain-dialog")
    expect(dialog).to_contain_text("AI tokens in the period, billed per 1,000, rounded up")
    expect(dialog.locator("#explain-grants")).to_contain_text("Seat credits (pooled)")
    expect(dialog.locator("#explain-grants")).to_contain_text("the only grant that applies to this charge")
    expect(dialog.locator("#explain-groups")).to_contain_text("user_id=member@acme.test")
    page.click("#close-explain")
    expect(dialog).to_have_count(0)
    expect(page.locator("#draft-totals")).to_contain_text("Credits applied")

    invoice = page.locator(".past-invoice").first
    expect(invoice).to_contain_text("$120.00")
    invoice.get_by_role("button").first.click()
    expect(invoice.locator(".invoice-line")).to_contain_text("3 seats in advance")


def test_the_balance_falls_on_an_open_dashboard_after_an_ingest(page: Page) -> None:
    acme = _acme_id()
    key = create_api_key(OPERATOR, f"live-{secrets.token_hex(3)}", ["ingest"], acme).token
    sign_in(page, "admin@acme.test")
    pool = page.locator("#pool-card .stat-value")
    expect(pool).to_have_text(_pool_remaining(acme))
    before = pool.inner_text()
    now = utcnow()
    events = [
        {
            "transaction_id": f"live-{secrets.token_hex(6)}",
            "customer_id": "acme",
            "event_type": "ai_usage",
            "timestamp": now.isoformat(),
            "properties": {"tokens": "50000", "user_id": "member@acme.test", "model": "gpt-4o"},
        }
    ]
    response = httpx.post(
        f"{get_config().api_url}/api/v1/ingest", json=events, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert response.json()["accepted"] == 1
    after = _pool_remaining(acme)
    assert after != before
    expect(pool).to_have_text(after, timeout=LIVE_MS)
    member_row = page.locator("#seat-credits .seat-credits-row", has_text="member@acme.test")
    member = next(s for s in billing.balances(OPERATOR, acme).seats if s.seat_id == "member@acme.test")
    expect(member_row).to_contain_text(member.drawn_from_pool, timeout=LIVE_MS)


def test_a_member_sees_only_their_own_seat(page: Page) -> None:
    sign_in(page, "member@acme.test")
    expect(page.locator("#own-credit-card")).to_contain_text("drawn from your team's shared pool")
    expect(page.locator("#usage-legend")).to_contain_text("member@acme.test")
    expect(page.locator("#usage-panel")).not_to_contain_text("admin@acme.test")
    for admin_only in (
        "#pool-card",
        "#seat-credits",
        "#draft-panel",
        "#past-invoices",
        "#manage-seats",
        "#change-plan",
        "#api-keys-link",
    ):
        expect(page.locator(admin_only)).to_have_count(0)


def test_a_customer_without_a_plan_is_sent_to_the_pricing_page(page: Page) -> None:
    email = f"founder-{secrets.token_hex(3)}@hooli.test"
    _new_customer("Hooli", (email, "admin"))
    sign_in(page, email)
    expect(page.locator("#no-plan")).to_contain_text("No plan yet")
    expect(page.locator("#see-pricing")).to_have_attribute("href", "/")


def test_a_failed_payment_and_too_few_seats_are_shown_as_banners(page: Page) -> None:
    admin, member = f"boss-{secrets.token_hex(3)}@pied.test", f"dev-{secrets.token_hex(3)}@pied.test"
    customer_id = _new_customer("Pied Piper", (admin, "admin"), (member, "member"))
    billing.provision(OPERATOR, customer_id, "starter", 1, (admin,))
    with UnitOfWork() as uow:
        uow.session.exec(
            update(InvoiceRow)
            .where(col(InvoiceRow.customer_id) == customer_id)
            .values(status="payment_failed", payment_note="The card was declined.")
        )
    sign_in(page, admin)
    expect(page.locator(".payment-failed")).to_contain_text("The card was declined.")
    expect(page.locator(".past-invoice").first.locator(".invoice-status")).to_have_text("Payment failed")
    expect(page.locator("#seat-warning")).to_contain_text("2 members but the plan has 1 seats")


def test_an_expired_session_empties_the_open_dashboard(page: Page) -> None:
    email = f"owner-{secrets.token_hex(3)}@initrode.test"
    billing.provision(OPERATOR, _new_customer("Initrode", (email, "admin")), "starter", 1, (email,))
    sign_in(page, email)
    expect(page.locator("#pool-card")).to_be_visible()
    with UnitOfWork() as uow:
        user_id = uow.session.exec(select(User.id).where(User.email == email)).one()
        uow.session.exec(
            update(UserSession)
            .where(col(UserSession.user_id) == user_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    expect(page.get_by_text("Your session has ended: sign in again")).to_be_visible(timeout=LIVE_MS)
    expect(page.locator("#pool-card")).to_have_count(0)


def test_the_live_loop_stops_when_the_page_is_left_or_closed(page: Page, monkeypatch: pytest.MonkeyPatch) -> None:
    email = f"watcher-{secrets.token_hex(3)}@vandelay.test"
    billing.provision(OPERATOR, _new_customer("Vandelay", (email, "admin")), "starter", 1, (email,))
    checks: list[str] = []
    marker = dashboard.usage_marker

    def counted(identity: Identity, previous: dashboard.UsageMarker | None = None) -> dashboard.UsageMarker:
        if identity.email == email:
            checks.append(email)
        return marker(identity, previous)

    monkeypatch.setattr(dashboard, "usage_marker", counted)
    sign_in(page, email)
    page.wait_for_timeout(2_500)
    assert len(checks) >= 2
    page.click("#nav-api-keys")
    page.wait_for_url("**/api-keys")
    page.wait_for_timeout(1_500)
    left = len(checks)
    page.wait_for_timeout(2_500)
    assert len(checks) == left
    page.click("#nav-customer")
    page.wait_for_url("**/customer")
    page.wait_for_timeout(2_500)
    assert len(checks) > left
    page.goto("about:blank")
    page.wait_for_timeout(1_500)
    closed = len(checks)
    page.wait_for_timeout(2_500)
    assert len(checks) == closed
