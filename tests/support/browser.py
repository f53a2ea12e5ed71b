"""Helpers for end-to-end tests in the browser."""

from __future__ import annotations

import secrets

from playwright.sync_api import ConsoleMessage, Error, Page

from portal.auth.passwords import hash_password
from portal.db.models import User
from portal.db.uow import UnitOfWork
from portal.services.demo import DEMO_PASSWORD

HYDRATION_TIMEOUT_MS = 60_000
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def watch_browser_errors(page: Page, expected: list[str]) -> list[str]:
    """A list that fills with the errors ``page`` reports from now on: console errors (but those containing one of
    the ``expected`` texts) and uncaught page errors."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not any(text in message.text for text in expected):
            errors.append(f"console: {message.text}")

    def on_page_error(error: Error) -> None:
        errors.append(f"page error: {error.message}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    return errors


def open_page(page: Page, path: str) -> Page:
    """Go to ``path`` and wait until the page is hydrated and connected (clicks before that are lost)."""
    page.goto(path)
    page.wait_for_selector("#hydrated", state="attached", timeout=HYDRATION_TIMEOUT_MS)
    return page


def sign_in(page: Page, email: str, password: str = DEMO_PASSWORD) -> Page:
    """Sign in through the sign-in form and wait for the landing page to hydrate."""
    open_page(page, "/sign-in")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#sign-in-submit")
    page.wait_for_url(lambda url: "/sign-in" not in url and "/api/auth" not in url, timeout=HYDRATION_TIMEOUT_MS)
    page.wait_for_selector("#hydrated", state="attached", timeout=HYDRATION_TIMEOUT_MS)
    return page


def new_user(prefix: str, name: str, password: str) -> str:
    """A new user without an account yet, who signs in with ``password``; their email (``prefix-<random>@...``)."""
    email = f"{prefix}-{secrets.token_hex(3)}@example.test"
    with UnitOfWork() as uow:
        uow.session.add(User(email=email, name=name, password_hash=hash_password(password)))
    return email


def account_user(customer_id: str, email: str, role: str = "admin", name: str = "Admin") -> str:
    """A user of ``customer_id`` (an admin unless ``role`` says otherwise) who signs in with the demo password."""
    with UnitOfWork() as uow:
        uow.session.add(
            User(email=email, name=name, password_hash=hash_password(DEMO_PASSWORD), customer_id=customer_id, role=role)
        )
    return email
