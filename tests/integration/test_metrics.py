"""Staff define billable metrics with a live preview over recent events; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from portal.api.app import create_api
from portal.db.models import utcnow
from portal.domain.metrics import UsageEvent
from portal.services import metrics
from portal.services.audit import audit_log
from portal.services.errors import Forbidden, InvalidInput
from portal.services.ingest_writer import writer
from tests.integration.conftest import CUSTOMER_USER, STAFF
from tests.support.usage import UsageSetup, usage_setup

GPT_TOKENS = {
    "name": "GPT-4o tokens",
    "event_type": "ai_usage",
    "aggregation": "sum",
    "aggregation_key": "tokens",
    "group_keys": ["user_id"],
    "filters": [{"key": "model", "op": "in", "values": ["gpt-4o"]}],
}


@pytest.fixture
def setup(database: str) -> UsageSetup:
    """Five recent events: three usable GPT-4o calls, one of another model, one with an unusable count."""
    made = usage_setup()
    at = utcnow() - timedelta(hours=2)
    calls = [("e1", "ann", "gpt-4o", "100"), ("e2", "ann", "gpt-4o", "50"), ("e3", "bob", "gpt-4o", "30"),
             ("e4", "bob", "claude", "1000"), ("e5", "cat", "gpt-4o", "abc")]  # fmt: skip
    writer().refresh_metrics()
    writer().submit(
        [
            UsageEvent(t, made.customer_id, "ai_usage", at, {"user_id": u, "model": m, "tokens": n})
            for t, u, m, n in calls
        ]
    ).result()
    return made


def test_the_preview_shows_what_matches_and_values_per_group(setup: UsageSetup) -> None:
    shown = metrics.preview(STAFF, GPT_TOKENS)
    # Read 5; the filter keeps 4 (not claude); "abc" is no number: 3 match. ann 100 + 50, bob 30.
    assert (shown.events_read, shown.matching, shown.rejected, shown.total) == (5, 3, 1, "180")
    assert [(g.group, g.value, g.events) for g in shown.groups] == [("user_id=ann", "150", 2), ("user_id=bob", "30", 1)]
    assert len(shown.reasons) == 1
    assert "abc" in shown.reasons[0]
    counted = metrics.preview(STAFF, {"name": "Calls", "event_type": "ai_usage", "aggregation": "count"})
    assert (counted.matching, counted.total, [g.group for g in counted.groups]) == (5, "5", ["(all events)"])


def test_a_saved_metric_counts_new_events_and_can_be_archived(setup: UsageSetup) -> None:
    created = metrics.create_metric(STAFF, GPT_TOKENS)
    assert (created.name, created.aggregation, created.group_keys, created.archived) == (
        "GPT-4o tokens",
        "sum",
        ("user_id",),
        False,
    )
    assert [m.name for m in metrics.list_metrics(STAFF)] == ["AI tokens", "GPT-4o tokens", "Requests"]
    archived = metrics.archive_metric(STAFF, created.id)
    assert archived.archived
    assert [m.name for m in metrics.list_metrics(STAFF)][-1] == "GPT-4o tokens"  # archived ones last
    assert [e.action for e in audit_log(STAFF, search="GPT-4o")] == ["metric.archive", "metric.create"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": " "}, "Give the metric a name"),
        ({"aggregation": "median"}, "aggregation must be one of count, sum, max, latest, unique, not 'median'"),
        ({"aggregation_key": ""}, "SUM, which needs an aggregation key"),
        ({"event_type": ""}, "needs the event type it counts"),
        ({"group_keys": ["user_id", "user_id"]}, "lists a group key twice"),
        ({"filters": [{"key": "model", "op": "like", "values": []}]}, "Unknown filter 'like'"),
        ({"name": "AI tokens"}, "already named 'AI tokens'"),
    ],
)
def test_wrong_definitions_are_refused_by_name(setup: UsageSetup, change: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        metrics.create_metric(STAFF, {**GPT_TOKENS, **change})
    assert "GPT-4o tokens" not in [m.name for m in metrics.list_metrics(STAFF)]


def test_only_staff_define_metrics(setup: UsageSetup) -> None:
    for call in (
        lambda: metrics.preview(CUSTOMER_USER, GPT_TOKENS),
        lambda: metrics.create_metric(CUSTOMER_USER, GPT_TOKENS),
        lambda: metrics.list_metrics(CUSTOMER_USER),
        lambda: metrics.archive_metric(CUSTOMER_USER, setup.tokens_metric_id),
    ):
        with pytest.raises(Forbidden):
            call()
    with TestClient(create_api()) as client:
        read = {"Authorization": f"Bearer {setup.read_key}"}
        staff = {"Authorization": f"Bearer {setup.staff_key}"}
        assert client.post("/api/v1/staff/metrics/preview", json=GPT_TOKENS, headers=read).status_code == 403
        previewed = client.post("/api/v1/staff/metrics/preview", json=GPT_TOKENS, headers=staff).json()
        assert previewed["total"] == "180"
        created = client.post("/api/v1/staff/metrics", json=GPT_TOKENS, headers=staff)
        assert created.status_code == 201
        again = client.post("/api/v1/staff/metrics", json=GPT_TOKENS, headers=staff)
        assert (again.status_code, again.json()["detail"]) == (
            422,
            "A metric is already named 'GPT-4o tokens': pick another name.",
        )
