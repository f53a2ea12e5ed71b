"""Customer admins and staff create, see and revoke API keys in the browser; members cannot."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from portal.services.api_keys import authenticate
from portal.services.errors import NotSignedIn
from tests.support.browser import open_page, sign_in


def test_admin_creates_a_key_sees_it_once_uses_it_and_revokes_it(page: Page) -> None:
    sign_in(page, "admin@acme.test")
    page.click("#nav-api-keys")
    page.click("#create-key")
    page.fill("#key-name", "Production backend")
    page.click("#create-key-submit")
    token = page.locator("#new-key-token").inner_text()
    assert authenticate(f"Bearer {token}").scopes == ("ingest",)
    page.click("#close-new-key")
    expect(page.locator("#new-key-token")).to_have_count(0)
    row = page.locator(".api-key-row", has_text="Production backend")
    expect(row).to_contain_text("active")
    expect(page.locator("#api-keys")).not_to_contain_text(token.split(".", 1)[1])
    row.locator(".revoke-key").click()
    expect(page.get_by_text("Revoke this key?")).to_be_visible()
    page.click("#confirm-revoke")
    expect(row).to_contain_text("revoked")
    with pytest.raises(NotSignedIn, match="was revoked"):
        authenticate(f"Bearer {token}")


def test_a_key_without_a_name_is_refused_with_a_message(page: Page) -> None:
    sign_in(page, "admin@acme.test")
    open_page(page, "/api-keys")
    page.click("#create-key")
    page.click("#create-key-submit")
    expect(page.locator("#create-key-error")).to_contain_text("Give the key a name")


def test_staff_create_a_key_for_a_chosen_customer(page: Page) -> None:
    sign_in(page, "staff@portal.test")
    open_page(page, "/api-keys")
    page.click("#create-key")
    page.fill("#key-name", "Globex importer")
    page.select_option("#key-owner", label="Globex Research")
    page.click("#scope-read")
    page.click("#create-key-submit")
    token = page.locator("#new-key-token").inner_text()
    assert authenticate(f"Bearer {token}").scopes == ("ingest", "read")
    page.click("#close-new-key")
    expect(page.locator(".api-key-row", has_text="Globex importer")).to_contain_text("Globex Research")


def test_members_have_no_api_keys_page(page: Page) -> None:
    sign_in(page, "member@acme.test")
    expect(page.locator("#nav-api-keys")).to_have_count(0)
    open_page(page, "/api-keys")
    expect(page.get_by_text("Only an admin of your account can manage API keys.")).to_be_visible()
