"""The writer process: events committed in a child process, answers routed back, a clean stop."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from portal.db.models import utcnow
from portal.domain.metrics import UsageEvent
from portal.services.ingest_writer import ProcessWriter, ThreadWriter, WriterStopped, process_writer, writer
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
