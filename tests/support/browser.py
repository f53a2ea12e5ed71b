"""Helpers for end-to-end tests in the browser."""

from __future__ import annotations

import secrets

from playwright.sync_api import Page

from portal.auth.passwords import hash_password
from portal.db.models import User
from portal.db.uow import UnitOfWork
from portal.services.demo import DEMO_PASSWORD

HYDRATION_TIMEOUT_MS = 60_000


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
