"""Requests the routes never see, found by the schemathesis run (tests/integration/test_api_schema.py): each is
refused with a 422 whose ``detail`` is one string naming the field, as the OpenAPI description says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portal.api.app import create_api
from portal.api.body_limit import MAX_BODY_BYTES
from portal.domain.seats import MAX_SEATS
from portal.services.api_keys import create_api_key
from portal.services.billing import change_seats, provision
from portal.services.customers import create_customer
from portal.services.demo import seed_demo
from portal.services.errors import InvalidInput
from portal.services.identity import operator_identity


@pytest.fixture
def client(database: str) -> Iterator[TestClient]:
    """The API over the demo data, every request made with a staff key."""
    seed_demo()
    key = create_api_key(operator_identity(), "staff", ["staff"]).token
    with TestClient(create_api(), headers={"Authorization": f"Bearer {key}"}) as test_client:
        yield test_client


def _customer_id(client: TestClient) -> str:
    return str(client.get("/api/v1/customers").json()[0]["id"])


def _refusal(response: Any) -> str:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    return detail


def test_a_field_fastapi_cannot_validate_is_named_in_one_string(client: TestClient) -> None:
    detail = _refusal(client.post("/api/v1/customers", json={"name": ""}))
    assert detail == "body field 'name': String should have at least 1 character"
    usage = client.get(f"/api/v1/customers/{_customer_id(client)}/usage", params={"metric_id": "m", "start": "b"})
    assert "query parameter 'start'" in _refusal(usage)
    assert "query parameter 'end': Field required" in _refusal(usage)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"name": "x"', "The body is not valid JSON: Expecting"),
        (b'{"name": "\xff\xfe"}', "The body is not valid JSON: it is not UTF-8 text"),
        (b"[" * 100_000, "The body is not valid JSON: it is nested too deeply."),
    ],
    ids=["truncated", "not-utf8", "nested-too-deeply"],
)
def test_a_body_that_is_not_json_is_a_422_saying_why(client: TestClient, body: bytes, reason: str) -> None:
    response = client.post("/api/v1/customers", content=body, headers={"Content-Type": "application/json"})
    assert _refusal(response).startswith(reason)


def test_text_no_database_can_store_is_refused_naming_where_it_is(client: TestClient) -> None:
    """On PostgreSQL the NUL characters were 500s (its text cannot hold one); unpaired surrogates were 500s on both."""
    customer = _customer_id(client)
    checks = [
        (client.post("/api/v1/customers", json={"name": "Nul\x00Corp"}), "body field 'name'"),
        (client.post("/api/v1/customers", json={"name": "N", "ingest_aliases": ["a", "b\x00"]}), "'ingest_aliases.1'"),
        (client.get("/api/v1/staff/audit", params={"search": "\x00"}), "query parameter 'search'"),
        (client.get(f"/api/v1/customers/{customer}%00"), "path parameter 'customer_id'"),
        (client.post(f"/api/v1/customers/{customer}/contract", json={"package": "team\x00"}), "'package'"),
    ]
    unpaired = b'{"name": "N", "ingest_aliases": ["\\ud800"]}'
    surrogate = client.post("/api/v1/customers", content=unpaired, headers={"Content-Type": "application/json"})
    assert "'ingest_aliases.0' contains an unpaired surrogate" in _refusal(surrogate)
    emoji = b'{"name": "Smile \\ud83d\\ude00"}'  # a surrogate pair is one valid character
    assert (
        client.post("/api/v1/customers", content=emoji, headers={"Content-Type": "application/json"}).status_code == 201
    )
    for response, field in checks:
        assert f"{field} contains a NUL character" in _refusal(response)
    names = [c["name"] for c in client.get("/api/v1/customers").json()]
    assert not any("\x00" in name or name == "N" for name in names)
    assert "Smile 😀" in names


def test_entitlements_document_the_errors_they_give(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in (
        "/api/v1/customers/{customer_id}/entitlements",
        "/api/v1/customers/{customer_id}/entitlements/{feature}",
    ):
        responses = paths[path]["get"]["responses"]
        assert {"401", "403", "404", "422"} <= set(responses)
        assert responses["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    missing = client.get("/api/v1/customers/cus_missing/entitlements")
    assert missing.status_code == 404
    assert isinstance(missing.json()["detail"], str)


def test_a_body_over_1_mib_is_refused_with_413_naming_the_limit(client: TestClient) -> None:
    body = json.dumps({"name": "Big", "ingest_aliases": ["a" * 100] * 11_000}).encode()
    assert len(body) > MAX_BODY_BYTES
    headers = {"Content-Type": "application/json"}
    declared = client.post("/api/v1/customers", content=body, headers=headers)
    streamed = client.post("/api/v1/customers", content=iter([body[:1000], body[1000:]]), headers=headers)
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["detail"] == "The request body is larger than the 1 MiB limit."
    assert "Big" not in [c["name"] for c in client.get("/api/v1/customers").json()]
    openapi = client.get("/api/openapi.json").json()
    assert "413" in openapi["paths"]["/api/v1/customers"]["post"]["responses"]


def test_numbers_and_dates_beyond_what_is_stored_are_refused_naming_them(client: TestClient) -> None:
    """Found by schemathesis with more examples: each was a 500 (an integer out of PostgreSQL's range, a date
    before year 1 once in UTC)."""
    customer = _customer_id(client)
    seats = client.post(f"/api/v1/customers/{customer}/seats", json={"quantity": 111_349_309_831_927_504})
    assert _refusal(seats) == "body field 'quantity': Input should be less than or equal to 1000000"
    contract = client.post(f"/api/v1/customers/{customer}/contract", json={"package": "team", "seats": 10**12})
    assert "body field 'seats'" in _refusal(contract)
    draft = client.post(f"/api/v1/staff/packages/{_team_version(client)}/clone", json={}).json()["id"]
    edit = client.patch(f"/api/v1/staff/packages/{draft}", json={"min_seats": 10**12})
    assert _refusal(edit) == "The min seats must be between 1 and 1000000, not 1000000000000."
    usage = client.get(
        f"/api/v1/customers/{customer}/usage",
        params={"metric_id": "m", "start": "0001-01-01T00:00:05+01:00", "end": "2000-01-03T12:05:06Z"},
    )
    assert _refusal(usage).startswith("The start 0001-01-01T00:00:05+01:00 is out of range")


def test_the_seat_services_refuse_more_than_a_million_seats_too(client: TestClient) -> None:
    """The pages call the services directly, without the API's bounds."""
    customer = _customer_id(client)
    with pytest.raises(InvalidInput, match="from 0 to 1,000,000, not 1000001"):
        change_seats(operator_identity(), customer, quantity=MAX_SEATS + 1)
    with pytest.raises(InvalidInput, match="at most 1,000,000 seats"):
        provision(operator_identity(), create_customer(operator_identity(), "Huge").id, "team", 10**12)


def test_a_grant_too_large_to_round_is_refused_naming_it(client: TestClient) -> None:
    """A grant of 1e26 was a 500 (rounding it to cents overflows the decimal context)."""
    customer = _customer_id(client)
    grant = {"amount": "1e26", "credit_type_id": "USD", "reason": "typo"}
    refused = client.post(f"/api/v1/staff/customers/{customer}/grants", json=grant)
    assert _refusal(refused) == "The credit amount 1E+26 is too large: at most 1,000,000,000,000,000."


def _team_version(client: TestClient) -> str:
    versions = client.get("/api/v1/staff/packages").json()
    return str(next(v["id"] for v in versions if v["key"] == "team"))
