"""Entitlements for the vendor's product: the tier's features, limits and credits, kept for a second."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from portal.api.app import create_api
from portal.db.models import utcnow
from portal.db.uow import UnitOfWork
from portal.domain.metrics import UsageEvent
from portal.services import entitlements
from portal.services.api_keys import create_api_key
from portal.services.billing import provision
from portal.services.customers import create_customer
from portal.services.demo_catalog import TOKENS_EVENT, ensure_catalog, ensure_tiers
from portal.services.identity import operator_identity
from portal.services.ingest_writer import writer

OPERATOR = operator_identity()


@pytest.fixture
def api(database: str) -> Iterator[tuple[TestClient, str, dict[str, str], dict[str, str]]]:
    """Initech on Team with 3 seats since an hour ago; its read key, and another customer's."""
    with UnitOfWork() as uow:
        ensure_catalog(uow.session)
        ensure_tiers(uow.session)
    initech = create_customer(OPERATOR, "Initech").id
    other = create_customer(OPERATOR, "Umbrella").id
    provision(OPERATOR, initech, "team", 3, ("ann",), at=utcnow() - timedelta(hours=1))
    own = create_api_key(OPERATOR, "read", ["read"], initech).token
    foreign = create_api_key(OPERATOR, "read", ["read"], other).token
    entitlements.forget()
    with TestClient(create_api()) as client:
        yield client, initech, {"Authorization": f"Bearer {own}"}, {"Authorization": f"Bearer {foreign}"}
    entitlements.forget()


def test_the_tier_s_features_limits_and_credits(api: tuple[TestClient, str, dict[str, str], dict[str, str]]) -> None:
    client, initech, own, _ = api
    body = client.get(f"/api/v1/customers/{initech}/entitlements", headers=own).json()
    assert (body["package"], body["version"]) == ("Team v1", 1)
    assert body["features"] == [
        "Pooled AI credits",
        "Per-seat usage breakdown",
        "API keys for usage",
        "Priority support",
    ]
    assert body["limits"] == {"usage_dashboard": True, "api_access": True, "spend_alerts": False, "projects": 25}
    # 3 seats × 2,000 AI credits, pooled, nothing used yet.
    assert body["credits"] == [
        {"credit_type": "AI credits", "remaining": "6,000 AI credits", "remaining_units": "6000"}
    ]
    checks = {
        feature: client.get(f"/api/v1/customers/{initech}/entitlements/{feature}", headers=own).json()
        for feature in ("api_access", "spend_alerts", "projects")
    }
    assert [(c["granted"], c["limit"]) for c in checks.values()] == [(True, None), (False, None), (True, 25)]
    unknown = client.get(f"/api/v1/customers/{initech}/entitlements/sso", headers=own)
    assert (unknown.status_code, unknown.json()["detail"]) == (
        404,
        "The tier Team v1 does not name a feature 'sso'; it names api_access, projects, spend_alerts, usage_dashboard.",
    )


def test_answers_are_kept_for_a_second_then_follow_usage(
    api: tuple[TestClient, str, dict[str, str], dict[str, str]],
) -> None:
    initech = api[1]
    first = entitlements.entitlements(OPERATOR, initech)
    used = [
        UsageEvent(
            "e-1", initech, TOKENS_EVENT, utcnow() - timedelta(minutes=1), {"tokens": "150000", "user_id": "ann"}
        )
    ]
    writer().refresh_metrics()
    writer().submit(used).result()
    assert entitlements.entitlements(OPERATOR, initech) is first  # kept: no rating within the second
    entitlements.forget()
    # 150,000 tokens at 10 credits per 1,000: 1,500 credits used of 6,000.
    (credits,) = entitlements.entitlements(OPERATOR, initech).credits
    assert credits.remaining_units == "4500"


def test_other_customers_keys_learn_nothing(api: tuple[TestClient, str, dict[str, str], dict[str, str]]) -> None:
    client, initech, _, foreign = api
    for path in (f"/api/v1/customers/{initech}/entitlements", f"/api/v1/customers/{initech}/entitlements/projects"):
        response = client.get(path, headers=foreign)
        assert (response.status_code, response.json()["detail"]) == (404, f"There is no customer {initech}.")
    assert client.get(f"/api/v1/customers/{initech}/entitlements").status_code == 401
