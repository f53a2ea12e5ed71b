"""Staff define a metric while its preview shows what it makes of recent events, save it, then archive it.

Figures by hand: four events of the test's own event type, tokens 100 (small), 250 (large), 50 (small) and
999 (tiny). SUM of tokens grouped by model, filtered to model in small, large: small 150, large 250, total 400;
the tiny event does not match.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from portal.db.models import utcnow
from portal.domain.metrics import UsageEvent
from portal.services import metrics
from portal.services.customers import create_customer
from portal.services.identity import operator_identity
from portal.services.ingest_writer import writer
from tests.support.browser import open_page, sign_in

OPERATOR = operator_identity()
WAIT_MS = 15_000


@pytest.fixture
def event_type() -> Iterator[str]:
    """A fresh event type with four stored events; any metric made of it is archived afterwards, so other tests
    see the metrics they expect."""
    kind = f"e2e_calls_{secrets.token_hex(3)}"
    customer = create_customer(OPERATOR, f"Metrics {kind}")
    at = utcnow() - timedelta(hours=1)
    used = [("small", 100), ("large", 250), ("small", 50), ("tiny", 999)]
    events = [
        UsageEvent(f"{kind}-{n}", customer.id, kind, at, {"tokens": str(tokens), "model": model})
        for n, (model, tokens) in enumerate(used)
    ]
    writer().submit(events).result(timeout=30)
    yield kind
    for metric in metrics.list_metrics(OPERATOR):
        if metric.event_type == kind and not metric.archived:
            metrics.archive_metric(OPERATOR, metric.id)


def _choose(page: Page, select_id: str, option: str) -> None:
    page.click(select_id)
    page.get_by_role("option", name=option, exact=True).click()


def test_define_preview_save_and_archive_a_metric(page: Page, event_type: str) -> None:
    name = f"Tokens {event_type}"
    sign_in(page, "staff@portal.test")
    open_page(page, "/staff/metrics")
    page.click("#new-metric-button")
    page.fill("#metric-name", name)
    page.fill("#metric-event-type", event_type)
    expect(page.locator("#preview-events-read")).to_have_text("4", timeout=WAIT_MS)
    expect(page.locator("#preview-total")).to_have_text("4")

    _choose(page, "#metric-aggregation", "sum")
    expect(page.locator("#preview-error")).to_contain_text("needs an aggregation key", timeout=WAIT_MS)
    expect(page.locator("#preview-total")).to_have_count(0)

    page.fill("#metric-aggregation-key", "tokens")
    page.fill("#metric-group-keys", "model")
    page.click("#add-filter")
    page.locator(".filter-key input").fill("model")
    page.locator(".filter-values input").fill("small, large")
    page.locator(".filter-values input").blur()
    expect(page.locator("#preview-total")).to_have_text("400", timeout=WAIT_MS)
    expect(page.locator("#preview-error")).to_have_count(0)
    expect(page.locator("#preview-events-read")).to_have_text("4")
    expect(page.locator("#preview-matching")).to_have_text("3")
    groups = page.locator(".preview-groups-row")
    expect(groups).to_have_count(2)
    expect(groups.nth(0)).to_contain_text("model=large")
    expect(groups.nth(0)).to_contain_text("250")
    expect(groups.nth(1)).to_contain_text("model=small")
    expect(groups.nth(1)).to_contain_text("150")

    page.click("#save-metric")
    row = page.locator(f'.metric-row[data-name="{name}"]')
    expect(row).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator("#new-metric")).to_have_count(0)
    expect(row).to_contain_text("sum(tokens)")
    row.locator(".archive-metric").click()
    page.click("#confirm-archive")
    expect(row).to_have_attribute("data-archived", "yes", timeout=WAIT_MS)
    expect(row).to_contain_text("Archived")
    expect(row.locator(".archive-metric")).to_have_count(0)
