"""The writer process: events committed in a child process, answers routed back, a clean stop."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.db.models import utcnow
from portal.domain.metrics import UsageEvent
from portal.services.ingest_writer import ProcessWriter, WriterStopped
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
