"""`portal run` (what `make run` starts) serves the production build: health, API and the pricing page in Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import open_page
from tests.support.database import new_sqlite_url
from tests.support.portal_server import http_get, running_portal

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def production_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`portal run` on a fresh SQLite file, on a free port, with its own build folder; stopped by PID."""
    work = tmp_path_factory.mktemp("prod")
    with running_portal(work, {"REFLEX_DB_URL": new_sqlite_url(work)}) as server:
        yield server.url
    output = server.output()
    assert "staff@portal.test" in output, "portal run prints the demo sign-in accounts"
    assert f"http://localhost:{server.port}/" in output, "portal run prints the URL"


def test_production_build_serves_the_pricing_page(page: Page, production_url: str) -> None:
    status, body = http_get(f"{production_url}/api/v1/packages")
    assert status == 200
    assert b'"seat_price":"$40.00"' in body
    open_page(page, f"{production_url}/")
    expect(page.locator(".tier-price")).to_have_text(["$20.00", "$40.00", "$75.00"])
