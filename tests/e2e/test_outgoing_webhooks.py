"""A customer admin adds a webhook endpoint in the browser, an event reaches a receiver on a loopback port, the
delivery log shows it, and Redeliver sends the same event again."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from portal.services import billing
from portal.services.demo import DEMO_PASSWORD
from portal.services.identity import sign_in as sign_in_service
from tests.support.browser import sign_in
from tests.support.settings import settings_env
from tests.support.webhook_receiver import Receiver, listening


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on a free loopback port, listening, which the running app may send to (private targets allowed);
    stopped by its handle at the end."""
    with settings_env({"PORTAL_WEBHOOKS_ALLOW_PRIVATE": "true"}), listening() as found:
        yield found


def _received(receiver: Receiver, count: int, event_type: str, seconds: float = 20) -> list[str]:
    """Wait until the receiver got ``count`` deliveries of ``event_type``; their event ids."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ids = [b["id"] for b in receiver.bodies if b["type"] == event_type]
        if len(ids) >= count:
            return ids
        time.sleep(0.2)
    raise AssertionError(f"{count} {event_type} deliveries expected; got {receiver.bodies}")


def test_admin_adds_an_endpoint_sees_a_delivery_and_redelivers_it(page: Page, receiver: Receiver) -> None:
    sign_in(page, "admin@acme.test")
    page.click("#nav-webhooks")
    page.fill("#endpoint-url", receiver.url)
    page.fill("#endpoint-types", "seat.added")
    page.click("#add-endpoint")
    row = page.locator(".endpoint-row", has_text=receiver.url)
    expect(row).to_contain_text("seat.added")
    receiver.secret = row.locator(".endpoint-secret").inner_text()  # the receiver verifies every signature with it

    admin = sign_in_service("admin@acme.test", DEMO_PASSWORD).identity
    assert admin.customer_id is not None
    billing.change_seats(admin, admin.customer_id, add=["webhook-e2e@acme.test"])
    [event_id] = _received(receiver, 1, "seat.added")

    page.click("#refresh-deliveries")
    delivery = page.locator(".delivery-row", has_text=event_id)
    expect(delivery.locator(".delivery-status")).to_have_text("delivered")
    expect(delivery).to_contain_text("HTTP 200")
    delivery.locator(".redeliver").click()
    assert _received(receiver, 2, "seat.added") == [event_id, event_id]
    assert receiver.rejected == []
    page.click("#refresh-deliveries")
    expect(page.locator(".delivery-row", has_text=event_id)).to_have_count(2)
    expect(page.locator(".delivery-row", has_text=event_id).first.locator(".delivery-status")).to_have_text("delivered")

    row.locator(".delete-endpoint").click()
    expect(page.get_by_text("Delete this endpoint?")).to_be_visible()
    page.click("#confirm-delete")
    expect(page.locator(".endpoint-row", has_text=receiver.url)).to_have_count(0)
