"""Accounts in the browser: sign up and verify, reset a password, sign in through the OpenID Connect provider,
and what an open page does when its session has ended."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from playwright.sync_api import Page, Route, expect
from sqlmodel import col, update

from portal.db.models import UserSession, utcnow
from portal.db.uow import UnitOfWork
from portal.services.identity import SESSION_COOKIE, SESSION_ENDED
from portal.services.identity import sign_in as service_sign_in
from portal.services.local_accounts import RESET_REQUESTED, sign_up
from tests.support.browser import HYDRATION_TIMEOUT_MS, open_page, sign_in
from tests.support.mail import Outbox
from tests.support.oidc_provider import DevProvider

PASSWORD = "correct horse 42"


def _new_address() -> str:
    return f"nina-{secrets.token_hex(3)}@initech.test"


def _wait_until_signed_in(page: Page) -> None:
    page.wait_for_url(lambda url: "/sign-in" not in url and "/api/auth" not in url, timeout=HYDRATION_TIMEOUT_MS)
    page.wait_for_selector("#hydrated", state="attached", timeout=HYDRATION_TIMEOUT_MS)


def test_sign_up_then_verify_with_the_mailed_link(page: Page, outbox: Outbox) -> None:
    email = _new_address()
    open_page(page, "/sign-in")
    page.click("#sign-up-link")
    page.wait_for_selector("#sign-up-submit")
    expect(page.locator("#password-hint")).to_contain_text("At least 12 characters")
    page.fill("#name", "Nina New")
    page.fill("#email", email)
    page.fill("#password", "short")
    page.fill("#company", "Initech")
    page.click("#sign-up-submit")
    expect(page.locator("#sign-up-error")).to_have_text("The password is too short: use at least 12 characters.")
    page.fill("#password", PASSWORD)
    page.click("#sign-up-submit")
    _wait_until_signed_in(page)
    expect(page.locator("#account-menu")).to_contain_text("Nina New")
    expect(page.locator("#verify-banner")).to_contain_text(
        f"Please verify your email address: open the link we sent to {email}"
    )

    open_page(page, outbox.last_link(email, "/verify-email"))
    expect(page.locator("#verify-done")).to_have_text(f"Thank you: {email} is verified.")
    expect(page.locator("#verify-banner")).to_have_count(0)
    open_page(page, "/")
    expect(page.locator("#account-menu")).to_be_visible()
    expect(page.locator("#verify-banner")).to_have_count(0)


def test_forgotten_password_reset_with_the_mailed_link(page: Page, outbox: Outbox) -> None:
    email = _new_address()
    sign_up(email, PASSWORD, "Nina New")
    open_page(page, "/sign-in")
    page.click("#forgot-password-link")
    page.wait_for_selector("#forgot-submit")
    page.fill("#email", email)
    page.click("#forgot-submit")
    expect(page.locator("#reset-requested")).to_have_text(RESET_REQUESTED)

    open_page(page, outbox.last_link(email, "/reset-password"))
    page.fill("#password", "battery staple 7!")
    page.click("#reset-submit")
    _wait_until_signed_in(page)
    expect(page.locator("#account-menu")).to_contain_text("Nina New")
    # The address is verified too: the link proved it.
    expect(page.locator("#verify-banner")).to_have_count(0)
    assert service_sign_in(email, "battery staple 7!").identity.email == email


def test_a_used_reset_link_says_so(page: Page, outbox: Outbox) -> None:
    email = _new_address()
    sign_up(email, PASSWORD, "Nina New")
    open_page(page, "/forgot-password")
    page.fill("#email", email)
    page.click("#forgot-submit")
    expect(page.locator("#reset-requested")).to_be_visible()
    link = outbox.last_link(email, "/reset-password")
    open_page(page, link)
    page.fill("#password", "battery staple 7!")
    page.click("#reset-submit")
    _wait_until_signed_in(page)
    open_page(page, link)
    expect(page.locator("#reset-error")).to_contain_text("This password reset link was already used")
    expect(page.locator("#reset-submit")).to_have_count(0)


def test_an_expired_session_on_an_open_page_asks_to_sign_in_again(page: Page) -> None:
    sign_in(page, "admin@acme.test")
    open_page(page, "/api-keys")
    token = next(c["value"] for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    with UnitOfWork() as uow:  # the session expires while the page stays open
        uow.session.exec(
            update(UserSession)
            .where(col(UserSession.token_hash) == hashlib.sha256(token.encode()).hexdigest())
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    page.click("#create-key")
    page.fill("#key-name", "Too late")
    page.click("#create-key-submit")
    expect(page.locator("#session-ended")).to_have_text(SESSION_ENDED)
    expect(page.locator("#account-menu")).to_have_count(0)
    page.click("#sign-in-again")
    page.wait_for_url(re.compile(r"/sign-in\?next=%2Fapi-keys$"))
    page.wait_for_selector("#hydrated", state="attached")
    page.fill("#email", "admin@acme.test")
    page.fill("#password", "portal-demo")
    page.click("#sign-in-submit")
    page.wait_for_url(re.compile(r"/api-keys$"), timeout=HYDRATION_TIMEOUT_MS)
    expect(page.locator("#create-key")).to_be_visible()


def _no_web_fonts(route: Route) -> None:
    """The provider's pages import a web font from the internet, which this machine cannot reach."""
    route.fulfill(status=200, content_type="text/css", body="")


def test_sign_in_through_the_provider_from_the_sign_in_page(page: Page, oidc_provider: DevProvider) -> None:
    page.route("https://fonts.googleapis.com/**", _no_web_fonts)
    open_page(page, "/sign-in")
    expect(page.locator("#sign-in-provider")).to_have_text("Sign in with Dev IdP")
    page.click("#sign-in-provider")
    page.wait_for_url(lambda url: url.startswith(oidc_provider.issuer), timeout=HYDRATION_TIMEOUT_MS)
    page.fill("input[name=login]", "carol@acme.test")
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")
    page.click("button:has-text('Continue')")
    page.wait_for_url(re.compile(r"/customer$"), timeout=HYDRATION_TIMEOUT_MS)
    page.wait_for_selector("#hydrated", state="attached", timeout=HYDRATION_TIMEOUT_MS)
    expect(page.locator("#account-menu")).to_contain_text("carol@acme.test")
    expect(page.get_by_role("heading", name="Acme AI")).to_be_visible()
