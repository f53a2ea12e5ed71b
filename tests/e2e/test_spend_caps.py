"""Spend caps in the browser: an admin caps a seat, usage beyond the cap is refused by the API, the member sees
their seat is capped, and removing the cap (after confirming) lets usage in again.

Figures: on Team, 1,000 AI tokens cost 10 AI credits = $0.10, so a $0.50 cap is reached by 5,000 tokens.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from playwright.sync_api import Browser, Page, expect
from reflex.config import get_config

from portal.auth.passwords import hash_password
from portal.db.models import User
from portal.db.uow import UnitOfWork
from portal.services import billing
from portal.services.api_keys import create_api_key
from portal.services.customers import create_customer
from portal.services.demo import DEMO_PASSWORD
from portal.services.identity import operator_identity
from portal.services.readings import REFRESH_SECONDS
from tests.support.browser import open_page, sign_in
from tests.support.journeys import post_tokens

OPERATOR = operator_identity()


def _capped_co() -> tuple[str, str, str]:
    """A customer on Team with an admin and a member, each holding a seat; its id and the two emails."""
    tag = secrets.token_hex(3)
    customer = create_customer(OPERATOR, f"Capped Co {tag}")
    admin, member = f"admin-{tag}@capped.test", f"member-{tag}@capped.test"
    with UnitOfWork() as uow:
        for email, role in ((admin, "admin"), (member, "member")):
            uow.session.add(
                User(
                    email=email,
                    name=role.title(),
                    password_hash=hash_password(DEMO_PASSWORD),
                    customer_id=customer.id,
                    role=role,
                )
            )
    billing.provision(OPERATOR, customer.id, "team", 3, (admin, member))
    return customer.id, admin, member


def _send(key: str, customer_id: str, user: str, tokens: int) -> dict[str, Any]:
    """Ingest one event through the HTTP API (after the gate's readings have expired) and return its outcome."""
    time.sleep(REFRESH_SECONDS + 0.1)
    return post_tokens(get_config().api_url, key, customer_id, user, tokens)


def test_an_admin_caps_a_seat_its_usage_is_refused_and_the_member_sees_it(
    page: Page, browser: Browser, base_url: str
) -> None:
    customer_id, admin, member = _capped_co()
    key = create_api_key(OPERATOR, f"caps-{secrets.token_hex(3)}", ["ingest"], customer_id).token
    sign_in(page, admin)
    panel = page.locator("#spend-caps-panel")
    expect(panel).to_contain_text("in USD before credits")
    page.select_option("#spend-cap-seat", member)
    page.fill("#spend-cap-amount", "0.5x")
    page.click("#set-spend-cap")
    expect(page.locator("#spend-cap-error")).to_contain_text("The cap must be an amount in USD")
    page.fill("#spend-cap-amount", "0.50")
    page.click("#set-spend-cap")
    row = page.locator("#spend-caps .spend-cap")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(f"seat {member}")
    expect(row).to_contain_text("$0.00 of $0.50")

    assert _send(key, customer_id, member, 5_000)["status"] == "accepted"  # $0.50: the cap is reached exactly
    refused = _send(key, customer_id, member, 1_000)
    assert refused["status"] == "rejected"
    assert refused["reason"].startswith(f"spend cap reached: seat {member} has spent $0.50 of its $0.50 cap for ")
    assert _send(key, customer_id, admin, 1_000)["status"] == "accepted"  # other seats continue

    open_page(page, "/customer")
    expect(row).to_contain_text("$0.50 of $0.50")
    expect(row).to_contain_text("Capped: usage refused")

    member_page = browser.new_context(base_url=base_url).new_page()
    sign_in(member_page, member)
    expect(member_page.locator("#seat-capped")).to_contain_text("Your seat has reached its spend cap for this period")
    expect(member_page.locator("#spend-caps-panel")).to_have_count(0)
    member_page.context.close()

    page.click("#spend-caps .remove-spend-cap")
    page.click("#confirm-remove-cap")
    expect(page.locator("#spend-caps .spend-cap")).to_have_count(0)
    assert _send(key, customer_id, member, 1_000)["status"] == "accepted"
