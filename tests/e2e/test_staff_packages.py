"""Staff clone a tier into a new one, edit it, simulate it over real usage, publish it; visitors then see it.

Figures by hand (demo catalog: Team is $40 a seat a month with 2,000 AI credits a seat, pooled; a credit is
$0.01): the customer made here has 3 seats on Team from the first of the month before last and used 7,000
credits in its first month. Under Team that is 1,000 credits over its 6,000 pool, $10 of overage; with 2,500
credits a seat the 7,500 pool covers it. The second month has no usage. So the draft bills it $10.00 less.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import col, select

from portal.db.models import Package, PackageVersion, SimulationRow
from portal.db.uow import UnitOfWork
from portal.services import packages
from portal.services.identity import operator_identity
from tests.support.browser import HYDRATION_TIMEOUT_MS, open_page, sign_in
from tests.support.usage import customer_with_closed_months

OPERATOR = operator_identity()
SIMULATION_MS = 30_000


@pytest.fixture
def new_tier_key() -> Iterator[str]:
    """A key for a new tier, unique to the run; the tier is removed afterwards, so that the pricing page of the
    app the e2e tests share shows the seeded line-up to the tests that run after this one."""
    key = f"team-plus-{secrets.token_hex(3)}"
    yield key
    with UnitOfWork() as uow:
        session = uow.session
        package = session.exec(select(Package).where(Package.key == key)).first()
        if package is None:
            return
        versions = session.exec(select(PackageVersion).where(PackageVersion.package_id == package.id)).all()
        ids = [v.id for v in versions]
        for row in session.exec(select(SimulationRow).where(col(SimulationRow.package_version_id).in_(ids))):
            session.delete(row)
        session.flush()
        for version in versions:
            session.delete(version)
        session.flush()
        session.delete(package)


def _published_team_id() -> str:
    (team,) = [v for v in packages.list_versions(OPERATOR) if v.key == "team" and v.status == packages.PUBLISHED]
    return team.id


def _clone_team_as_new_tier(page: Page, key: str, name: str) -> None:
    page.click("#manage-packages")
    page.wait_for_url(re.compile(r"/staff/packages$"))
    team = page.locator('.package-version-row[data-key="team"][data-status="published"]')
    expect(team).to_contain_text("$40.00")
    team.locator(".clone-version").click()
    page.click("#clone-as-tier")
    page.fill("#clone-key", key)
    page.fill("#clone-name", name)
    page.fill("#clone-rank", "4")
    page.click("#clone-submit")
    page.wait_for_url(re.compile(r"/staff/packages/pkv_"), timeout=HYDRATION_TIMEOUT_MS)
    expect(page.locator("#editor-title")).to_have_text(f"{name} v1")


def _simulate(page: Page, customer: str) -> None:
    expect(page.locator("#simulation-none")).to_be_visible()
    expect(page.locator("#simulation-periods")).to_have_text("3")
    page.click("#run-simulation")
    expect(page.locator("#simulation-progress")).to_be_visible()
    expect(page.locator("#simulation-status")).to_contain_text("Finished", timeout=SIMULATION_MS)
    row = page.locator(f'.simulation-row[data-customer="{customer}"]')
    expect(row.locator(".sim-current")).to_have_text("$250.00")
    expect(row.locator(".sim-proposed")).to_have_text("$240.00")
    expect(row.locator(".sim-difference")).to_have_text("-$10.00")
    expect(page.locator(".simulation-total .total-less")).to_have_text("1")
    # The only customer paying less sorts last by difference (largest first), then first once reversed.
    page.click("#sort-difference")
    expect(page.locator(".simulation-row").last).to_have_attribute("data-customer", customer)
    page.click("#sort-difference")
    expect(page.locator(".simulation-row").first).to_have_attribute("data-customer", customer)
    with page.expect_download() as download:
        page.click("#download-csv")
    csv_text = Path(download.value.path()).read_text()
    assert csv_text.startswith("Customer,Customer id,Contract id")
    assert f"{customer}," in csv_text
    assert ",-$10.00," in csv_text


def _check_audit_log(page: Page, name: str) -> None:
    open_page(page, "/staff/audit")
    page.fill("#audit-search", name)
    entries = page.locator(".audit-entry")
    expect(entries).to_have_count(4)
    expect(entries.first).to_have_attribute("data-action", "package.publish")
    page.click("#audit-action")
    page.get_by_role("option", name="package.edit").click()
    expect(entries).to_have_count(1)
    expect(entries.first.locator(".audit-actor")).to_have_text("staff@portal.test")
    expect(entries.first.locator(".audit-before")).to_have_text('{"credits_per_seat": "2000"}')
    expect(entries.first.locator(".audit-after")).to_have_text('{"credits_per_seat": "2500"}')


def test_staff_simulate_and_publish_a_new_tier_that_visitors_then_see(page: Page, new_tier_key: str) -> None:
    suffix = new_tier_key.rsplit("-", 1)[-1]
    customer, key, name = f"Initech {suffix}", new_tier_key, f"Team Plus {suffix}"
    customer_with_closed_months(customer)

    sign_in(page, "staff@portal.test")
    _clone_team_as_new_tier(page, key, name)
    page.fill("#field-credits_per_seat", "2500")
    page.click("#save-draft")
    preview = page.locator(f'#lineup-preview .tier-card[data-tier="{key}"]')
    expect(preview.locator(".tier-credits")).to_have_text("2,500 AI credits per seat / month")
    expect(page.locator("#publish")).to_be_disabled()
    expect(page.locator("#publish-blocker")).to_have_text("Simulate this draft before publishing it.")

    _simulate(page, customer)
    page.click("#acknowledge")
    expect(page.locator("#acknowledged")).to_have_text("Acknowledged by staff@portal.test")
    expect(page.locator("#publish")).to_be_enabled()
    page.click("#publish")
    page.click("#confirm-publish")
    expect(page.locator("#read-only-note")).to_be_visible()
    expect(page.locator("#save-draft")).to_have_count(0)

    _check_audit_log(page, name)
    page.click("#account-menu")
    page.click("#sign-out")
    page.wait_for_url(lambda url: "/api/auth" not in url and "/staff" not in url, timeout=HYDRATION_TIMEOUT_MS)
    page.wait_for_selector("#hydrated", state="attached", timeout=HYDRATION_TIMEOUT_MS)
    expect(page.locator("#sign-in-link")).to_be_visible()
    open_page(page, "/")
    expect(page.locator(f'.tier-card[data-tier="{key}"] .tier-name')).to_have_text(name)


def test_a_bad_value_is_named_and_what_was_typed_is_kept(page: Page) -> None:
    sign_in(page, "staff@portal.test")
    open_page(page, "/staff/packages")
    page.locator('.package-version-row[data-key="starter"][data-status="published"] .clone-version').click()
    page.click("#clone-submit")
    page.wait_for_url(re.compile(r"/staff/packages/pkv_"), timeout=HYDRATION_TIMEOUT_MS)
    expect(page.locator("#editor-title")).to_have_text("Starter v2")
    expect(page.locator("#field-name")).to_have_count(0)  # a published tier keeps its name and rank
    page.fill("#field-seat_price", "ten")
    page.fill("#field-tagline", "Typed, not saved")
    page.click("#save-draft")
    expect(page.locator("#save-error")).to_contain_text("seat price 'ten' is not a number")
    expect(page.locator("#field-seat_price")).to_have_value("ten")
    expect(page.locator("#field-tagline")).to_have_value("Typed, not saved")
    page.click("#discard-draft")
    page.click("#confirm-discard")
    page.wait_for_url(re.compile(r"/staff/packages$"))
    expect(page.locator('.package-version-row[data-key="starter"]')).to_have_count(1)


def test_customers_see_neither_packages_nor_the_audit_log(page: Page) -> None:
    team = _published_team_id()
    sign_in(page, "admin@acme.test")
    for path in ("/staff/packages", f"/staff/packages/{team}", "/staff/audit"):
        open_page(page, path)
        expect(page.get_by_text("This area is for staff only.")).to_be_visible()
        expect(page.locator("#package-versions")).to_have_count(0)
        expect(page.locator("#draft-form")).to_have_count(0)
        expect(page.locator("#audit-log")).to_have_count(0)
