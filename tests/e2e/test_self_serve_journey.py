"""The whole self-serve journey of a new customer, in one browser, as a new user would live it.

Sign up from the pricing page with Team and 3 seats; create an API key; send usage through the API and watch
the pool fall on the open dashboard; invite a member, who joins from the mailed link and sees only their seat;
add 2 seats with a prorated charge; upgrade to Business. Refused along the way: seats below the member count.
The journey itself is :func:`tests.support.journeys.self_serve_journey` (the production tier runs it too).
"""

from __future__ import annotations

from playwright.sync_api import Browser, Page
from reflex.config import get_config

from tests.support.journeys import self_serve_journey
from tests.support.mail import Outbox


def test_a_new_customer_signs_up_buys_sends_usage_invites_adds_seats_and_upgrades(
    page: Page, browser: Browser, base_url: str, outbox: Outbox
) -> None:
    self_serve_journey(page, browser, base_url, get_config().api_url, outbox)
