"""Absurd numbers (1e999999, 1e400, -1e999999, Infinity, NaN, a 41-digit integer, 1e-999999) are refused wherever a
price, fee, factor, quantity or amount enters the catalog, each with the field and the limit named
(:func:`portal.domain.money.bounded_decimal`), and nothing is stored; on both databases.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portal.api.app import create_api
from portal.db.models import utcnow
from portal.services import packages, products, rate_changes
from portal.services.api_keys import create_api_key
from portal.services.demo_catalog import CREDITS, RATE_CARD, TOKENS_PRODUCT
from portal.services.errors import InvalidInput
from portal.services.identity import operator_identity
from tests.integration.conftest import STAFF

LIMIT = "1,000,000,000,000,000"
TOO_LARGE = f"is too large: at most {LIMIT}."


def _next_month_iso() -> str:
    start = (utcnow().replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=32)).replace(day=1)
    return start.isoformat()


def _refusal(call: Callable[..., object], *args: Any) -> str:
    """What ``call(*args)`` says when it refuses its input."""
    with pytest.raises(InvalidInput) as refused:
        call(*args)
    return str(refused.value)


def test_absurd_proposed_prices_are_refused_naming_the_field_and_the_limit(initech: str) -> None:
    start = (utcnow().replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=32)).replace(day=1)
    for price, message in [
        ({"model": "flat", "unit_price": "1e999999"}, f"The unit price 1E+999999 {TOO_LARGE}"),
        ({"model": "flat", "unit_price": "1e400"}, f"The unit price 1E+400 {TOO_LARGE}"),
        ({"model": "flat", "unit_price": "-1e999999"}, f"The unit price -1E+999999 is too small: at least -{LIMIT}."),
        ({"model": "flat", "unit_price": "Infinity"}, "The unit price 'Infinity' is not a finite number."),
        ({"model": "flat", "unit_price": "NaN"}, "The unit price 'NaN' is not a finite number."),
        ({"model": "flat", "unit_price": 10**40}, f"The unit price 1.000000E+40 {TOO_LARGE}"),
        (
            {"model": "flat", "unit_price": "1e-999999"},
            "The unit price 1E-999999 has too many decimal places: at most 18.",
        ),
        (
            {"model": "tiered", "tiers": [{"up_to": "1e400", "unit_price": "1"}, {"unit_price": "1"}]},
            f"The tier bound 1E+400 {TOO_LARGE}",
        ),
        (
            {"model": "volume", "tiers": [{"unit_price": "1", "flat_fee": "1e999999"}]},
            f"The tier flat fee 1E+999999 {TOO_LARGE}",
        ),
        ({"model": "package", "size": "1e400", "price_per_block": "1"}, f"The package size 1E+400 {TOO_LARGE}"),
    ]:
        refusal = _refusal(rate_changes.propose, STAFF, RATE_CARD, TOKENS_PRODUCT, start, price, CREDITS)
        assert refusal == message, price
    assert rate_changes.rate_card(STAFF, RATE_CARD).changes == (), "nothing proposed"
    largest = {"model": "flat", "unit_price": "1e15"}
    assert rate_changes.propose(STAFF, RATE_CARD, TOKENS_PRODUCT, start, largest, CREDITS).status == "draft"


def test_the_staff_api_answers_an_absurd_price_with_a_422_naming_it(initech: str) -> None:
    staff = {"Authorization": f"Bearer {create_api_key(operator_identity(), 'staff', ['staff']).token}"}
    url = f"/api/v1/staff/rate-cards/{RATE_CARD}/changes"
    body = f'{{"product_id": "{TOKENS_PRODUCT}", "starting_at": "{_next_month_iso()}", "credit_type_id": "{CREDITS}"'
    with TestClient(create_api()) as client:
        for price, message in [
            ('"1e999999"', f"The unit price 1E+999999 {TOO_LARGE}"),
            ("1e999999", "The unit price must be a decimal string or integer, not float inf."),
            (str(10**40), f"The unit price 1.000000E+40 {TOO_LARGE}"),
        ]:
            content = f'{body}, "price": {{"model": "flat", "unit_price": {price}}}}}'
            answer = client.post(url, content=content, headers={**staff, "Content-Type": "application/json"})
            assert (answer.status_code, answer.json()["detail"]) == (422, message), price
        assert client.get(f"/api/v1/staff/rate-cards/{RATE_CARD}", headers=staff).json()["changes"] == []


def test_absurd_package_fields_and_product_divisors_are_refused_by_name(initech: str) -> None:
    (team,) = [v for v in packages.list_versions(STAFF) if v.key == "team" and v.status == "published"]
    draft = packages.clone_version(STAFF, team.id)
    start = _next_month_iso()
    multiplier = {"product_id": TOKENS_PRODUCT, "starting_at": start, "kind": "multiplier", "factor": "1e400"}
    overwrite = {
        "product_id": TOKENS_PRODUCT,
        "starting_at": start,
        "kind": "overwrite",
        "price": {"model": "flat", "unit_price": "1e999999"},
    }
    for changes, message in [
        ({"seat_price": "1e999999"}, f"The seat price 1E+999999 {TOO_LARGE}"),
        ({"credits_per_seat": str(10**40)}, f"The credits per seat 1.000000E+40 {TOO_LARGE}"),
        ({"pool_per_seat": "NaN"}, "The pool per seat 'NaN' is not a finite number."),
        ({"overrides": [multiplier]}, f"Override 1: The multiplier 1E+400 {TOO_LARGE}"),
        ({"overrides": [overwrite]}, f"Override 1: The unit price 1E+999999 {TOO_LARGE}"),
        (
            {"included_grants": [{"kind": "credit", "amount": "1e400", "credit_type_id": CREDITS}]},
            f"The amount 1E+400 {TOO_LARGE}",
        ),
        ({"entitlements": {"api": str(10**40)}}, f"The limit of entitlement 'api' 1.000000E+40 {TOO_LARGE}"),
    ]:
        assert _refusal(packages.update_draft, STAFF, draft.id, changes) == message, changes
    kept = packages.update_draft(STAFF, draft.id, {})
    assert (kept.terms["seat_price"], kept.terms["overrides"]) == (team.terms["seat_price"], team.terms["overrides"])

    definition = {"name": "Requests", "kind": "usage", "metric_id": "met_api_requests", "per": "1e999999"}
    refusal = _refusal(products.create_product, STAFF, definition)
    assert refusal == f"The quantity divisor 1E+999999 {TOO_LARGE}"
    assert "Requests" not in [p.name for p in products.list_products(STAFF)]
