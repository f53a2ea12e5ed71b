"""Alert rules: state changes on crossing only, at the documented boundary, per period, within a second of ingest.

Figures (Initech on Team, seats ann and bob; see the ``initech`` fixture): Team pools 6,000 AI credits a month;
AI tokens cost 10 AI credits per 1,000 tokens and an AI credit is worth $0.01, so 1,000 tokens draw 10 credits
and cost $0.10. The fixture's first period (two months ago) holds ann's 500,000 and bob's 200,000 tokens ($70.00);
the current period starts with no usage. "Below" is strictly below; "above" is at or above.
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from portal.api.app import create_api
from portal.db.models import AlertStateChange, Contract, GrantRow, User, WebhookEvent, utcnow
from portal.db.uow import UnitOfWork
from portal.domain.metrics import UsageEvent
from portal.services import alerts, notifications, spend_caps
from portal.services.api_keys import ApiPrincipal, create_api_key
from portal.services.billing import provision
from portal.services.customers import create_customer
from portal.services.demo_catalog import CREDITS, TOKENS_EVENT, ensure_catalog, ensure_tiers
from portal.services.errors import Forbidden, InvalidInput, NotFound
from portal.services.identity import Identity
from portal.services.ingest import ACCEPTED, ingest
from portal.services.staff_customers import grant_credits
from tests.integration.conftest import CUSTOMER_USER, STAFF, two_months_ago
from tests.support.mail import Outbox
from tests.support.settings import settings_env


@pytest.fixture
def admin(initech: str) -> Identity:
    """Initech's admin, a real user (notifications are per user)."""
    with UnitOfWork() as uow:
        user = User(email="admin@initech.test", name="Ada Admin", customer_id=initech, role="admin")
        uow.session.add(user)
        uow.session.flush()
        user_id = user.id
    return replace(CUSTOMER_USER, user_id=user_id, customer_id=initech, role="admin", email="admin@initech.test")


def _member(customer_id: str) -> Identity:
    return replace(CUSTOMER_USER, user_id="usr_member", customer_id=customer_id, role="member", email="ann@x.test")


def _event(txn: str, customer_id: str, tokens: int, user: str, when: datetime) -> dict[str, Any]:
    return {
        "transaction_id": txn,
        "customer_id": customer_id,
        "event_type": TOKENS_EVENT,
        "timestamp": when.isoformat(),
        "properties": {"tokens": str(tokens), "user_id": user},
    }


def _use(customer_id: str, txn: str, tokens: int, user: str = "ann", when: datetime | None = None) -> None:
    """Store one event and evaluate as the watcher does after it."""
    at = when or utcnow() - timedelta(minutes=5)
    spend_caps.gate().forget()
    key = ApiPrincipal("key_test", customer_id, ("ingest",))
    (result,) = ingest(key, [_event(txn, customer_id, tokens, user, at)], now=at + timedelta(hours=1)).results
    assert result.status == ACCEPTED, result.reason
    alerts.evaluate(customer_id, {at: txn}, txn)


def _changes(rule_id: str) -> list[tuple[str, str, Decimal, str]]:
    with UnitOfWork() as uow:
        rows = uow.session.exec(
            select(AlertStateChange).where(AlertStateChange.rule_id == rule_id).order_by(col(AlertStateChange.id))
        ).all()
        return [(r.from_state, r.to_state, r.value, r.cause) for r in rows]


def test_a_low_balance_fires_strictly_below_the_threshold(initech: str, admin: Identity, outbox: Outbox) -> None:
    rule = alerts.create_rule(admin, initech, alerts.BALANCE_BELOW, "5000")
    assert (rule.state, rule.subject) == (alerts.OK, "pooled credit")
    _use(initech, "b1", 100_000)  # 1,000 credits: 5,000 left, exactly the threshold, which is not below it
    assert _changes(rule.id) == []
    _use(initech, "b2", 1_000)  # 4,990 left
    assert _changes(rule.id) == [(alerts.OK, alerts.ALARM, Decimal("4990"), "b2")]
    _use(initech, "b3", 1_000)  # still in alarm: no new change
    assert len(_changes(rule.id)) == 1
    (listed,) = alerts.rules(admin, initech)
    assert (listed.state, listed.value) == (alerts.ALARM, Decimal("4990"))  # as it went into alarm
    (mail,) = outbox.to("admin@initech.test")
    assert "Credit balance below 5000 (pooled credit): the value is now 4990" in mail
    assert notifications.unread_count(admin) == 1
    (note,) = notifications.recent(admin)
    assert note.title == "Alert: credit balance below 5000"
    assert not note.read


def test_spend_and_usage_fire_at_the_threshold(initech: str, admin: Identity) -> None:
    spend = alerts.create_rule(admin, initech, alerts.SPEND_ABOVE, "10.00")
    anns = alerts.create_rule(
        admin, initech, alerts.USAGE_ABOVE, "50000", metric_id="met_ai_tokens", group_key="user_id", group_value="ann"
    )
    assert anns.subject == "metric met_ai_tokens, user_id=ann"
    _use(initech, "u1", 60_000, "bob")  # $6.00; bob's tokens are not ann's
    _use(initech, "u2", 39_000, "ann")  # $9.90, ann 39,000
    assert _changes(spend.id) == _changes(anns.id) == []
    _use(initech, "u3", 1_000, "ann")  # $10.00 exactly: at the threshold is above it
    assert _changes(spend.id) == [(alerts.OK, alerts.ALARM, Decimal("10.00"), "u3")]
    assert _changes(anns.id) == []
    _use(initech, "u4", 10_000, "ann")  # ann 50,000 exactly
    assert _changes(anns.id) == [(alerts.OK, alerts.ALARM, Decimal("50000"), "u4")]


def test_a_flapping_balance_fires_once_per_crossing(initech: str, admin: Identity, outbox: Outbox) -> None:
    rule = alerts.create_rule(admin, initech, alerts.BALANCE_BELOW, "5000")
    _use(initech, "f1", 101_000)  # 4,990 left: into alarm
    _use(initech, "f2", 1_000)  # 4,980: still in alarm
    grant_credits(STAFF, initech, "100", CREDITS, "goodwill")  # 5,080: back to ok (no event caused it)
    alerts.evaluate(initech)
    _use(initech, "f3", 1_000)  # 5,070: still ok
    _use(initech, "f4", 8_000)  # 4,990: into alarm again
    assert _changes(rule.id) == [
        (alerts.OK, alerts.ALARM, Decimal("4990"), "f1"),
        (alerts.ALARM, alerts.OK, Decimal("5080"), alerts.EVALUATION),
        (alerts.OK, alerts.ALARM, Decimal("4990"), "f4"),
    ]
    assert len(outbox.to("admin@initech.test")) == 2  # mailed when it fires, not when it resolves
    assert [n.title.split(":")[0] for n in notifications.recent(admin)] == ["Alert", "Resolved", "Alert"]
    with UnitOfWork() as uow:
        events = uow.session.exec(select(WebhookEvent).order_by(col(WebhookEvent.created_at))).all()
        sent = [(e.type, e.payload["to"], e.payload["cause"]) for e in events if e.type.startswith("alert.")]
    assert sent == [
        ("alert.triggered", alerts.ALARM, "f1"),
        ("alert.resolved", alerts.OK, alerts.EVALUATION),
        ("alert.triggered", alerts.ALARM, "f4"),
    ]


def test_a_backfilled_event_crosses_the_threshold_of_its_past_period(initech: str, admin: Identity) -> None:
    rule = alerts.create_rule(admin, initech, alerts.SPEND_ABOVE, "70.10")  # the first period spent $70.00
    first = two_months_ago()
    _use(initech, "late", 1_000, "bob", first + timedelta(days=6))  # $70.10 in the first period
    with UnitOfWork() as uow:
        (change,) = uow.session.exec(select(AlertStateChange).where(AlertStateChange.rule_id == rule.id)).all()
    assert (change.to_state, change.value, change.cause, change.period_start) == (
        alerts.ALARM,
        Decimal("70.10"),
        "late",
        first,
    )
    assert alerts.rules(admin, initech)[0].state == alerts.ALARM
    _use(initech, "now", 1_000, "bob")  # the current period ($0.10) is judged on its own and stays ok
    assert len(_changes(rule.id)) == 1


@pytest.fixture
def client(initech: str) -> Iterator[TestClient]:
    spend_caps.gate().forget()
    with TestClient(create_api()) as test_client:
        yield test_client


def test_the_watcher_fires_within_a_second_of_ingest(initech: str, admin: Identity, client: TestClient) -> None:
    rule = alerts.create_rule(admin, initech, alerts.SPEND_ABOVE, "1")
    token = create_api_key(admin, "usage", ("ingest",), initech).token
    event = _event("w1", initech, 10_000, "ann", utcnow() - timedelta(minutes=1))  # $1.00
    sent = time.monotonic()
    response = client.post("/api/v1/ingest", json=[event], headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    while not _changes(rule.id) and time.monotonic() - sent < 1:
        time.sleep(0.02)
    assert _changes(rule.id) == [(alerts.OK, alerts.ALARM, Decimal("1.00"), "w1")]


def test_only_the_customers_admins_and_staff_manage_its_alerts(initech: str, admin: Identity) -> None:
    with pytest.raises(Forbidden):
        alerts.create_rule(_member(initech), initech, alerts.SPEND_ABOVE, "1")
    with pytest.raises(NotFound):
        alerts.create_rule(CUSTOMER_USER, initech, alerts.SPEND_ABOVE, "1")  # another customer's admin
    rule = alerts.create_rule(STAFF, initech, alerts.SPEND_ABOVE, "1")
    assert [r.id for r in alerts.rules(admin, initech)] == [rule.id]
    with pytest.raises(Forbidden):
        alerts.rules(_member(initech), initech)
    with pytest.raises(NotFound):
        alerts.delete_rule(CUSTOMER_USER, rule.id)
    with pytest.raises(Forbidden):
        alerts.delete_rule(_member(initech), rule.id)
    alerts.delete_rule(admin, rule.id)
    assert alerts.rules(admin, initech) == []


def test_bad_rules_are_refused_with_a_reason(initech: str, admin: Identity) -> None:
    cases: list[tuple[str, object, dict[str, str], str]] = [
        ("sometimes", "1", {}, "Unknown kind of alert 'sometimes'"),
        (alerts.SPEND_ABOVE, "", {}, "Enter a threshold"),
        (alerts.SPEND_ABOVE, "lots", {}, "The threshold 'lots' is not a number"),
        (alerts.SPEND_ABOVE, "-1", {}, "The threshold cannot be negative"),
        (alerts.USAGE_ABOVE, "1", {}, "Choose the metric"),
        (alerts.USAGE_ABOVE, "1", {"metric_id": "met_nope"}, "There is no metric met_nope"),
        (alerts.USAGE_ABOVE, "1", {"metric_id": "met_ai_tokens", "group_key": "colour", "group_value": "red"}, ""),
        (alerts.USAGE_ABOVE, "1", {"metric_id": "met_ai_tokens", "group_key": "user_id"}, "Give both"),
    ]
    for kind, threshold, extra, reason in cases:
        with pytest.raises(InvalidInput) as refused:
            alerts.create_rule(admin, initech, kind, threshold, **extra)
        assert reason in str(refused.value)
    assert alerts.rules(admin, initech) == []


def test_a_user_reads_only_their_own_notifications(initech: str, admin: Identity) -> None:
    alerts.create_rule(admin, initech, alerts.SPEND_ABOVE, "0")  # at or above zero: in alarm at once
    (note,) = notifications.recent(admin)
    other = replace(admin, user_id="usr_other")
    assert notifications.mark_read(other, note.id) == 0
    assert notifications.unread_count(admin) == 1
    assert notifications.mark_read(admin, note.id) == 1
    assert notifications.unread_count(admin) == 0
    assert notifications.recent(admin)[0].read


class _Server:
    """Stands in for :class:`smtplib.SMTP`: records the connection and the messages sent through it."""

    sent: ClassVar[list[tuple[str, int, bool, EmailMessage]]] = []

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.tls = host, port, False

    def __enter__(self) -> _Server:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def starttls(self) -> None:
        self.tls = True

    def send_message(self, message: EmailMessage) -> None:
        self.sent.append((self.host, self.port, self.tls, message))


def test_a_firing_alert_is_mailed_over_smtp_when_a_server_is_configured(
    initech: str, admin: Identity, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(smtplib, "SMTP", _Server)
    _Server.sent = []
    with settings_env({"SMTP_HOST": "mail.initech.test", "SMTP_PORT": "2525", "MAIL_FROM": "alerts@portal.test"}):
        alerts.create_rule(admin, initech, alerts.SPEND_ABOVE, "0")  # at or above zero: in alarm at once
    ((host, port, tls, message),) = _Server.sent
    assert (host, port, tls) == ("mail.initech.test", 2525, True)
    assert (message["From"], message["To"]) == ("alerts@portal.test", "admin@initech.test")
    assert message["Subject"] == "Portal: Alert: spend in the period at or above 0"
    assert "the value is now 0 (billing period" in message.get_content()
    assert outbox.to("admin@initech.test") == []  # sent, not written to the log


def test_a_change_recorded_meanwhile_by_another_process_is_not_recorded_twice(
    initech: str, admin: Identity, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    rule = alerts.create_rule(admin, initech, alerts.SPEND_ABOVE, "1.00")
    key = ApiPrincipal("key_test", initech, ("ingest",))
    at = utcnow() - timedelta(minutes=5)
    ingest(key, [_event("c1", initech, 10_000, "ann", at)])  # $1.00
    readings = alerts._readings
    interleaved: list[alerts.Change] = []
    calls: list[int] = []

    def another_process_first(*args: Any) -> Any:
        found = readings(*args)
        calls.append(1)
        if len(calls) == 1:  # the other process judges and commits between our reading and our writing
            interleaved.extend(alerts.evaluate(initech, {at: "c1"}, "c1"))
        return found

    monkeypatch.setattr(alerts, "_readings", another_process_first)
    assert alerts.evaluate(initech, {at: "c1"}, "c1") == []  # ours ran again and found the change made
    assert [c.to_state for c in interleaved] == [alerts.ALARM]
    assert _changes(rule.id) == [(alerts.OK, alerts.ALARM, Decimal("1.00"), "c1")]
    assert len(outbox.to("admin@initech.test")) == 1
    assert notifications.unread_count(admin) == 1


def test_a_seats_allowance_below_the_threshold_fires_for_that_seat_only(database: str) -> None:
    # Business: 4,000 AI credits per seat each period; its 20% token discount makes 1,000 tokens draw 8 credits.
    with UnitOfWork() as uow:
        ensure_catalog(uow.session)
        ensure_tiers(uow.session)
    customer_id = create_customer(STAFF, "Globex").id
    provision(STAFF, customer_id, "business", 5, ("ann", "bob"), at=two_months_ago())
    ann = alerts.create_rule(STAFF, customer_id, alerts.BALANCE_BELOW, "3000", seat_id="ann")
    bob = alerts.create_rule(STAFF, customer_id, alerts.BALANCE_BELOW, "3000", seat_id="bob")
    assert ann.subject == "seat ann"
    _use(customer_id, "s1", 125_000, "ann")  # 1,000 credits: 3,000 left, exactly the threshold
    assert _changes(ann.id) == []
    _use(customer_id, "s2", 1_000, "ann")  # 2,992 left
    assert _changes(ann.id) == [(alerts.OK, alerts.ALARM, Decimal("2992"), "s2")]
    assert _changes(bob.id) == []


def test_a_grants_balance_below_the_threshold_fires(initech: str, admin: Identity) -> None:
    start = utcnow() - timedelta(hours=2)  # before the events
    grant = grant_credits(STAFF, initech, "500", CREDITS, "launch bonus", starting_at=start)
    (choice,) = [c for c in alerts.grant_choices(admin, initech) if c[0] == grant.id]
    assert choice == (grant.id, f"launch bonus ({grant.id})")
    rule = alerts.create_rule(admin, initech, alerts.BALANCE_BELOW, "100", grant_id=grant.id)
    assert rule.subject == f"grant {grant.id}"
    _use(initech, "g1", 640_000)  # 6,400 credits: the plan's 6,000 pooled first, then 400 of the grant: 100 left
    assert _changes(rule.id) == []
    _use(initech, "g2", 1_000)  # 90 left
    assert _changes(rule.id) == [(alerts.OK, alerts.ALARM, Decimal("90"), "g2")]
    with pytest.raises(InvalidInput, match="There is no grant grt_nope on this account"):
        alerts.create_rule(admin, initech, alerts.BALANCE_BELOW, "1", grant_id="grt_nope")
    with pytest.raises(InvalidInput, match="either a seat's balance or a grant's"):
        alerts.create_rule(admin, initech, alerts.BALANCE_BELOW, "1", grant_id=grant.id, seat_id="ann")


def test_commitment_pacing_ahead_and_behind_plan(initech: str, admin: Identity) -> None:
    # A 1,000-credit commitment over 20 days, drawn before the plan's pool (priority 1), judged half-way through.
    now = utcnow()
    with UnitOfWork() as uow:
        contract_id = uow.session.exec(select(Contract.id).where(Contract.customer_id == initech)).one()
        grant = GrantRow(
            contract_id=contract_id,
            kind="commit",
            credit_type_id=CREDITS,
            amount=Decimal(1000),
            starting_at=now - timedelta(days=10),
            ending_before=now + timedelta(days=10),
            priority=1,
            reason="annual commitment",
        )
        uow.session.add(grant)
        grant_id = grant.id
    ahead = alerts.create_rule(admin, initech, alerts.PACING_AHEAD, "10", grant_id=grant_id)
    behind = alerts.create_rule(admin, initech, alerts.PACING_BEHIND, "40", grant_id=grant_id)
    assert (ahead.state, behind.state) == (alerts.OK, alerts.ALARM)  # nothing used half-way: 50 points behind
    at = now - timedelta(minutes=5)
    key = ApiPrincipal("key_test", initech, ("ingest",))
    for txn, tokens in (("p1", 20_000), ("p2", 40_000)):  # 200 credits (20% used), then 600 (60% used)
        assert ingest(key, [_event(txn, initech, tokens, "ann", at)]).results[0].status == ACCEPTED
        alerts.evaluate(initech, {at: txn}, txn, at=now)
    assert _changes(behind.id)[1:] == [(alerts.ALARM, alerts.OK, Decimal("30.00"), "p1")]  # 30 points behind
    assert _changes(ahead.id) == [(alerts.OK, alerts.ALARM, Decimal("10.00"), "p2")]  # exactly 10 points ahead
    with pytest.raises(InvalidInput, match="Choose the commitment"):
        alerts.create_rule(admin, initech, alerts.PACING_AHEAD, "10")
    endless = grant_credits(STAFF, initech, "5", CREDITS, "no end")
    with pytest.raises(InvalidInput, match="never ends"):
        alerts.create_rule(admin, initech, alerts.PACING_BEHIND, "10", grant_id=endless.id)


def test_the_watcher_evaluates_every_customer_even_when_one_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    evaluated: list[tuple[str, dict[datetime, str], str | None]] = []

    def evaluate(customer_id: str, events: dict[datetime, str], last: str | None) -> list[alerts.Change]:
        if customer_id == "cus_a":
            raise RuntimeError("the database went away")
        evaluated.append((customer_id, events, last))
        return []

    monkeypatch.setattr(alerts, "evaluate", evaluate)
    monkeypatch.setattr(alerts, "with_rules", lambda customer_ids: customer_ids)  # as if both had rules
    watcher = alerts.AlertRuleWatcher()
    hour = datetime(2026, 11, 24, 10, tzinfo=UTC)
    events = [UsageEvent(txn, customer, TOKENS_EVENT, hour + timedelta(minutes=5)) for txn, customer in
              (("a1", "cus_a"), ("b1", "cus_b"), ("b2", "cus_b"))]  # fmt: skip
    with watcher._lock:  # noted without waking the thread, to handle them here
        watcher._batches = [(frozenset({"cus_a", "cus_b"}), events)]
    watcher.handle({"cus_a"})  # cus_b's usage was stored while the round started: handled in this round too
    assert evaluated == [("cus_b", {hour: "b2"}, "b2")]
    assert "Evaluating the alerts of cus_a failed" in caplog.text


@pytest.fixture
def staff_user(database: str) -> Identity:
    """A staff member with a user account (notifications are per user)."""
    with UnitOfWork() as uow:
        user = User(email=STAFF.email, name="Sam Staff", is_staff=True)
        uow.session.add(user)
        uow.session.flush()
        user_id = user.id
    return replace(STAFF, user_id=user_id)


def _changes_of(rule_id: str, customer_id: str) -> list[tuple[str, str, Decimal, str]]:
    with UnitOfWork() as uow:
        query = select(AlertStateChange).where(
            AlertStateChange.rule_id == rule_id, AlertStateChange.customer_id == customer_id
        )
        rows = uow.session.exec(query.order_by(col(AlertStateChange.id))).all()
        return [(r.from_state, r.to_state, r.value, r.cause) for r in rows]


def test_an_all_customer_rule_fires_for_each_customer_as_it_crosses_and_tells_staff(
    initech: str, admin: Identity, staff_user: Identity, outbox: Outbox
) -> None:
    globex = create_customer(STAFF, "Globex").id
    provision(STAFF, globex, "team", 3, ("cy",), at=two_months_ago())  # Team, like Initech, nothing used this period
    rule = alerts.create_rule(staff_user, None, alerts.SPEND_ABOVE, "1.00")  # judged for both at once: $0, ok
    assert (rule.customer_id, rule.state, rule.in_alarm, rule.subject) == (None, alerts.OK, (), "customer")
    _use(initech, "a1", 10_000)  # Initech $1.00: at the threshold
    _use(globex, "g1", 5_000, "cy")  # Globex $0.50
    assert _changes_of(rule.id, initech) == [(alerts.OK, alerts.ALARM, Decimal("1.00"), "a1")]
    assert _changes_of(rule.id, globex) == []
    _use(initech, "a2", 1_000)  # Initech $1.10: still in alarm, no new change
    _use(globex, "g2", 5_000, "cy")  # Globex $1.00: crosses on its own
    assert _changes_of(rule.id, initech) == [(alerts.OK, alerts.ALARM, Decimal("1.00"), "a1")]
    assert _changes_of(rule.id, globex) == [(alerts.OK, alerts.ALARM, Decimal("1.00"), "g2")]
    (listed,) = alerts.all_customer_rules(staff_user)
    assert (listed.state, listed.in_alarm) == (alerts.ALARM, ("Globex", "Initech"))
    # Staff are told, in the app and by mail to the rule's creator; the customer's admins and webhooks are not.
    assert [n.title for n in notifications.recent(staff_user)] == [
        "Alert: spend in the period at or above 1.00 (Globex)",
        "Alert: spend in the period at or above 1.00 (Initech)",
    ]
    assert len(outbox.to(STAFF.email)) == 2
    assert "Initech: Spend in the period at or above 1.00 (customer): the value is now 1" in outbox.to(STAFF.email)[0]
    assert notifications.recent(admin) == []
    assert outbox.to("admin@initech.test") == []
    with UnitOfWork() as uow:
        assert uow.session.exec(select(WebhookEvent).where(col(WebhookEvent.type).startswith("alert."))).all() == []
    assert alerts.rules(admin, initech) == []  # customers never see it
    assert alerts.rules(staff_user, initech) == []  # nor is it listed as one customer's
    alerts.delete_rule(staff_user, rule.id)
    assert alerts.all_customer_rules(staff_user) == []
    assert _changes_of(rule.id, initech) == []


def test_the_watcher_evaluates_only_customers_that_a_rule_watches(
    initech: str, admin: Identity, staff_user: Identity
) -> None:
    globex = create_customer(STAFF, "Globex").id
    assert alerts.with_rules({initech, globex}) == set()  # no rules: a round over both reads nothing else
    alerts.create_rule(admin, initech, alerts.SPEND_ABOVE, "1.00")
    assert alerts.with_rules({initech, globex}) == {initech}
    everyone = alerts.create_rule(staff_user, None, alerts.SPEND_ABOVE, "5.00")
    assert alerts.with_rules({initech, globex}) == {initech, globex}
    alerts.delete_rule(staff_user, everyone.id)
    assert alerts.with_rules({globex}) == set()


def test_only_staff_manage_all_customer_rules(initech: str, admin: Identity, staff_user: Identity) -> None:
    for someone in (admin, _member(initech)):
        with pytest.raises(Forbidden, match="Only staff manage alerts for every customer"):
            alerts.create_rule(someone, None, alerts.SPEND_ABOVE, "1")
        with pytest.raises(Forbidden):
            alerts.all_customer_rules(someone)
    rule = alerts.create_rule(staff_user, None, alerts.BALANCE_BELOW, "100")
    with pytest.raises(Forbidden):
        alerts.delete_rule(admin, rule.id)
    with pytest.raises(Forbidden):
        alerts.history(admin, rule.id)
    assert [r.id for r in alerts.all_customer_rules(staff_user)] == [rule.id]


def test_seat_grant_and_pacing_kinds_are_refused_for_every_customer(staff_user: Identity) -> None:
    cases: list[tuple[str, dict[str, str], str]] = [
        (alerts.PACING_AHEAD, {}, "An alert for every customer cannot be 'commitment used ahead of plan"),
        (alerts.PACING_BEHIND, {"grant_id": "grt_x"}, "An alert for every customer cannot be"),
        (alerts.BALANCE_BELOW, {"seat_id": "ann"}, "Seats and grants belong to one customer"),
        (alerts.BALANCE_BELOW, {"grant_id": "grt_x"}, "Seats and grants belong to one customer"),
        (alerts.SPEND_ABOVE, {"seat_id": "ann"}, "Seats and grants belong to one customer"),
    ]
    for kind, extra, reason in cases:
        with pytest.raises(InvalidInput) as refused:
            alerts.create_rule(staff_user, None, kind, "10", **extra)
        assert reason in str(refused.value)
    assert alerts.all_customer_rules(staff_user) == []
