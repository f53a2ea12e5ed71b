"""POST /api/v1/ingest on SQLite and PostgreSQL: storage, duplicates, refusals, keys and rollups."""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import func, select

from portal.api.app import create_api
from portal.api.ingest import MAX_BODY_BYTES
from portal.db.models import UsageEvent, UsageRollup, utcnow
from portal.db.uow import UnitOfWork
from portal.services.api_keys import revoke_api_key
from portal.services.identity import operator_identity
from tests.support.ingest_inputs import json_values, near_valid_events, valid_event
from tests.support.usage import UsageSetup, usage_setup


@pytest.fixture
def setup(database: str) -> UsageSetup:
    return usage_setup()


@pytest.fixture
def client(setup: UsageSetup) -> Iterator[TestClient]:
    with TestClient(create_api()) as test_client:
        yield test_client


def _event(txn: str, customer: str = "acme", when: datetime | None = None, **props: Any) -> dict[str, Any]:
    when = when or utcnow() - timedelta(minutes=5)
    return {
        "transaction_id": txn,
        "customer_id": customer,
        "event_type": "ai_usage",
        "timestamp": when.isoformat().replace("+00:00", "Z"),
        "properties": {"tokens": "100", "user_id": "u1", **props},
    }


def _post(client: TestClient, key: str, body: Any, **headers: str) -> Any:
    # Encoded here rather than by the client, which cannot encode an unpaired surrogate (JSON escapes it).
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", **headers}
    return client.post("/api/v1/ingest", content=json.dumps(body), headers=headers)


def _stored_events() -> int:
    with UnitOfWork() as uow:
        return uow.session.exec(select(func.count()).select_from(UsageEvent)).one()


def _token_total(metric_id: str) -> Decimal:
    with UnitOfWork() as uow:
        rows = uow.session.exec(select(UsageRollup).where(UsageRollup.metric_id == metric_id)).all()
        return sum((Decimal(r.state["sum"]) for r in rows), Decimal(0))


def test_events_are_stored_and_rolled_up(client: TestClient, setup: UsageSetup) -> None:
    response = _post(client, setup.ingest_key, [_event("t1"), _event("t2", tokens="250.5")])
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, 0)
    assert [r["status"] for r in body["results"]] == ["accepted", "accepted"]
    assert _stored_events() == 2
    assert _token_total(setup.tokens_metric_id) == Decimal("350.5")


def test_duplicates_inside_one_batch_and_across_batches_count_once(client: TestClient, setup: UsageSetup) -> None:
    first = _post(client, setup.ingest_key, [_event("a"), _event("a", tokens="999"), _event("b")]).json()
    assert [r["status"] for r in first["results"]] == ["accepted", "duplicate", "accepted"]
    assert "already received" in first["results"][1]["reason"]
    second = _post(client, setup.ingest_key, [_event("b"), _event("c")]).json()
    assert [r["status"] for r in second["results"]] == ["duplicate", "accepted"]
    assert _stored_events() == 3
    assert _token_total(setup.tokens_metric_id) == Decimal(300)


def test_two_concurrent_ingesters_with_overlapping_ids_lose_nothing_and_count_nothing_twice(
    client: TestClient, setup: UsageSetup
) -> None:
    # Two clients send 20 batches each; ids 0-599 overlap half-way (client 2 sends 300-899).
    outcomes: list[dict[str, int]] = []

    def send(start: int) -> None:
        counts = {"accepted": 0, "duplicates": 0}
        for batch in range(20):
            events = [_event(f"txn-{start + batch * 30 + i}") for i in range(30)]
            body = _post(client, setup.ingest_key, events).json()
            counts["accepted"] += body["accepted"]
            counts["duplicates"] += body["duplicates"]
        outcomes.append(counts)

    threads = [threading.Thread(target=send, args=(start,)) for start in (0, 300)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(o["accepted"] for o in outcomes) == 900
    assert sum(o["duplicates"] for o in outcomes) == 300
    assert _stored_events() == 900
    assert _token_total(setup.tokens_metric_id) == Decimal(900 * 100)


def test_out_of_order_and_backfilled_events_land_in_their_own_hours(client: TestClient, setup: UsageSetup) -> None:
    now = utcnow()
    days_ago = (now - timedelta(days=20)).replace(minute=30, second=0, microsecond=0)
    hour_ago = (now - timedelta(hours=1)).replace(minute=10, second=0, microsecond=0)
    _post(client, setup.ingest_key, [_event("late", when=hour_ago, tokens="5")])
    _post(
        client, setup.ingest_key, [_event("old", when=days_ago, tokens="7"), _event("old2", when=days_ago, tokens="1")]
    )
    with UnitOfWork() as uow:
        rows = uow.session.exec(select(UsageRollup).where(UsageRollup.metric_id == setup.tokens_metric_id)).all()
        by_hour = {r.bucket_start: r.state["sum"] for r in rows}
    assert by_hour == {days_ago.replace(minute=0): "8", hour_ago.replace(minute=0): "5"}


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda e: e.pop("transaction_id"), "transaction_id is missing"),
        (lambda e: e.update(event_type=""), "event_type is missing"),
        (lambda e: e.update(timestamp="yesterday"), "is not an RFC 3339 date and time"),
        (lambda e: e.update(timestamp="2026-11-23T10:00:00"), "has no timezone"),
        (
            lambda e: e.update(timestamp=(utcnow() + timedelta(hours=25)).isoformat()),
            "more than 24 hours in the future",
        ),
        (lambda e: e.update(timestamp=(utcnow() - timedelta(days=35)).isoformat()), "older than the 34-day backfill"),
        (lambda e: e["properties"].update(tokens=12), "send every value as a string"),
        (lambda e: e.update(properties=["x"]), "properties must be an object"),
        (lambda e: e.update(customer_id="nobody"), "unknown customer 'nobody'"),
        # Text PostgreSQL cannot store: these failed the whole batch with a 500 there.
        (lambda e: e.update(transaction_id="t\x00"), "transaction_id contains a NUL character"),
        (lambda e: e["properties"].update(user_id="\ud800"), "property 'user_id' contains an unpaired surrogate"),
    ],
)
def test_each_invalid_event_is_refused_by_index_while_valid_ones_are_stored(
    client: TestClient, setup: UsageSetup, mutate: Any, reason: str
) -> None:
    bad = _event("bad")
    mutate(bad)
    body = _post(client, setup.ingest_key, [_event("good-1"), bad, _event("good-2")]).json()
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "accepted"]
    assert body["results"][1]["index"] == 1
    assert reason in body["results"][1]["reason"]
    assert _stored_events() == 2


def test_a_customer_key_cannot_send_usage_for_another_customer(client: TestClient, setup: UsageSetup) -> None:
    body = _post(client, setup.ingest_key, [_event("x", customer=setup.other_customer_id)]).json()
    assert body["results"][0]["reason"] == "this API key may only send usage for its own customer"
    staff = _post(client, setup.staff_key, [_event("y", customer=setup.other_customer_id)]).json()
    assert staff["accepted"] == 1


def test_a_value_a_metric_cannot_use_is_stored_with_a_warning(client: TestClient, setup: UsageSetup) -> None:
    body = _post(client, setup.ingest_key, [_event("w", tokens="abc")]).json()
    result = body["results"][0]
    assert result["status"] == "accepted"
    assert len(result["warnings"]) == 1
    assert "'AI tokens' cannot use it" in result["warnings"][0]
    assert "abc" in result["warnings"][0]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ([], 422, "The batch is empty"),
        ({"events": "x"}, 422, "Send a JSON array"),
        ("text", 422, "Send a JSON array"),
    ],
)
def test_malformed_batches_are_refused_whole(
    client: TestClient, setup: UsageSetup, body: Any, status: int, detail: str
) -> None:
    response = _post(client, setup.ingest_key, body)
    assert response.status_code == status
    assert detail in response.json()["detail"]
    assert _stored_events() == 0


def test_more_than_100_events_are_refused_whole(client: TestClient, setup: UsageSetup) -> None:
    response = _post(client, setup.ingest_key, [_event(f"e{i}") for i in range(101)])
    assert response.status_code == 422
    assert "at most 100" in response.json()["detail"]
    assert _stored_events() == 0


def test_an_object_with_events_is_accepted_too(client: TestClient, setup: UsageSetup) -> None:
    assert _post(client, setup.ingest_key, {"events": [_event("obj")]}).json()["accepted"] == 1


def test_gzip_bodies_are_accepted_and_bad_json_is_named(client: TestClient, setup: UsageSetup) -> None:
    headers = {"Authorization": f"Bearer {setup.ingest_key}", "Content-Type": "application/json"}
    packed = gzip.compress(json.dumps([_event("gz")]).encode())
    response = client.post("/api/v1/ingest", content=packed, headers={**headers, "Content-Encoding": "gzip"})
    assert response.json()["accepted"] == 1
    broken = client.post("/api/v1/ingest", content=b"not gzip", headers={**headers, "Content-Encoding": "gzip"})
    assert broken.status_code == 422
    assert "not valid gzip" in broken.json()["detail"]
    not_json = client.post("/api/v1/ingest", content=b"[{", headers=headers)
    assert not_json.status_code == 422
    assert "not valid JSON" in not_json.json()["detail"]


def test_missing_wrong_and_revoked_keys_get_401(client: TestClient, setup: UsageSetup) -> None:
    missing = client.post("/api/v1/ingest", json=[_event("k")])
    assert missing.status_code == 401
    assert "Authorization: Bearer" in missing.json()["detail"]
    key_id, _, _ = setup.ingest_key.partition(".")
    wrong = _post(client, f"{key_id}.wrong-secret", [_event("k")])
    assert wrong.status_code == 401
    assert "not valid" in wrong.json()["detail"]
    revoke_api_key(operator_identity(), key_id)
    revoked = _post(client, setup.ingest_key, [_event("k")])
    assert revoked.status_code == 401
    assert "was revoked" in revoked.json()["detail"]
    assert _stored_events() == 0


def test_a_key_without_the_ingest_scope_gets_403(client: TestClient, setup: UsageSetup) -> None:
    response = _post(client, setup.read_key, [_event("r")])
    assert response.status_code == 403
    assert "needs the ingest scope" in response.json()["detail"]


def test_a_transaction_id_is_new_again_after_the_34_day_window(client: TestClient, setup: UsageSetup) -> None:
    _post(client, setup.ingest_key, [_event("reused")])
    with UnitOfWork() as uow:
        stored = uow.session.exec(select(UsageEvent).where(UsageEvent.transaction_id == "reused")).one()
        stored.received_at = datetime.now(UTC) - timedelta(days=35)
        uow.session.add(stored)
    body = _post(client, setup.ingest_key, [_event("reused")]).json()
    assert body["results"][0]["status"] == "accepted"
    assert _stored_events() == 1


def _post_raw(client: TestClient, setup: UsageSetup, body: Any, **headers: str) -> Any:
    headers = {"Authorization": f"Bearer {setup.ingest_key}", "Content-Type": "application/json", **headers}
    return client.post("/api/v1/ingest", content=body, headers=headers)


def test_a_body_over_5_mib_is_refused_with_413_naming_the_limit(client: TestClient, setup: UsageSetup) -> None:
    padded = json.dumps([_event("big")]).encode() + b" " * MAX_BODY_BYTES
    declared = _post_raw(client, setup, padded)
    streamed = _post_raw(client, setup, iter([padded[:MAX_BODY_BYTES], padded[MAX_BODY_BYTES:]]))  # no length
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["detail"].startswith("The request body is larger than the 5 MiB limit")
    assert _stored_events() == 0


def test_a_gzip_bomb_is_refused_with_413_and_stores_nothing(client: TestClient, setup: UsageSetup) -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    events = json.dumps([_event("bomb")]).encode()
    bomb = packer.compress(events) + b"".join(packer.compress(bytes(1 << 20)) for _ in range(64)) + packer.flush()
    response = _post_raw(client, setup, bomb, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert response.json()["detail"].startswith("The decompressed body is larger than the 5 MiB limit")
    assert _stored_events() == 0


@pytest.mark.parametrize(
    ("body", "headers", "detail"),
    [
        (b"[" * 100_000, {}, "The body is not valid JSON: it is nested too deeply."),
        (b'[{"transaction_id": "\xff"}]', {}, "The body is not valid JSON: it is not UTF-8 text"),
        (gzip.compress(b"[{}]")[:-4], {"Content-Encoding": "gzip"}, "the gzip data is cut short"),
        (b"[{}]", {"Content-Encoding": "br"}, "Content-Encoding 'br' is not supported"),
    ],
    ids=["nested-too-deeply", "not-utf8", "truncated-gzip", "unsupported-encoding"],
)
def test_a_body_that_cannot_be_read_is_refused_saying_why(
    client: TestClient, setup: UsageSetup, body: bytes, headers: dict[str, str], detail: str
) -> None:
    """The first was a 500 (the JSON parser's recursion limit)."""
    response = _post_raw(client, setup, body, **headers)
    assert response.status_code == 422
    assert detail in response.json()["detail"]


def _batch(changed: list[tuple[dict[str, Any], str]]) -> list[dict[str, Any]]:
    return [valid_event(0, utcnow()), *(event for event, _field in changed)]


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values | st.lists(near_valid_events(utcnow()), min_size=1, max_size=3).map(_batch))
def test_whatever_json_is_sent_the_route_answers_200_or_422_never_500(
    client: TestClient, setup: UsageSetup, body: Any
) -> None:
    response = _post(client, setup.staff_key, body)
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        assert len(response.json()["results"]) == len(body)
