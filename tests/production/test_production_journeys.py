"""The production configuration (`portal run` on PostgreSQL and Redis, several workers behind one port) serves the
same journeys as the e2e tier, and a tab's state lives in Redis, so any worker serves it."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Page, expect

from portal.services import billing
from portal.services.api_keys import create_api_key
from portal.services.identity import operator_identity
from tests.production.conftest import WORKERS
from tests.support.browser import HYDRATION_TIMEOUT_MS, sign_in, watch_browser_errors
from tests.support.journeys import (
    LIVE_MS,
    customer_id_named,
    enterprise_admin_sees_departments,
    member_sees_their_team_only,
    self_serve_journey,
    send_tokens,
    staff_grant_credits_and_void_an_invoice,
    staff_land_in_the_staff_workspace,
)
from tests.support.portal_server import PortalServer, http_get
from tests.support.redis import RedisServer

OPERATOR = operator_identity()
MAX_RELOADS = 12
MAX_TABS = 10
METRIC = "API requests"


def _worker_of(page: Page, redis_server: RedisServer) -> str:
    """The worker holding ``page``'s websocket, as Reflex's token manager recorded it in Redis."""
    token = page.evaluate("window.sessionStorage.getItem('token')")
    owner = redis_server.socket_owner(token)
    assert owner is not None, f"no worker holds the websocket of tab {token}"
    return owner


def _acme_pool(page: Page) -> str:
    """Acme's pooled credits left, as the services say; ``page`` must show the same."""
    remaining = billing.balances(OPERATOR, customer_id_named("Acme AI")).pooled[0].remaining
    expect(page.locator("#pool-card .stat-value")).to_have_text(remaining, timeout=LIVE_MS)
    return remaining


def test_several_workers_serve_one_port_on_postgresql(production_portal: PortalServer) -> None:
    assert len(production_portal.worker_pids()) == WORKERS
    status, body = http_get(f"{production_portal.url}/api/health")
    assert status == 200, body
    assert b'"database":"ok"' in body


@pytest.mark.parametrize(
    "journey",
    [staff_land_in_the_staff_workspace, member_sees_their_team_only, enterprise_admin_sees_departments],
    ids=["staff", "member", "enterprise-admin"],
)
def test_a_demo_account_signs_in_to_its_own_area(page: Page, journey: Callable[[Page], None]) -> None:
    journey(page)


def test_a_new_customer_signs_up_buys_sends_usage_invites_adds_seats_and_upgrades(
    page: Page, browser: Browser, base_url: str, production_portal: PortalServer
) -> None:
    self_serve_journey(page, browser, base_url, production_portal.url, production_portal)


def test_staff_search_grant_credits_and_void_an_invoice(page: Page) -> None:
    staff_grant_credits_and_void_an_invoice(page)


def test_a_tab_keeps_its_state_when_its_websocket_moves_to_another_worker(
    page: Page, redis_server: RedisServer
) -> None:
    sign_in(page, "admin@acme.test")
    choice = page.locator("#metric-picker").get_by_role("radio", name=METRIC)
    choice.click()
    expect(choice).to_be_checked()
    workers = {_worker_of(page, redis_server)}
    for _ in range(MAX_RELOADS):
        page.reload()
        page.wait_for_selector("#hydrated", state="attached", timeout=HYDRATION_TIMEOUT_MS)
        # Chosen on another worker, kept in Redis: without shared state the dashboard shows its first metric.
        expect(choice).to_be_checked()
        workers.add(_worker_of(page, redis_server))
        if len(workers) > 1:
            break
    assert len(workers) > 1, f"{MAX_RELOADS} reloads all reconnected to the same worker"


def test_tabs_on_different_workers_each_show_usage_sent_through_the_api(
    browser: Browser, base_url: str, production_portal: PortalServer, redis_server: RedisServer
) -> None:
    tabs: list[Page] = []
    errors: list[list[str]] = []
    workers: set[str] = set()
    while len(tabs) < 3 or len(workers) < 2:
        assert len(tabs) < MAX_TABS, f"{MAX_TABS} tabs all connected to the same worker"
        tab = browser.new_context(base_url=base_url).new_page()
        errors.append(watch_browser_errors(tab, []))
        sign_in(tab, "admin@acme.test")
        workers.add(_worker_of(tab, redis_server))
        tabs.append(tab)
    before = {_acme_pool(tab) for tab in tabs}
    assert len(before) == 1
    key = create_api_key(OPERATOR, f"workers-{secrets.token_hex(3)}", ["ingest"], customer_id_named("Acme AI")).token
    send_tokens(production_portal.url, key, "acme", "member@acme.test", 20_000)
    after = {_acme_pool(tab) for tab in tabs}
    assert after != before
    for tab in tabs:
        choice = tab.locator("#metric-picker").get_by_role("radio", name=METRIC)
        choice.click()
        expect(choice).to_be_checked()
        tab.context.close()
    reported = [error for tab_errors in errors for error in tab_errors]
    assert not reported, "errors in the tabs:\n" + "\n".join(reported)
