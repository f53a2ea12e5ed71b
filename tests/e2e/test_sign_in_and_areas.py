"""Signing in shows each kind of user their own area, and nothing else."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.support.browser import open_page, sign_in


def test_staff_sign_in_lands_in_the_staff_workspace(page: Page) -> None:
    sign_in(page, "staff@portal.test")
    expect(page).to_have_url(re.compile(r"/staff$"))
    expect(page.get_by_role("heading", name="Staff workspace")).to_be_visible()
    expect(page.locator("#packages")).to_contain_text("team")
    expect(page.locator("#customers")).to_contain_text("Globex Research")
    expect(page.locator("#nav-staff")).to_be_visible()
    expect(page.locator("#nav-customer")).to_have_count(0)


def test_member_sees_their_team_but_not_staff_or_enterprise_areas(page: Page) -> None:
    sign_in(page, "member@acme.test")
    expect(page.get_by_role("heading", name="Acme AI")).to_be_visible()
    expect(page.locator("#members")).to_contain_text("admin@acme.test")
    expect(page.locator("#nav-staff")).to_have_count(0)
    expect(page.locator("#nav-enterprise")).to_have_count(0)
    open_page(page, "/staff")
    expect(page.get_by_text("Not available to you")).to_be_visible()
    expect(page.get_by_text("This area is for staff only.")).to_be_visible()
    expect(page.locator("#packages")).to_have_count(0)


def test_enterprise_admin_sees_departments(page: Page) -> None:
    sign_in(page, "admin@globex.test")
    expect(page.get_by_role("heading", name="Departments")).to_be_visible()
    expect(page.locator("#departments")).to_contain_text("Globex Marketing")
    expect(page.locator("#nav-enterprise")).to_be_visible()


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
