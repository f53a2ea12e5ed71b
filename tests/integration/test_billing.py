"""Contracts, seats, balances and invoices through the services and the API, on SQLite and PostgreSQL.

Figures are hand-computed from the demo catalog: Team is $40 per seat per month with 2,000 AI credits per
seat pooled; AI tokens cost 10 credits per 1,000 tokens (rounded up to whole thousands), API requests
0.5 credits each; an AI credit is worth $0.01.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portal.api.app import create_api
from portal.db.loaders import Catalog, load_family
from portal.db.models import utcnow
from portal.db.uow import UnitOfWork
from portal.domain.invoicing import balances as domain_balances
from portal.domain.invoicing import draft_invoices
from portal.domain.metrics import RawUsage, UsageEvent
from portal.domain.money import Money, currency
from portal.domain.periods import Period, prorate
from portal.services import billing
from portal.services.api_keys import create_api_key
from portal.services.customers import create_customer, list_customers
from portal.services.demo import seed_demo
from portal.services.errors import InvalidInput
from portal.services.identity import operator_identity

OPERATOR = operator_identity()


@pytest.fixture
def start() -> datetime:
    """The contract start: two days ago, on the hour."""
    return (utcnow() - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def customer_id(database: str, start: datetime) -> str:
    seed_demo()
    customer = create_customer(OPERATOR, "Initech", ingest_aliases=("initech",))
    billing.provision(OPERATOR, customer.id, "team", 3, ("ann", "bob"), at=start + timedelta(minutes=20))
    return customer.id


@pytest.fixture
def client(customer_id: str) -> Iterator[TestClient]:
    with TestClient(create_api()) as test_client:
        yield test_client


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _events(start: datetime) -> list[dict[str, Any]]:
    tokens = [("ann", "1000"), ("bob", "1500"), ("ann", "600")]
    body = [
        {
            "transaction_id": f"tok-{i}",
            "customer_id": "initech",
            "event_type": "ai_usage",
            "timestamp": (start + timedelta(hours=1, minutes=i)).isoformat(),
            "properties": {"tokens": t, "user_id": u, "model": "gpt-4o"},
        }
        for i, (u, t) in enumerate(tokens)
    ]
    body += [
        {
            "transaction_id": f"req-{i}",
            "customer_id": "initech",
            "event_type": "api_request",
            "timestamp": (start + timedelta(hours=2, minutes=i)).isoformat(),
            "properties": {"user_id": "ann"},
        }
        for i in range(4)
    ]
    return body


def test_provisioning_invoices_the_first_period_seats_at_once(customer_id: str, start: datetime) -> None:
    contract = billing.contract_view(OPERATOR, customer_id)
    assert (contract.package, contract.seats, contract.seat_ids, contract.unassigned_seats) == (
        "Team v1",
        3,
        ("ann", "bob"),
        1,
    )
    assert contract.period_start == start
    [invoice] = billing.invoices(OPERATOR, customer_id)
    # 3 seats x $40 = $120, in advance, paid by no grant.
    assert (invoice.status, invoice.total_due, invoice.total_due_minor) == ("finalized", "$120.00", 12000)
    assert [(line.description, line.quantity, line.due) for line in invoice.lines] == [
        ("3 seats in advance", "3", "$120.00")
    ]


def test_balances_include_events_as_soon_as_ingest_returns(
    client: TestClient, customer_id: str, start: datetime
) -> None:
    key = create_api_key(OPERATOR, "k", ["ingest", "read"], customer_id).token
    before = client.get(f"/api/v1/customers/{customer_id}/balances", headers=_auth(key)).json()
    # Pool: 3 seats x 2,000 credits = 6,000.
    assert [(p["credit_type"], p["remaining_units"]) for p in before["pooled"]] == [("AI credits", "6000")]
    assert client.post("/api/v1/ingest", json=_events(start), headers=_auth(key)).json()["accepted"] == 7
    after = client.get(f"/api/v1/customers/{customer_id}/balances", headers=_auth(key)).json()
    # Tokens 1,000 + 1,500 + 600 = 3,100 -> 4 thousands x 10 = 40 credits; 4 requests x 0.5 = 2 credits.
    assert after["pooled"][0]["remaining_units"] == "5958"
    assert after["pooled"][0]["remaining"] == "5,958 AI credits"
    seats = {s["seat_id"]: s["drawn_from_pool"] for s in after["seats"]}
    assert set(seats) == {"ann", "bob"}
    draft = client.get(f"/api/v1/customers/{customer_id}/invoices/draft", headers=_auth(key)).json()
    usage = {line["description"]: line for line in draft["lines"]}
    assert usage["AI tokens (per 1,000)"]["quantity"] == "4"
    assert usage["AI tokens (per 1,000)"]["amount"] == "$0.40"
    assert usage["API requests"]["unit_price"] == "0.5 AI credits"
    assert draft["total_due_minor"] == 0, "the pool pays for all usage; seats were invoiced already"


def test_balance_after_ingest_equals_the_rating_engine_over_the_same_events(
    client: TestClient, customer_id: str, start: datetime
) -> None:
    key = create_api_key(OPERATOR, "k", ["ingest", "read"], customer_id).token
    body = _events(start)
    assert client.post("/api/v1/ingest", json=body, headers=_auth(key)).json()["accepted"] == len(body)
    served = client.get(f"/api/v1/customers/{customer_id}/balances", headers=_auth(key)).json()
    at = datetime.fromisoformat(served["as_of"])
    with UnitOfWork() as uow:
        contract_id = billing.active_contract(uow.session, customer_id, at).id
        family = load_family(uow.session, contract_id, Catalog(uow.session))
    contract = family.contract(contract_id)
    events = tuple(
        UsageEvent(
            e["transaction_id"], customer_id, e["event_type"], datetime.fromisoformat(e["timestamp"]), e["properties"]
        )
        for e in body
    )
    period = contract.billing_period_containing(at)
    run = draft_invoices(family.contracts, period, {contract_id: RawUsage(events)}, as_of=at, ledger=family.ledger)
    expected = domain_balances(contract_id, run.grants, (*family.ledger, *run.ledger_entries), at)
    assert [units for _, units in expected.pooled] == [Decimal(p["remaining_units"]) for p in served["pooled"]]


def test_adding_seats_charges_the_prorated_price_at_once_and_the_preview_said_so(
    customer_id: str, start: datetime
) -> None:
    at = start + timedelta(days=1, hours=5)
    preview = billing.preview_seats(OPERATOR, customer_id, add=("cat", "dan"), at=at)
    contract, invoice = billing.change_seats(OPERATOR, customer_id, add=("cat", "dan"), at=at)
    # cat takes the unassigned seat; dan needs a fourth: 1 seat x $40 x the rest of the period.
    assert (contract.seats, contract.unassigned_seats) == (4, 0)
    period = Period(contract.period_start, contract.period_end)
    expected = Money(prorate(Decimal(40), Period(at, period.end), period), currency("USD")).rounded()
    assert invoice is not None
    assert invoice.total_due == expected.format()
    assert preview.due_now == invoice.total_due
    assert len(billing.invoices(OPERATOR, customer_id)) == 2


def test_seat_changes_that_break_a_rule_are_refused_and_nothing_is_written(customer_id: str) -> None:
    with pytest.raises(InvalidInput, match="zed hold no seat"):
        billing.change_seats(OPERATOR, customer_id, remove=("zed",))
    with pytest.raises(InvalidInput, match="quantity cannot go down to 1"):
        billing.change_seats(OPERATOR, customer_id, quantity=1)
    assert billing.contract_view(OPERATOR, customer_id).seats == 3
    assert len(billing.invoices(OPERATOR, customer_id)) == 1


def test_removing_a_seat_takes_effect_at_period_end_by_default(customer_id: str, start: datetime) -> None:
    at = start + timedelta(days=1)
    preview = billing.preview_seats(OPERATOR, customer_id, remove=("bob",), at=at)
    assert (preview.due_now_minor, preview.due_now) == (0, "$0.00")
    # Next period: 2 seats instead of 3, $40 less.
    assert preview.next_period == "-$40.00"


def test_an_upgrade_preview_charges_the_price_difference_at_once(customer_id: str, start: datetime) -> None:
    preview = billing.preview_switch(OPERATOR, customer_id, "business", at=start + timedelta(days=1))
    assert preview.due_now_minor > 0
    downgrade = billing.preview_switch(OPERATOR, customer_id, "starter", at=start + timedelta(days=1))
    assert downgrade.due_now_minor == 0


@pytest.mark.parametrize(
    ("package", "seats", "message"),
    [
        ("platinum", 3, "no published package 'platinum'"),
        ("team", 2, "at least 3 seats and at most 50"),
    ],
)
def test_provisioning_errors_name_what_is_wrong(database: str, package: str, seats: int, message: str) -> None:
    seed_demo()
    customer = create_customer(OPERATOR, "Hooli")
    with pytest.raises(InvalidInput, match=message):
        billing.provision(OPERATOR, customer.id, package, seats)


def test_a_second_contract_is_refused(customer_id: str) -> None:
    with pytest.raises(InvalidInput, match="already has a contract"):
        billing.provision(OPERATOR, customer_id, "starter", 1)


def test_contract_routes_need_the_right_keys(client: TestClient, customer_id: str) -> None:
    read_key = create_api_key(OPERATOR, "r", ["read"], customer_id).token
    staff_key = create_api_key(OPERATOR, "s", ["staff"]).token
    assert (
        client.post(f"/api/v1/customers/{customer_id}/seats", json={"quantity": 5}, headers=_auth(read_key)).status_code
        == 403
    )
    changed = client.post(f"/api/v1/customers/{customer_id}/seats", json={"quantity": 5}, headers=_auth(staff_key))
    assert changed.status_code == 200
    assert changed.json()["contract"]["seats"] == 5
    wrong = client.post(f"/api/v1/customers/{customer_id}/seats", json={"remove": ["zed"]}, headers=_auth(staff_key))
    assert wrong.status_code == 422
    assert "zed hold no seat" in wrong.json()["detail"]
    contract = client.get(f"/api/v1/customers/{customer_id}/contract", headers=_auth(read_key)).json()
    assert contract["package"] == "Team v1"
    assert len(client.get(f"/api/v1/customers/{customer_id}/invoices", headers=_auth(read_key)).json()) == 2


def test_a_department_draws_from_the_parents_shared_commit(database: str) -> None:
    seed_demo()
    names = {c.name: c.id for c in list_customers(OPERATOR)}
    research = billing.balances(OPERATOR, names["Globex Research"])
    parent = billing.balances(OPERATOR, names["Globex Corporation"])
    # The parent's shared commit of 2,000,000 credits paid for the departments' demo usage.
    shared = parent.grants[0]
    assert shared.scope == "shared"
    assert Decimal(shared.remaining_units) < Decimal(2_000_000)
    assert research.pooled == ()
    marketing_draft = billing.draft(OPERATOR, names["Globex Marketing"])
    assert {line.department for line in marketing_draft.lines} == {"Globex Marketing"}
    assert marketing_draft.customer_id == names["Globex Corporation"], "payer PARENT: lines on the parent's invoice"


def test_staff_switch_tiers_over_the_api(client: TestClient, customer_id: str) -> None:
    staff_key = create_api_key(OPERATOR, "s", ["staff"]).token
    refused = client.post(
        f"/api/v1/customers/{customer_id}/tier", json={"package": "business"}, headers=_auth(staff_key)
    )
    assert refused.status_code == 422
    assert "at least 5 seats" in refused.json()["detail"]
    moved = client.post(f"/api/v1/customers/{customer_id}/tier", json={"package": "starter"}, headers=_auth(staff_key))
    assert moved.status_code == 200
    assert moved.json()["invoice"] is None
