"""User journeys in the browser, shared by the e2e tier (dev server in this process) and the production tier
(`portal run` on PostgreSQL and Redis with several workers).

Each journey takes what differs between the two as arguments: the address of the HTTP API and where the mail the
portal "sent" can be read. The test process must use the same database as the app (the journeys read figures from
the services to compare them with the page).
"""

from __future__ import annotations

import re
import secrets
from typing import Any, Protocol

import httpx
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from portal.db.models import Customer, User, utcnow
from portal.db.uow import UnitOfWork
from portal.services import billing
from portal.services.customers import create_customer
from portal.services.identity import operator_identity
from tests.support.browser import HYDRATION_TIMEOUT_MS, open_page, sign_in

OPERATOR = operator_identity()
LIVE_MS = 2_000
WAIT_MS = 15_000
JOURNEY_PASSWORD = "journey passw0rd 1"
MONEY = re.compile(r"^\$[\d,]+\.\d\d$")
# Addresses are matched with or without a trailing slash: the production build's pages end in one.


class MailLinks(Protocol):
    """Where a journey reads the links the portal mailed (an in-process outbox, or a server's log)."""

    def last_link(self, address: str, path: str) -> str:
        """The link to ``path`` in the newest message to ``address`` (path and query, ready to open)."""
        ...


def post_tokens(api_url: str, key: str, customer_id: str, user_id: str, tokens: int) -> dict[str, Any]:
    """Send one ``ai_usage`` event of ``tokens`` tokens by ``user_id`` through the ingest API; its outcome (``status``
    accepted, duplicate or rejected, with the reason)."""
    event = {
        "transaction_id": f"journey-{secrets.token_hex(6)}",
        "customer_id": customer_id,
        "event_type": "ai_usage",
        "timestamp": utcnow().isoformat(),
        "properties": {"tokens": str(tokens), "user_id": user_id},
    }
    response = httpx.post(
        f"{api_url}/api/v1/ingest", json=[event], headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["results"][0]
    return result


def send_tokens(api_url: str, key: str, customer_id: str, user_id: str, tokens: int) -> None:
    """:func:`post_tokens`, which must be accepted."""
    result = post_tokens(api_url, key, customer_id, user_id, tokens)
    assert result["status"] == "accepted", result


def staff_land_in_the_staff_workspace(page: Page) -> None:
    """The demo staff user signs in and lands in the staff workspace, without the customer area."""
    sign_in(page, "staff@portal.test")
    expect(page).to_have_url(re.compile(r"/staff/?$"))
    expect(page.get_by_role("heading", name="Staff workspace")).to_be_visible()
    expect(page.locator("#packages")).to_contain_text("team")
    expect(page.locator("#customers")).to_contain_text("Globex Research")
    expect(page.locator("#nav-staff")).to_be_visible()
    expect(page.locator("#nav-customer")).to_have_count(0)


def member_sees_their_team_only(page: Page) -> None:
    """The demo member signs in, sees their team, and is refused the staff area."""
    sign_in(page, "member@acme.test")
    expect(page.get_by_role("heading", name="Acme AI")).to_be_visible()
    expect(page.locator("#members")).to_contain_text("admin@acme.test")
    expect(page.locator("#nav-staff")).to_have_count(0)
    expect(page.locator("#nav-enterprise")).to_have_count(0)
    open_page(page, "/staff")
    expect(page.get_by_text("Not available to you")).to_be_visible()
    expect(page.get_by_text("This area is for staff only.")).to_be_visible()
    expect(page.locator("#packages")).to_have_count(0)


def enterprise_admin_sees_departments(page: Page) -> None:
    """The demo enterprise admin signs in and sees Globex's departments."""
    sign_in(page, "admin@globex.test")
    expect(page.get_by_role("heading", name="Departments")).to_be_visible()
    expect(page.locator("#departments")).to_contain_text("Globex Marketing")
    expect(page.locator("#nav-enterprise")).to_be_visible()


def staff_grant_credits_and_void_an_invoice(page: Page) -> None:
    """Staff find a new Team customer by search, grant it credits (a reason is required) and void its first
    invoice."""
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
    page.wait_for_url(re.compile(rf"/staff/customers/{customer_id}/?$"), timeout=HYDRATION_TIMEOUT_MS)
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


def _cents(text: str) -> int:
    """``$1,234.56`` as 123456."""
    return int(text.replace("$", "").replace(",", "").replace(".", ""))


def _signed_in(page: Page, landing: str) -> None:
    page.wait_for_url(re.compile(landing), timeout=HYDRATION_TIMEOUT_MS)
    page.wait_for_selector("#hydrated", state="attached", timeout=HYDRATION_TIMEOUT_MS)


def customer_id_named(name: str) -> str:
    """The id of the customer called ``name`` (e.g. the demo's ``Acme AI``)."""
    with UnitOfWork() as uow:
        return uow.session.exec(select(Customer.id).where(Customer.name == name)).one()


def _customer_of(email: str) -> str:
    with UnitOfWork() as uow:
        customer_id = uow.session.exec(select(User.customer_id).where(User.email == email)).one()
    assert customer_id is not None
    return customer_id


def _sign_up_and_buy_team(page: Page, email: str, company: str) -> str:
    open_page(page, "/")
    page.locator('.tier-card[data-tier="team"] .choose-tier').click()
    page.wait_for_url(re.compile(r"/checkout/?\?tier=team"))
    page.wait_for_selector("#hydrated", state="attached")
    expect(page.locator("#checkout-seats")).to_have_value("3")
    expect(page.locator("#due-today")).to_have_text("$120.00")  # 3 seats x $40, the first period in advance
    page.click("#to-sign-up")
    page.wait_for_selector("#sign-up-submit")
    page.fill("#name", "Nina New")
    page.fill("#email", email)
    page.fill("#password", JOURNEY_PASSWORD)
    page.fill("#company", company)
    page.click("#sign-up-submit")
    _signed_in(page, r"/checkout/?\?tier=team&seats=3")
    expect(page.locator("#company")).to_have_value(company)  # carried over from the sign-up form
    expect(page.locator("#due-today")).to_have_text("$120.00")
    page.click("#buy")
    _signed_in(page, r"/customer/?$")
    expect(page.locator("#plan-card")).to_contain_text("Team")
    return _customer_of(email)


def _create_key(page: Page) -> str:
    page.click("#nav-api-keys")
    page.click("#create-key")
    page.fill("#key-name", "Backend")
    page.click("#create-key-submit")
    token = page.locator("#new-key-token").inner_text()
    page.click("#close-new-key")
    return token


def self_serve_journey(page: Page, browser: Browser, base_url: str, api_url: str, mail: MailLinks) -> None:
    """A new customer's whole journey in one browser, as a new user would live it.

    Sign up from the pricing page with Team and 3 seats; create an API key; send usage through the API at
    ``api_url`` and watch the pool fall on the open dashboard; invite a member, who joins from the mailed link
    (read from ``mail``) in a second browser context on ``base_url`` and sees only their seat; add 2 seats with a
    prorated charge; upgrade to Business. Refused along the way: seats below the member count.
    """
    admin = f"nina-{secrets.token_hex(3)}@initech.test"
    company = f"Initech {secrets.token_hex(2)}"
    customer_id = _sign_up_and_buy_team(page, admin, company)

    # The pool: 3 seats x 2,000 credits, nothing used yet.
    pool = page.locator("#pool-card .stat-value")
    expect(pool).to_have_text("6,000 AI credits")

    key = _create_key(page)
    expect(page.locator("#own-customer-id")).to_have_text(customer_id)
    open_page(page, "/customer")
    expect(pool).to_have_text("6,000 AI credits")
    # 25,000 tokens at 10 credits per 1,000 = 250 credits, drawn from the shared pool while the page is open.
    send_tokens(api_url, key, customer_id, admin, 25_000)
    expect(pool).to_have_text("5,750 AI credits", timeout=LIVE_MS)

    # Invite a member onto a free seat; they join from the mailed link and see only their own seat.
    member = f"omar-{secrets.token_hex(3)}@initech.test"
    open_page(page, "/customer/seats")
    page.fill("#invite-email", member)
    page.fill("#invite-name", "Omar")
    page.click("#invite-submit")
    expect(page.locator(".member-row", has_text=member)).to_contain_text("holds a seat")
    expect(page.locator("#seat-summary")).to_contain_text("3 seats on Team v1; 2 assigned")
    member_page = browser.new_context(base_url=base_url).new_page()
    open_page(member_page, mail.last_link(member, "/join"))
    member_page.fill("#password", "member passw0rd 22")
    member_page.click("#reset-submit")
    _signed_in(member_page, r"/customer/?$")
    expect(member_page.locator("#own-credit-card")).to_be_visible()
    for admin_only in ("#pool-card", "#seat-credits", "#draft-panel", "#past-invoices", "#manage-seats"):
        expect(member_page.locator(admin_only)).to_have_count(0)
    # Their own seat has used nothing; the admin's 250 credits and the pool's figures are not shown to them.
    expect(member_page.locator("#own-credit-card")).to_contain_text("0 AI credits")
    expect(member_page.locator("#usage-panel")).not_to_contain_text(admin)
    for figure in ("5,750", "250 AI credits", "6,000"):
        expect(member_page.locator("body")).not_to_contain_text(figure)
    member_page.context.close()

    # Seats below the number of members who hold one are refused, with the reason.
    page.fill("#seat-count", "1")
    page.click("#preview-seats")
    expect(page.locator("#seats-error")).to_contain_text("2 seats are assigned, so the quantity cannot go down to 1")

    # Two more seats: the preview shows the prorated charge, which is what the account is charged. Proration
    # runs to the second, so the page's figure and one worked out here a moment apart may differ by a cent.
    page.fill("#seat-count", "5")
    page.click("#preview-seats")
    expect(page.locator("#preview-now")).to_have_text(MONEY)
    shown = _cents(page.locator("#preview-now").inner_text())
    expected = _cents(billing.preview_seats(OPERATOR, customer_id, quantity=5).due_now)
    # Prorated: at most a whole period of 2 x $40. The period began at checkout moments ago, so the rest of it rounds
    # to $80.00 or $79.99 depending on how long the journey took.
    assert 0 < shown <= 8000
    assert abs(shown - expected) <= 1
    page.click("#confirm-seats")
    charged = page.get_by_text(re.compile(r"The account now has 5 seats\. \$[\d,]+\.\d\d was charged\."))
    expect(charged).to_be_visible()
    amount = re.search(r"\$[\d,]+\.\d\d", charged.inner_text())
    assert amount is not None
    assert billing.invoices(OPERATOR, customer_id)[0].total_due == amount.group()
    assert abs(_cents(amount.group()) - shown) <= 1

    # Upgrade to Business (5 seats is its minimum): at once, with the preview first.
    open_page(page, "/customer/plan")
    page.locator('.preview-switch[data-tier="business"]').click()
    expect(page.get_by_text("The switch takes effect at once.")).to_be_visible()
    page.click("#confirm-switch")
    expect(page.get_by_text(re.compile("Plan changed to Business"))).to_be_visible()
    open_page(page, "/customer")
    expect(page.locator("#plan-card")).to_contain_text("Business")
