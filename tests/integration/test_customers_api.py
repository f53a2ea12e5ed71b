"""Customers and usage series over HTTP: who may see what, and usage summed from the rollups."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portal.api.app import create_api
from portal.db.models import utcnow
from tests.support.usage import UsageSetup, usage_setup


@pytest.fixture
def setup(database: str) -> UsageSetup:
    return usage_setup()


@pytest.fixture
def client(setup: UsageSetup) -> Iterator[TestClient]:
    with TestClient(create_api()) as test_client:
        yield test_client


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_staff_create_customers_and_departments(client: TestClient, setup: UsageSetup) -> None:
    parent = client.post(
        "/api/v1/customers", json={"name": "Initech", "ingest_aliases": ["initech"]}, headers=_auth(setup.staff_key)
    )
    assert parent.status_code == 201
    assert parent.json()["ingest_aliases"] == ["initech"]
    child = client.post(
        "/api/v1/customers",
        json={"name": "Initech R&D", "parent_id": parent.json()["id"], "currency": "eur"},
        headers=_auth(setup.staff_key),
    ).json()
    assert (child["parent_id"], child["currency"]) == (parent.json()["id"], "EUR")
    below = child["id"]
    for level in range(3, 6):  # departments of departments, down to the fifth level
        created = client.post(
            "/api/v1/customers", json={"name": f"Level {level}", "parent_id": below}, headers=_auth(setup.staff_key)
        )
        assert created.status_code == 201
        below = created.json()["id"]
    too_deep = client.post(
        "/api/v1/customers", json={"name": "Too deep", "parent_id": below}, headers=_auth(setup.staff_key)
    )
    assert too_deep.status_code == 422
    assert "at most 5 levels" in too_deep.json()["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"name": "X", "currency": "XXX"}, "Unknown currency 'XXX'"),
        ({"name": "X", "ingest_aliases": ["acme"]}, "alias 'acme' already belongs"),
        ({"name": "X", "parent_id": "cus_nope"}, "does not exist"),
    ],
)
def test_bad_customers_are_refused_by_name(client: TestClient, setup: UsageSetup, body: Any, detail: str) -> None:
    response = client.post("/api/v1/customers", json=body, headers=_auth(setup.staff_key))
    assert response.status_code == 422
    assert detail in response.json()["detail"]


def test_customer_keys_cannot_create_customers_or_see_others(client: TestClient, setup: UsageSetup) -> None:
    assert client.post("/api/v1/customers", json={"name": "X"}, headers=_auth(setup.read_key)).status_code == 403
    listed = client.get("/api/v1/customers", headers=_auth(setup.read_key)).json()
    assert [c["id"] for c in listed] == [setup.customer_id]
    other = client.get(f"/api/v1/customers/{setup.other_customer_id}", headers=_auth(setup.read_key))
    assert other.status_code == 404
    assert client.get(f"/api/v1/customers/{setup.customer_id}", headers=_auth(setup.ingest_key)).status_code == 403


def test_usage_series_sums_rollups_per_day_and_group(client: TestClient, setup: UsageSetup) -> None:
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    events = [
        (yesterday + timedelta(hours=3), "u1", "10"),
        (yesterday + timedelta(hours=23, minutes=59), "u2", "5"),
        (today + timedelta(minutes=1), "u1", "7"),
    ]
    if today + timedelta(minutes=1) > utcnow():
        events.pop()
    body = [
        {
            "transaction_id": f"s{i}",
            "customer_id": "acme",
            "event_type": "ai_usage",
            "timestamp": when.isoformat(),
            "properties": {"tokens": tokens, "user_id": user},
        }
        for i, (when, user, tokens) in enumerate(events)
    ]
    assert client.post("/api/v1/ingest", json=body, headers=_auth(setup.ingest_key)).json()["accepted"] == len(events)
    params = {
        "metric_id": setup.tokens_metric_id,
        "start": yesterday.isoformat(),
        "end": (today + timedelta(days=1)).isoformat(),
    }
    totals = client.get(f"/api/v1/customers/{setup.customer_id}/usage", params=params, headers=_auth(setup.read_key))
    expected = [{"start": yesterday.isoformat().replace("+00:00", "Z"), "group": "", "quantity": "15"}]
    if len(events) == 3:
        expected.append({"start": today.isoformat().replace("+00:00", "Z"), "group": "", "quantity": "7"})
    assert totals.json() == expected
    per_user = client.get(
        f"/api/v1/customers/{setup.customer_id}/usage",
        params={**params, "group_by": "user_id"},
        headers=_auth(setup.read_key),
    ).json()
    assert [(p["group"], p["quantity"]) for p in per_user][:2] == [("u1", "10"), ("u2", "5")]


def test_usage_series_names_a_wrong_group_key_and_granularity(client: TestClient, setup: UsageSetup) -> None:
    now = utcnow()
    params = {
        "metric_id": setup.tokens_metric_id,
        "start": (now - timedelta(days=1)).isoformat(),
        "end": now.isoformat(),
    }
    url = f"/api/v1/customers/{setup.customer_id}/usage"
    wrong_group = client.get(url, params={**params, "group_by": "model"}, headers=_auth(setup.read_key))
    assert wrong_group.status_code == 422
    assert "cannot be grouped by 'model'; its group keys: user_id" in wrong_group.json()["detail"]
    assert client.get(url, params={**params, "granularity": "week"}, headers=_auth(setup.read_key)).status_code == 422
