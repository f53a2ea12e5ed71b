"""A price change scheduled for a future date: proposed, simulated, acknowledged, scheduled; on both databases.

Figures are hand-computed from the demo catalog: AI tokens cost 10 AI credits per 1,000 tokens, an AI credit
is $0.01; Team pools 2,000 credits a seat. Initech (the ``initech`` fixture of the package tests) has 3 seats on
Team since the month before last and used 700,000 tokens in its first month.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from portal.api.app import create_api
from portal.db.loaders import Catalog
from portal.db.models import utcnow
from portal.db.uow import UnitOfWork
from portal.domain.invoicing import LineKind
from portal.domain.metrics import UsageEvent
from portal.services import rate_changes, simulation
from portal.services.api_keys import create_api_key
from portal.services.audit import audit_log
from portal.services.billing import active_contract, rate
from portal.services.demo_catalog import CREDITS, RATE_CARD, TOKENS_EVENT, TOKENS_PRODUCT
from portal.services.errors import Forbidden, InvalidInput
from portal.services.identity import operator_identity
from portal.services.ingest_writer import writer
from tests.integration.conftest import CUSTOMER_USER, STAFF

TWELVE = {"model": "flat", "unit_price": "12"}


def _next_month() -> datetime:
    return (utcnow().replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=32)).replace(day=1)


def _acknowledged(change_id: str) -> simulation.SimulationView:
    run = simulation.start_price_change(STAFF, change_id, periods=3, background=False)
    return simulation.acknowledge(STAFF, run.id)


def test_a_scheduled_price_reaches_existing_customers_from_its_date(initech: str) -> None:
    start = _next_month()
    change = rate_changes.propose(STAFF, RATE_CARD, TOKENS_PRODUCT, start, TWELVE, CREDITS)
    assert (change.status, change.price_label) == ("draft", "12 AI credits per unit")
    assert change.schedule_blocker == "Simulate this change before scheduling it."
    with pytest.raises(InvalidInput, match="Simulate this change"):
        rate_changes.schedule(STAFF, change.id)

    run = _acknowledged(change.id)
    (row,) = [r for r in run.rows if r["customer_id"] == initech]
    # Current: 7,000 credits against a 6,000 pool, 1,000 over: $10. At 12 credits per 1,000 tokens: 8,400
    # credits, 2,400 over: $24. So $14 more, over the two closed months (the second had no usage).
    assert (row["periods"], row["difference_minor"], row["difference"]) == (2, 1400, "$14.00")
    assert (row["ran_out_current"], row["ran_out_proposed"], row["newly_runs_out"]) == (True, True, False)

    scheduled = rate_changes.schedule(STAFF, change.id)
    assert (scheduled.status, scheduled.schedule_blocker) == ("scheduled", "")
    card = rate_changes.rate_card(STAFF, RATE_CARD)
    tokens = [(r.starts, r.ends, r.price, r.scheduled) for r in card.rates if r.product_id == TOKENS_PRODUCT]
    assert tokens[-2][1:3] == (f"{start:%Y-%m-%d %H:%M}", "10 AI credits per unit")
    assert tokens[-1] == (f"{start:%Y-%m-%d %H:%M}", "", "12 AI credits per unit", True)

    # 100,000 tokens an hour after the change: 1,200 credits in Initech's draft of the next period (not 1,000).
    writer().refresh_metrics()
    writer().submit(
        [UsageEvent("after", initech, TOKENS_EVENT, start + timedelta(hours=1), {"tokens": "100000", "user_id": "ann"})]
    ).result()
    with UnitOfWork() as uow:
        contract_id = active_contract(uow.session, initech, start + timedelta(hours=2)).id
        rated = rate(uow.session, Catalog(uow.session), contract_id, start + timedelta(hours=2))
    (usage,) = [
        line
        for line in rated.run.invoice(contract_id).lines
        if line.kind is LineKind.USAGE and line.product_id == TOKENS_PRODUCT
    ]
    assert (usage.quantity, usage.units) == (100, 1200)
    assert [e.action for e in audit_log(STAFF, search=change.id)] == ["rate.schedule", "rate.propose"]


def test_scheduling_one_change_makes_the_other_drafts_simulate_again(initech: str) -> None:
    start = _next_month()
    first = rate_changes.propose(STAFF, RATE_CARD, TOKENS_PRODUCT, start, TWELVE, CREDITS)
    later = rate_changes.propose(
        STAFF, RATE_CARD, TOKENS_PRODUCT, start + timedelta(days=3), {"model": "flat", "unit_price": "11"}, CREDITS
    )
    _acknowledged(first.id)
    _acknowledged(later.id)
    rate_changes.schedule(STAFF, first.id)
    assert rate_changes.change_detail(STAFF, later.id).schedule_blocker == (
        "The rate card changed since the last simulation: simulate this change again."
    )
    _acknowledged(later.id)
    rate_changes.schedule(STAFF, later.id)
    card = rate_changes.rate_card(STAFF, RATE_CARD)
    tokens = [(r.starts, r.ends, r.price) for r in card.rates if r.product_id == TOKENS_PRODUCT][-2:]
    assert tokens == [
        (f"{start:%Y-%m-%d %H:%M}", f"{start + timedelta(days=3):%Y-%m-%d %H:%M}", "12 AI credits per unit"),
        (f"{start + timedelta(days=3):%Y-%m-%d %H:%M}", "", "11 AI credits per unit"),
    ]


def test_bad_changes_are_refused_by_name(initech: str) -> None:
    start = _next_month()
    for args, message in [
        ((TOKENS_PRODUCT, start - timedelta(days=62), TWELVE, CREDITS), "has passed"),
        ((TOKENS_PRODUCT, start + timedelta(minutes=30), TWELVE, CREDITS), "not on a whole hour"),
        (("prd_nope", start, TWELVE, CREDITS), "no product 'prd_nope'"),
        ((TOKENS_PRODUCT, start, {"model": "flat"}, CREDITS), "unit_price"),
        ((TOKENS_PRODUCT, start, {"model": "flat", "unit_price": "-1"}, CREDITS), "unit price"),
        ((TOKENS_PRODUCT, start, TWELVE, "zorkmids"), "Unknown credit type 'zorkmids'"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            rate_changes.propose(STAFF, RATE_CARD, *args)
    draft = rate_changes.propose(STAFF, RATE_CARD, TOKENS_PRODUCT, start, TWELVE, CREDITS)
    rate_changes.discard(STAFF, draft.id)
    assert rate_changes.rate_card(STAFF, RATE_CARD).changes == ()
    for call in (
        lambda: rate_changes.rate_card(CUSTOMER_USER, RATE_CARD),
        lambda: rate_changes.propose(CUSTOMER_USER, RATE_CARD, TOKENS_PRODUCT, start, TWELVE, CREDITS),
        lambda: simulation.start_price_change(CUSTOMER_USER, "rch_x", background=False),
        lambda: rate_changes.schedule(CUSTOMER_USER, "rch_x"),
    ):
        with pytest.raises(Forbidden):
            call()


def test_the_staff_api_proposes_simulates_and_schedules(initech: str) -> None:
    key = create_api_key(operator_identity(), "staff", ["staff"]).token
    staff = {"Authorization": f"Bearer {key}"}
    start = _next_month()
    with TestClient(create_api()) as client:
        cards = client.get("/api/v1/staff/rate-cards", headers=staff).json()
        assert [c["id"] for c in cards] == [RATE_CARD]
        body = {
            "product_id": TOKENS_PRODUCT,
            "starting_at": start.isoformat(),
            "price": TWELVE,
            "credit_type_id": CREDITS,
        }
        proposed = client.post(f"/api/v1/staff/rate-cards/{RATE_CARD}/changes", json=body, headers=staff)
        assert proposed.status_code == 201, proposed.text
        change_id = proposed.json()["id"]
        refused = client.post(f"/api/v1/staff/rate-changes/{change_id}/schedule", headers=staff)
        assert (refused.status_code, refused.json()["detail"]) == (
            422,
            "Not scheduled. Simulate this change before scheduling it.",
        )
        started = client.post(f"/api/v1/staff/rate-changes/{change_id}/simulations", json={}, headers=staff)
        assert started.status_code == 202
        simulation_id = started.json()["id"]
        deadline = time.monotonic() + 30
        while client.get(f"/api/v1/staff/simulations/{simulation_id}", headers=staff).json()["status"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        client.post(f"/api/v1/staff/simulations/{simulation_id}/acknowledge", headers=staff).raise_for_status()
        scheduled = client.post(f"/api/v1/staff/rate-changes/{change_id}/schedule", headers=staff)
        assert scheduled.json()["status"] == "scheduled"
        card = client.get(f"/api/v1/staff/rate-cards/{RATE_CARD}", headers=staff).json()
        assert [r["price"] for r in card["rates"] if r["product_id"] == TOKENS_PRODUCT and r["scheduled"]] == [
            "12 AI credits per unit"
        ]
