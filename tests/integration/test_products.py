"""Staff add a product and give it its first price on a rate card, simulated first; on both databases.

Initech (the ``initech`` fixture) has 3 seats on Team since the month before last and already ran 1,000 AI
credits over its pool in its first month, so every further credit then is overage at $0.01.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from portal.api.app import create_api
from portal.domain.metrics import UsageEvent
from portal.services import metrics, products, rate_changes, simulation
from portal.services.api_keys import create_api_key
from portal.services.audit import audit_log
from portal.services.demo_catalog import CREDITS, RATE_CARD
from portal.services.errors import Forbidden, InvalidInput
from portal.services.identity import operator_identity
from portal.services.ingest_writer import writer
from tests.integration.conftest import CUSTOMER_USER, STAFF, two_months_ago

IMAGES = {"name": "Images", "event_type": "image", "aggregation": "count", "group_keys": ["user_id"]}


def test_a_new_product_gets_its_first_price_through_a_simulated_change(initech: str) -> None:
    metric = metrics.create_metric(STAFF, IMAGES)
    start = two_months_ago()
    writer().submit(
        [UsageEvent(f"img-{n}", initech, "image", start + timedelta(days=6), {"user_id": "ann"}) for n in range(40)]
    ).result()
    product = products.create_product(STAFF, {"name": "Image generations", "kind": "usage", "metric_id": metric.id})
    assert (product.kind, product.metric, product.per) == ("usage", "Images", "")
    assert "Image generations" in [p.name for p in products.list_products(STAFF)]
    assert (product.id, "Image generations") in rate_changes.rate_card(STAFF, RATE_CARD).products

    next_month = (start + timedelta(days=95)).replace(day=1)
    change = rate_changes.propose(
        STAFF, RATE_CARD, product.id, next_month, {"model": "flat", "unit_price": "5"}, CREDITS
    )
    run = simulation.start_price_change(STAFF, change.id, background=False)
    (row,) = [r for r in run.rows if r["customer_id"] == initech]
    # 40 images at 5 credits: 200 more credits in month 1, all overage at $0.01: $2.00 more.
    assert (row["difference_minor"], row["difference"]) == (200, "$2.00")
    simulation.acknowledge(STAFF, run.id)
    rate_changes.schedule(STAFF, change.id)
    rates = [r for r in rate_changes.rate_card(STAFF, RATE_CARD).rates if r.product_id == product.id]
    assert [(r.price, r.ends, r.scheduled) for r in rates] == [("5 AI credits per unit", "", True)]
    assert [e.action for e in audit_log(STAFF, search="Image generations")] == [
        "rate.schedule",
        "rate.propose",
        "product.create",
    ]


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"name": ""}, "Give the product a name"),
        ({"kind": "subscription"}, "kind must be usage or fixed"),
        ({"metric_id": ""}, "needs the billable metric it bills"),
        ({"metric_id": "met_nope"}, "no active metric 'met_nope'"),
        ({"per": "0"}, "divisor must be more than zero"),
        ({"rounding": "sideways"}, "rounding must be one of up, down, half_up"),
        ({"pricing_group_key": "model"}, "pricing group key 'model' is not a group key of the metric"),
        ({"name": "API requests"}, "already named 'API requests'"),
    ],
)
def test_wrong_products_are_refused_by_name(initech: str, definition: dict[str, str], message: str) -> None:
    base = {"name": "Requests per 100", "kind": "usage", "metric_id": "met_api_requests", "per": "100"}
    with pytest.raises(InvalidInput, match=message):
        products.create_product(STAFF, {**base, **definition})


def test_seats_are_priced_on_tiers_and_only_staff_add_products(initech: str) -> None:
    with pytest.raises(InvalidInput, match="priced on each tier"):
        rate_changes.propose(
            STAFF, RATE_CARD, "prd_seats", two_months_ago() + timedelta(days=120), {"model": "flat", "unit_price": "1"},
            CREDITS,
        )  # fmt: skip
    with pytest.raises(Forbidden):
        products.create_product(CUSTOMER_USER, {"name": "x", "kind": "fixed"})
    with pytest.raises(Forbidden):
        products.list_products(CUSTOMER_USER)


def test_the_staff_api_adds_products(initech: str) -> None:
    key = create_api_key(operator_identity(), "staff", ["staff"]).token
    staff = {"Authorization": f"Bearer {key}"}
    with TestClient(create_api()) as client:
        made = client.post("/api/v1/staff/products", json={"name": "Support", "kind": "fixed"}, headers=staff)
        assert (made.status_code, made.json()["kind"]) == (201, "fixed")
        listed = client.get("/api/v1/staff/products", headers=staff).json()
        assert "Support" in [p["name"] for p in listed]
        wrong = client.post("/api/v1/staff/products", json={"name": "Seats 2", "kind": "seat"}, headers=staff)
        assert (wrong.status_code, wrong.json()["detail"]) == (
            422,
            "The kind must be usage or fixed (seats are priced on the tier), not 'seat'.",
        )
