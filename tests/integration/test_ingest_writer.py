"""The writer process: events committed in a child process, answers routed back, a clean stop."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from portal.db.event_store import event_store
from portal.db.models import utcnow
from portal.db.uow import UnitOfWork
from portal.domain.metrics import UsageEvent, quantity
from portal.services.ingest_writer import Committer, ProcessWriter, ThreadWriter, WriterStopped, process_writer, writer
from tests.support.database import use_database
from tests.support.usage import UsageSetup, usage_setup


@pytest.fixture
def setup(database: str) -> UsageSetup:
    return usage_setup()


def _events(customer_id: str, *ids: str) -> list[UsageEvent]:
    when = utcnow() - timedelta(minutes=1)
    return [UsageEvent(t, customer_id, "ai_usage", when, {"tokens": "5", "user_id": "u"}) for t in ids]


def test_the_writer_process_commits_and_answers_each_request(database: str, setup: UsageSetup) -> None:
    writer = ProcessWriter(database)
    writer.start()
    try:
        first = writer.submit(_events(setup.customer_id, "a", "b"))
        second = writer.submit(_events(setup.customer_id, "b", "c"))
        assert {t: s.new for t, s in first.result(timeout=60).items()} == {"a": True, "b": True}
        assert {t: s.new for t, s in second.result(timeout=60).items()} == {"b": False, "c": True}
    finally:
        writer.stop()
    refused = writer.submit(_events(setup.customer_id, "d"))
    with pytest.raises(WriterStopped, match="not running"):
        refused.result(timeout=5)


def test_a_server_on_another_database_never_takes_this_databases_events(database: str, tmp_path: Path) -> None:
    async def while_a_server_runs_elsewhere() -> tuple[object, object]:
        with use_database(f"sqlite:///{tmp_path / 'elsewhere.db'}"):
            async with process_writer():
                there = writer()
                with use_database(database):
                    here = writer()
        return there, here

    there, here = asyncio.run(while_a_server_runs_elsewhere())
    assert isinstance(there, ProcessWriter)
    assert isinstance(here, ThreadWriter)


def test_one_commit_touching_thousands_of_rollups_stores_them_all(database: str, setup: UsageSetup) -> None:
    """A group commit can touch more rollups than SQLite allows terms in one expression (about 1,000)."""
    start = (utcnow() - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    events = [
        UsageEvent(f"many-{n}", setup.customer_id, "ai_usage", start + timedelta(hours=n // 50), properties)
        for n in range(3000)
        for properties in [{"tokens": "2", "user_id": f"u{n % 50}"}]
    ]
    committer = Committer()
    (stored,) = committer.commit([events])
    assert sum(outcome.new for outcome in stored.values()) == 3000
    again = [
        UsageEvent(f"x-{e.transaction_id}", e.customer_id, e.event_type, e.timestamp, e.properties) for e in events
    ]
    committer.commit([again])
    with UnitOfWork() as uow:
        rollups = event_store(uow.session.connection()).load_rollups(
            [setup.customer_id], start, start + timedelta(hours=60)
        )
    tokens = [state for key, state in rollups if key.metric_id == setup.tokens_metric_id]
    # 60 hours × 50 users: 3,000 rollups of the token sum, each merged twice (2 + 2 tokens).
    assert len(tokens) == 3000
    assert {quantity(state) for state in tokens} == {4}
