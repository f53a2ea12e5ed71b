"""Usage aggregated by the database over a draft's windows equals usage aggregated from the loaded rollups."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import event

from portal.db.event_store import event_store
from portal.db.loaders import StoredUsage
from portal.db.models import BillableMetricRow, Customer, utcnow
from portal.db.repositories import metric_from_row
from portal.db.uow import UnitOfWork
from portal.domain.metrics import AggregationState, BucketedUsage, GroupValues, LatestState, UsageEvent
from portal.domain.periods import Period
from portal.services.ingest_writer import Committer

KINDS = [
    ("sum", "tokens", ["user_id", "model"]),
    ("count", None, ["user_id"]),
    ("max", "tokens", []),
    ("unique", "user_id", ["model"]),
    ("latest", "tokens", ["user_id"]),
]


@pytest.fixture
def stored(database: str) -> tuple[str, list[BillableMetricRow], Period]:
    """A customer with 2,000 events over 72 hours measured by one metric of each aggregation."""
    with UnitOfWork() as uow:
        customer = Customer(name="Hooli")
        rows = [
            BillableMetricRow(name=kind, event_type="call", aggregation=kind, aggregation_key=key, group_keys=groups)
            for kind, key, groups in KINDS
        ]
        uow.session.add_all([customer, *rows])
        uow.session.flush()
        customer_id = customer.id
        for row in rows:
            uow.session.refresh(row)
        uow.session.expunge_all()
    start = (utcnow() - timedelta(days=4)).replace(minute=0, second=0, microsecond=0)
    Committer().commit([_events(customer_id, start)])
    return customer_id, rows, Period(start, start + timedelta(hours=72))


def _events(customer_id: str, start: datetime) -> list[UsageEvent]:
    """2,000 events of ``customer_id`` over the 72 hours from ``start`` (the same ones for every customer)."""
    rnd = random.Random(7)
    return [
        UsageEvent(
            f"{customer_id}-e{n}",
            customer_id,
            "call",
            start + timedelta(minutes=rnd.randrange(72 * 60), seconds=n % 60),
            {
                "tokens": f"{rnd.randint(1, 5000)}.{rnd.randint(0, 99)}",
                "user_id": f"u{rnd.randrange(7)}",
                "model": rnd.choice(["a", "b"]),
            },
        )
        for n in range(2000)
    ]


def _rollups(customer_id: str, span: Period) -> dict[tuple[str, str, datetime], AggregationState]:
    """The customer's rollups by metric, group and hour (the latest event named without the customer's prefix)."""
    with UnitOfWork() as uow:
        loaded = event_store(uow.session.connection()).load_rollups([customer_id], span.start, span.end)
    return {
        (key.metric_id, key.group_values, key.bucket_start): (
            replace(state, transaction_id=state.transaction_id.removeprefix(customer_id))
            if isinstance(state, LatestState)
            else state
        )
        for key, state in loaded
    }


def test_rollups_merged_over_many_commits_equal_those_of_one_commit(
    stored: tuple[str, list[BillableMetricRow], Period],
) -> None:
    customer_id, _, span = stored
    with UnitOfWork() as uow:
        other = Customer(name="Hooli in pieces")
        uow.session.add(other)
        uow.session.flush()
        other_id = other.id
    events = _events(other_id, span.start)
    cuts = [0, 1, 2, 40, 41, 500, 1300, 1999, 2000]  # the database merges each commit into the rows stored before
    committer = Committer()
    for a, b in pairwise(cuts):
        committer.commit([events[a:b]])
    expected = _rollups(customer_id, span)
    assert {kind for kind, *_ in KINDS} <= {type(s).__name__.removesuffix("State").lower() for s in expected.values()}
    assert _rollups(other_id, span) == expected


@pytest.mark.parametrize("cuts", [[], [5], [1, 24, 47, 71]])
def test_the_database_groups_what_the_rollups_add_up_to(
    stored: tuple[str, list[BillableMetricRow], Period], cuts: list[int]
) -> None:
    customer_id, rows, span = stored
    metrics = [metric_from_row(row) for row in rows]
    bounds = [span.start, *(span.start + timedelta(hours=h) for h in cuts), span.end]
    windows = [Period(a, b) for a, b in pairwise(bounds)]
    with UnitOfWork() as uow:
        connection = uow.session.connection()
        by_metric: dict[str, dict[tuple[datetime, GroupValues], AggregationState]] = {}
        for key, state in event_store(connection).load_rollups([customer_id], span.start, span.end):
            group = tuple(json.loads(key.group_values))
            by_metric.setdefault(key.metric_id, {})[(key.bucket_start, group)] = state
        expected = BucketedUsage(by_metric).aggregate(metrics, windows)
        usage = StoredUsage(connection, customer_id)
        found = usage.aggregate(metrics, windows)
        assert usage.aggregate(metrics, windows) is found  # read once, kept
    for metric in metrics:
        assert dict(found[metric.id].states) == dict(expected[metric.id].states), metric.aggregation
        assert found[metric.id].windows == expected[metric.id].windows
    assert sum(len(found[m.id].states) for m in metrics) > 20


def test_consecutive_drafts_are_read_together_and_give_the_same_usage(
    stored: tuple[str, list[BillableMetricRow], Period],
) -> None:
    customer_id, rows, span = stored
    metrics = [metric_from_row(row) for row in rows]
    day = timedelta(hours=24)
    plans = [
        (metrics, [Period(span.start, span.start + day)]),
        (metrics[:2], [Period(span.start + day, span.start + day * 1.5), Period(span.start + day * 1.5, span.end)]),
    ]
    with UnitOfWork() as uow:
        connection = uow.session.connection()
        together = StoredUsage(connection, customer_id)
        together.prefetch(plans)
        queries: list[str] = []

        def record(*args: Any) -> None:
            queries.append(args[2])

        event.listen(connection, "before_cursor_execute", record)
        kept_by_plan = [together.aggregate(chosen, windows) for chosen, windows in plans]
        event.remove(connection, "before_cursor_execute", record)
        assert queries == []  # both drafts' usage came from the one prefetching query
        for (chosen, windows), kept in zip(plans, kept_by_plan, strict=True):
            alone = StoredUsage(connection, customer_id).aggregate(chosen, windows)
            assert kept.keys() == alone.keys()
            for metric_id, aggregation in kept.items():
                assert aggregation == alone[metric_id]
                assert dict(aggregation.states) == dict(alone[metric_id].states)
                assert aggregation.states
