"""Signing in shows each kind of user their own area, and nothing else."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.support.browser import open_page, sign_in
from tests.support.journeys import (
    enterprise_admin_sees_departments,
    member_sees_their_team_only,
    staff_land_in_the_staff_workspace,
)


def test_staff_sign_in_lands_in_the_staff_workspace(page: Page) -> None:
    staff_land_in_the_staff_workspace(page)


def test_member_sees_their_team_but_not_staff_or_enterprise_areas(page: Page) -> None:
    member_sees_their_team_only(page)


def test_enterprise_admin_sees_departments(page: Page) -> None:
    enterprise_admin_sees_departments(page)


def test_wrong_password_is_refused_with_a_clear_message(page: Page) -> None:
    open_page(page, "/sign-in")
    page.fill("#email", "admin@acme.test")
    page.fill("#password", "not-the-password")
    page.click("#sign-in-submit")
    expect(page.locator("#sign-in-error")).to_have_text("That email address and password do not match an account.")
    expect(page).to_have_url(re.compile(r"/sign-in$"))


def test_signed_out_visitor_is_asked_to_sign_in_for_protected_areas(page: Page) -> None:
    open_page(page, "/customer")
    expect(page.get_by_text("Sign in to continue")).to_be_visible()
    expect(page.locator("#members")).to_have_count(0)


def test_sign_out_ends_the_session(page: Page) -> None:
    sign_in(page, "admin@acme.test")
    page.click("#account-menu")
    page.click("#sign-out")
    page.wait_for_url(lambda url: "/api/auth" not in url and not url.endswith("/customer"))
    page.wait_for_selector("#hydrated", state="attached")
    expect(page.locator("#sign-in-link")).to_be_visible()
    open_page(page, "/customer")
    expect(page.get_by_text("Sign in to continue")).to_be_visible()
