"""Staff propose a new price on a rate card, simulate it over real usage, schedule it; usage after its date is then
billed at it.

Figures by hand (demo catalog: AI tokens cost 10 AI credits per 1,000 tokens, an AI credit is $0.01; Team is $40
a seat a month with 2,000 credits a seat, pooled): the customer made here has 3 seats on Team from the first of
the month before last and used 700,000 tokens (7,000 credits) in its first month, 1,000 over its 6,000 pool: $10
of overage. At 12 credits per 1,000 tokens that is 8,400 credits, 2,400 over: $24. The second month has no
usage, so the change bills it $14.00 more ($250.00 → $264.00 with the seats).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import col, select

from portal.db.loaders import Catalog
from portal.db.models import Contract, RateChangeRow, RateRow, SimulationRow, utcnow
from portal.db.uow import UnitOfWork
from portal.domain.invoicing import LineKind
from portal.domain.metrics import UsageEvent
from portal.domain.periods import Frequency, billing_period, period_index
from portal.services.billing import active_contract, rate
from portal.services.demo_catalog import RATE_CARD, TOKENS_EVENT, TOKENS_PRODUCT
from portal.services.ingest_writer import writer
from tests.support.browser import HYDRATION_TIMEOUT_MS, open_page, sign_in
from tests.support.usage import customer_with_closed_months

SIMULATION_MS = 30_000
TOKENS_NAME = "AI tokens (per 1,000)"


def _next_month() -> datetime:
    """00:00 UTC on the first of next month: when the new price starts."""
    return (utcnow().replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=32)).replace(day=1)


@pytest.fixture
def restored_rate_card() -> Iterator[None]:
    """Put the demo rate card back as it was afterwards: the e2e tests share one database, and others read its
    figures. Rates this test added go, the rates they ended run on again, and its changes and their simulations
    are deleted."""
    with UnitOfWork() as uow:
        ends = {
            r.id: r.ending_before for r in uow.session.exec(select(RateRow).where(RateRow.rate_card_id == RATE_CARD))
        }
        changes = set(uow.session.exec(select(RateChangeRow.id).where(RateChangeRow.rate_card_id == RATE_CARD)))
    yield
    with UnitOfWork() as uow:
        session = uow.session
        on_card = session.exec(select(RateChangeRow).where(RateChangeRow.rate_card_id == RATE_CARD)).all()
        added = [c for c in on_card if c.id not in changes]
        ids = [c.id for c in added]
        for simulation in session.exec(select(SimulationRow).where(col(SimulationRow.rate_change_id).in_(ids))):
            session.delete(simulation)
        session.flush()
        for change in added:
            session.delete(change)
        for row in session.exec(select(RateRow).where(RateRow.rate_card_id == RATE_CARD)):
            if row.id not in ends:
                session.delete(row)
            else:
                row.ending_before = ends[row.id]


@pytest.fixture
def subscriber() -> Iterator[tuple[str, str]]:
    """A customer billed by the demo rate card with closed months of usage (see the module's figures): its id and
    name. Its contract ends afterwards, where the current billing period starts (a contract ends where a period
    ends: the billing job must still be able to close its closed months), so that simulations in later tests
    (which count who pays more or less) leave it out."""
    name = f"Umbrella {secrets.token_hex(3)}"
    customer_id = customer_with_closed_months(name)
    yield customer_id, name
    with UnitOfWork() as uow:
        for contract in uow.session.exec(select(Contract).where(Contract.customer_id == customer_id)):
            frequency = Frequency[contract.billing_frequency]
            current = period_index(contract.starting_at, frequency, utcnow())
            contract.ending_before = billing_period(contract.starting_at, frequency, current).start


def _choose(page: Page, trigger: str, option: str) -> None:
    page.click(trigger)
    page.get_by_role("option", name=option, exact=True).click()


def _open_standard_card(page: Page) -> None:
    page.click("#staff-nav-rate-cards")
    page.wait_for_url(re.compile(r"/staff/rate-cards$"))
    page.locator(f'.rate-card-row[data-card="{RATE_CARD}"] .open-rate-card').click()
    page.wait_for_url(re.compile(rf"/staff/rate-cards/{RATE_CARD}$"), timeout=HYDRATION_TIMEOUT_MS)
    expect(page.locator("#rate-card-title")).to_have_text("Standard AI usage")
    in_force = page.locator(f'.rate-row[data-product="{TOKENS_PRODUCT}"][data-status="in_force"]')
    expect(in_force.locator(".rate-price")).to_have_text("10 AI credits per unit")
    expect(in_force.locator(".rate-until")).to_have_text("—")


def _propose(page: Page, start: datetime) -> None:
    """Fill the form with a wrong price first (refused by name, what was typed kept), then propose 12 credits."""
    _choose(page, "#rc-product", TOKENS_NAME)
    page.fill("#rc-date", f"{start:%Y-%m-%d}")
    _choose(page, "#rc-hour", "00:00")
    _choose(page, "#rc-model", "Tiered: each tier prices the units within it")
    expect(page.locator(".tier-row")).to_have_count(2)
    page.click("#add-tier")
    expect(page.locator(".tier-row")).to_have_count(3)
    page.locator(".tier-row .remove-tier").last.click()
    expect(page.locator(".tier-row")).to_have_count(2)
    _choose(page, "#rc-model", "Flat: one price per unit")
    page.fill("#rc-unit-price", "twelve")
    _choose(page, "#rc-unit", "ai-credits")
    page.click("#propose")
    expect(page.locator("#propose-error")).to_have_text("The unit price 'twelve' is not a number.")
    expect(page.locator("#rc-unit-price")).to_have_value("twelve")
    expect(page.locator("#rc-date")).to_have_value(f"{start:%Y-%m-%d}")
    page.fill("#rc-unit-price", "12")
    page.click("#propose")
    page.wait_for_url(re.compile(r"/staff/rate-changes/rch_"), timeout=HYDRATION_TIMEOUT_MS)


def _simulate(page: Page, customer: str) -> None:
    expect(page.locator("#simulation-none")).to_be_visible()
    page.click("#run-simulation")
    expect(page.locator("#simulation-status")).to_contain_text("Finished", timeout=SIMULATION_MS)
    row = page.locator(f'.simulation-row[data-customer="{customer}"]')
    expect(row.locator(".sim-current")).to_have_text("$250.00")
    expect(row.locator(".sim-proposed")).to_have_text("$264.00")
    expect(row.locator(".sim-difference")).to_have_text("$14.00")


def _bills_new_price_after(customer_id: str, start: datetime) -> None:
    """100,000 tokens an hour after the change are 1,200 credits in the customer's draft (not 1,000)."""
    writer().refresh_metrics()
    event = UsageEvent(
        f"{customer_id}-after",
        customer_id,
        TOKENS_EVENT,
        start + timedelta(hours=1),
        {"tokens": "100000", "user_id": "ann"},
    )
    writer().submit([event]).result(timeout=30)
    with UnitOfWork() as uow:
        contract_id = active_contract(uow.session, customer_id, start + timedelta(hours=2)).id
        rated = rate(uow.session, Catalog(uow.session), contract_id, start + timedelta(hours=2))
    (usage,) = [
        line
        for line in rated.run.invoice(contract_id).lines
        if line.kind is LineKind.USAGE and line.product_id == TOKENS_PRODUCT
    ]
    assert (usage.quantity, usage.units) == (100, 1200)


def test_staff_simulate_and_schedule_a_new_price_that_bills_usage_after_its_date(
    page: Page, restored_rate_card: None, subscriber: tuple[str, str]
) -> None:
    customer_id, customer = subscriber
    start = _next_month()
    sign_in(page, "staff@portal.test")
    _open_standard_card(page)
    _propose(page, start)

    expect(page.locator("#change-title")).to_have_text(f"New price of {TOKENS_NAME}")
    expect(page.locator("#change-price")).to_have_text("12 AI credits per unit")
    expect(page.locator("#change-starts")).to_have_text(f"{start:%Y-%m-%d %H:%M} UTC")
    expect(page.locator("#schedule")).to_be_disabled()
    expect(page.locator("#schedule-blocker")).to_have_text("Simulate this change before scheduling it.")

    _simulate(page, customer)
    page.click("#acknowledge")
    expect(page.locator("#acknowledged")).to_have_text("Acknowledged by staff@portal.test")
    expect(page.locator("#schedule")).to_be_enabled()
    page.click("#schedule")
    page.click("#confirm-schedule")
    page.wait_for_url(re.compile(rf"/staff/rate-cards/{RATE_CARD}$"), timeout=HYDRATION_TIMEOUT_MS)

    scheduled = page.locator(f'.rate-row[data-product="{TOKENS_PRODUCT}"][data-status="scheduled"]')
    expect(scheduled).to_have_count(1)
    expect(scheduled.locator(".rate-from")).to_have_text(f"{start:%Y-%m-%d %H:%M}")
    expect(scheduled.locator(".rate-price")).to_have_text("12 AI credits per unit")
    in_force = page.locator(f'.rate-row[data-product="{TOKENS_PRODUCT}"][data-status="in_force"]')
    expect(in_force.locator(".rate-until")).to_have_text(f"{start:%Y-%m-%d %H:%M}")
    expect(page.locator('.change-row[data-status="scheduled"] .change-price')).to_have_text("12 AI credits per unit")

    _bills_new_price_after(customer_id, start)


def test_a_draft_change_can_be_discarded(page: Page, restored_rate_card: None) -> None:
    sign_in(page, "staff@portal.test")
    open_page(page, f"/staff/rate-cards/{RATE_CARD}")
    _choose(page, "#rc-product", "API requests")
    page.fill("#rc-unit-price", "0.75")
    page.click("#propose")
    page.wait_for_url(re.compile(r"/staff/rate-changes/rch_"), timeout=HYDRATION_TIMEOUT_MS)
    expect(page.locator("#change-price")).to_have_text("0.75 AI credits per unit")
    page.click("#discard-change")
    page.click("#confirm-discard")
    page.wait_for_url(re.compile(rf"/staff/rate-cards/{RATE_CARD}$"), timeout=HYDRATION_TIMEOUT_MS)
    expect(page.locator("#no-changes")).to_be_visible()


def test_customers_see_no_rate_card(page: Page) -> None:
    sign_in(page, "admin@acme.test")
    for path in ("/staff/rate-cards", f"/staff/rate-cards/{RATE_CARD}", "/staff/rate-changes/rch_unknown"):
        open_page(page, path)
        expect(page.get_by_text("This area is for staff only.")).to_be_visible()
        for data in ("#rate-cards", "#rate-timeline", "#rate-changes", "#propose-form", "#simulation-panel"):
            expect(page.locator(data)).to_have_count(0)
        expect(page.get_by_text("AI credits per unit")).to_have_count(0)
