"""Spend caps: a customer's or a seat's spend per period is capped; at the cap, ingest refuses and counts nothing.

Figures (Initech on Team, seats ann and bob; see the ``initech`` fixture): AI tokens cost 10 AI credits per 1,000
tokens and an AI credit is worth $0.01, so 1,000 tokens cost $0.10 and $50.00 buys 500,000 tokens. Spend is
counted before credits, so Team's pooled credits do not change it. Every event here is a whole number of
thousands of tokens, so the "per 1,000, rounded up" rule never rounds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, func, select

from portal.api.app import create_api
from portal.db.models import AuditEntry, UsageEvent, utcnow
from portal.db.uow import UnitOfWork
from portal.services import spend_caps
from portal.services.api_keys import ApiPrincipal, create_api_key
from portal.services.demo_catalog import TOKENS_EVENT
from portal.services.errors import Forbidden, InvalidInput, NotFound
from portal.services.identity import Identity
from portal.services.ingest import ACCEPTED, REJECTED, ingest
from tests.integration.conftest import CUSTOMER_USER, STAFF, two_months_ago


def _admin(customer_id: str) -> Identity:
    return replace(CUSTOMER_USER, customer_id=customer_id, role="admin", email="admin@initech.test")


def _member(customer_id: str, email: str) -> Identity:
    return replace(CUSTOMER_USER, customer_id=customer_id, role="member", email=email)


@pytest.fixture
def client(initech: str) -> Iterator[TestClient]:
    spend_caps.gate().forget()
    with TestClient(create_api()) as test_client:
        yield test_client


@pytest.fixture
def key(initech: str) -> str:
    return create_api_key(_admin(initech), "usage", ("ingest",), initech).token


def _event(txn: str, customer_id: str, tokens: int, user: str | None, when: datetime | None = None) -> dict[str, Any]:
    properties = {"tokens": str(tokens), **({"user_id": user} if user else {})}
    at = when or utcnow() - timedelta(minutes=5)
    return {
        "transaction_id": txn,
        "customer_id": customer_id,
        "event_type": TOKENS_EVENT,
        "timestamp": at.isoformat(),
        "properties": properties,
    }


def _send(client: TestClient, key: str, *events: dict[str, Any]) -> list[dict[str, Any]]:
    """Post ``events``, after dropping the gate's readings (as a second passing would)."""
    spend_caps.gate().forget()
    response = client.post("/api/v1/ingest", json=list(events), headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def _stored(transaction_id: str) -> bool:
    with UnitOfWork() as uow:
        query = select(func.count()).select_from(UsageEvent).where(UsageEvent.transaction_id == transaction_id)
        return bool(uow.session.exec(query).one())


def _standing(customer_id: str, seat_id: str | None, at: datetime | None = None) -> spend_caps.Standing:
    with UnitOfWork() as uow:
        found = spend_caps.standings(uow.session, customer_id, at or utcnow())
    return next(s for s in found if s.seat_id == seat_id)


def test_a_capped_seat_is_refused_while_other_seats_continue(initech: str, client: TestClient, key: str) -> None:
    spend_caps.set_cap(_admin(initech), initech, "50.00", "ann")
    assert [r["status"] for r in _send(client, key, _event("a1", initech, 499_000, "ann"))] == [ACCEPTED]  # $49.90
    assert [r["status"] for r in _send(client, key, _event("a2", initech, 2_000, "ann"))] == [ACCEPTED]  # $50.10
    ann, bob = _send(client, key, _event("a3", initech, 1_000, "ann"), _event("b1", initech, 1_000, "bob"))
    assert ann["status"] == REJECTED
    period = spend_caps.period_name(_standing(initech, "ann").period)
    assert ann["reason"] == (
        f"spend cap reached: seat ann has spent $50.10 of its $50.00 cap for {period}; "
        "ask an admin of the account to raise or remove it"
    )
    assert bob["status"] == ACCEPTED
    assert not _stored("a3")
    assert _stored("b1")
    assert _standing(initech, "ann").spent == Decimal("50.10")  # the refused event counted nothing
    assert "Your seat has reached its spend cap" in spend_caps.own_cap_notice(_member(initech, "ann"))
    assert spend_caps.own_cap_notice(_member(initech, "bob")) == ""


def test_the_cap_is_reached_exactly_at_the_boundary(initech: str, client: TestClient, key: str) -> None:
    spend_caps.set_cap(_admin(initech), initech, "50", "ann")
    _send(client, key, _event("a1", initech, 499_000, "ann"))  # $49.90: one cent short is still under the cap
    assert not _standing(initech, "ann").reached
    assert [r["status"] for r in _send(client, key, _event("a2", initech, 1_000, "ann"))] == [ACCEPTED]
    standing = _standing(initech, "ann")
    assert (standing.spent, standing.cap, standing.reached, standing.percent) == (50, 50, True, 100)  # $50.00 exactly
    (refused,) = _send(client, key, _event("a3", initech, 1_000, "ann"))
    assert refused["status"] == REJECTED
    assert refused["reason"].startswith("spend cap reached: seat ann has spent $50.00 of its $50.00 cap for ")


def test_a_customer_cap_refuses_everyone_and_raising_or_removing_it_lets_usage_in_at_once(
    initech: str, client: TestClient, key: str
) -> None:
    admin = _admin(initech)
    spend_caps.set_cap(admin, initech, "10")
    _send(client, key, _event("a1", initech, 60_000, "ann"), _event("b1", initech, 40_000, "bob"))  # $6 + $4
    results = _send(
        client,
        key,
        _event("a2", initech, 1_000, "ann"),
        _event("b2", initech, 1_000, "bob"),
        _event("n1", initech, 1_000, None),
    )
    assert [r["status"] for r in results] == [REJECTED] * 3
    assert results[1]["reason"].startswith("spend cap reached: Initech has spent $10.00 of its $10.00 cap for ")
    assert "Your account has reached its spend cap" in spend_caps.own_cap_notice(_member(initech, "bob"))
    spend_caps.set_cap(admin, initech, "10.20")  # raised: at once, without waiting for the gate's second
    response = client.post(
        "/api/v1/ingest", json=[_event("a2", initech, 1_000, "ann")], headers={"Authorization": f"Bearer {key}"}
    )
    assert response.json()["results"][0]["status"] == ACCEPTED
    assert _send(client, key, _event("b2", initech, 2_000, "bob"))[0]["status"] == ACCEPTED  # $10.10 to $10.30
    assert _send(client, key, _event("b3", initech, 1_000, "bob"))[0]["status"] == REJECTED
    spend_caps.remove_cap(admin, initech)
    response = client.post(
        "/api/v1/ingest", json=[_event("b3", initech, 1_000, "bob")], headers={"Authorization": f"Bearer {key}"}
    )
    assert response.json()["results"][0]["status"] == ACCEPTED
    with UnitOfWork() as uow:
        actions = uow.session.exec(select(AuditEntry.action).order_by(col(AuditEntry.id))).all()
    assert actions[-3:] == ["spend_cap.set", "spend_cap.set", "spend_cap.removed"]


def test_the_cap_resets_when_the_next_period_starts(initech: str) -> None:
    # The fixture's first period: ann used 500,000 tokens ($50.00), bob 200,000 ($20.00).
    spend_caps.set_cap(_admin(initech), initech, "50", "ann")
    key = ApiPrincipal("key_test", initech, ("ingest",))
    then = two_months_ago() + timedelta(days=6)
    spend_caps.gate().forget()
    refused = ingest(key, [_event("old", initech, 1_000, "ann", then)], now=then + timedelta(hours=1)).results[0]
    assert refused.status == REJECTED
    assert refused.reason.startswith("spend cap reached: seat ann has spent $50.00 of its $50.00 cap for ")
    assert refused.reason.endswith(f"for {then:%b %Y}; ask an admin of the account to raise or remove it")
    spend_caps.gate().forget()
    assert ingest(key, [_event("new", initech, 1_000, "ann")]).results[0].status == ACCEPTED
    assert _standing(initech, "ann").spent == Decimal("0.10")


def test_only_the_customers_admins_and_staff_change_its_caps(initech: str) -> None:
    with pytest.raises(Forbidden, match="Only an admin of this account or staff"):
        spend_caps.set_cap(_member(initech, "ann"), initech, "50", "ann")
    with pytest.raises(Forbidden):
        spend_caps.caps_view(_member(initech, "ann"), initech)
    with pytest.raises(NotFound):
        spend_caps.set_cap(_admin("cus_other"), initech, "50")
    with pytest.raises(NotFound):
        spend_caps.remove_cap(_admin("cus_other"), initech)
    spend_caps.set_cap(STAFF, initech, "75", "bob")
    view = spend_caps.caps_view(_admin(initech), initech)
    assert (view.unit, view.seats) == ("USD", ("ann", "bob"))
    assert [(c.holder, c.cap, c.spent, c.percent, c.reached) for c in view.caps] == [
        ("seat bob", "$75.00", "$0.00", 0, False)
    ]


@pytest.mark.parametrize(
    ("amount", "seat", "message"),
    [
        ("-5", None, r"The cap cannot be negative \(-5\)"),
        ("fifty", None, r"The cap must be an amount in USD, such as 50.00; 'fifty' is not"),
        ("", None, r"Enter the cap as an amount in USD"),
        ("1.234", None, r"The cap 1.234 has more decimal places than USD has \(2\)"),
        ("50", "zed", r"There is no seat 'zed' on Initech's plan \(its seats: ann, bob\)"),
    ],
)
def test_bad_caps_are_refused_with_what_was_wrong(initech: str, amount: str, seat: str | None, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        spend_caps.set_cap(_admin(initech), initech, amount, seat)
    with pytest.raises(NotFound, match="seat ann of Initech has no spend cap"):
        spend_caps.remove_cap(_admin(initech), initech, "ann")
