"""Adoption per tier and version over the months, with hand-computed figures; on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from portal.api.app import create_api
from portal.db.models import utcnow
from portal.services.adoption import adoption
from portal.services.api_keys import create_api_key
from portal.services.billing import provision
from portal.services.customers import create_customer
from portal.services.errors import Forbidden, InvalidInput
from portal.services.identity import operator_identity
from tests.integration.conftest import CUSTOMER_USER, STAFF


def test_customers_seats_and_revenue_per_tier_each_month(initech: str) -> None:
    hooli = create_customer(STAFF, "Hooli")
    provision(STAFF, hooli.id, "starter", 2, ("gavin",), at=utcnow() - timedelta(minutes=5))
    shown = adoption(STAFF, months=3)
    this_month = utcnow().replace(day=1)
    assert shown.months[-1] == f"{this_month:%Y-%m}"
    series = {s.tier: s for s in shown.series}
    # Initech: Team since the month before last, 3 seats; its first month's seats ($40 × 3) were invoiced then.
    team = series["Team v1"]
    assert (team.customers, team.seats, team.revenue) == ((1, 1, 1), (3, 3, 3), ("$120.00", "$0.00", "$0.00"))
    # Hooli: Starter from this month, 2 seats at $20, invoiced at once.
    starter = series["Starter v1"]
    assert (starter.customers, starter.seats, starter.revenue_minor) == ((0, 0, 1), (0, 0, 2), (0, 0, 4000))
    assert shown.currency == "USD"


def test_only_staff_and_a_sensible_span(initech: str) -> None:
    with pytest.raises(InvalidInput, match="between 1 and 36 months, not 0"):
        adoption(STAFF, months=0)
    with pytest.raises(Forbidden):
        adoption(CUSTOMER_USER)


def test_the_staff_api_gives_the_chart_s_data(initech: str) -> None:
    key = create_api_key(operator_identity(), "staff", ["staff"]).token
    with TestClient(create_api()) as client:
        body = client.get("/api/v1/staff/adoption", params={"months": 2}, headers={"Authorization": f"Bearer {key}"})
    assert body.status_code == 200
    assert [(s["tier"], s["seats"]) for s in body.json()["series"]] == [("Team v1", [3, 3])]
