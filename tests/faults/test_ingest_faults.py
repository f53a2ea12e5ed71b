"""Faults during ingest: the API server killed with SIGKILL mid-stream, and the database restarted under it.

Client threads send 100-event batches over real HTTP to the API in its own process (``tests/support/api_server``)
and keep their own record of what they sent and what was acknowledged (:mod:`tests.faults.ingest_clients`).
After the fault and the clients' retries: every acknowledged transaction id is stored exactly once with the
tokens sent, nothing is stored that was neither acknowledged nor given up on, and the customer's usage read
through the API (from the hourly rollups) equals the sum over the distinct stored events. The server's writer
process (``portal run`` commits usage in one) meets the database's outage too, and says to try again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlmodel import func, select

from portal.db.models import UsageEvent, utcnow
from portal.db.uow import UnitOfWork
from portal.domain.metrics import UsageEvent as UsageEventIn
from portal.services.ingest_writer import DATABASE_UNAVAILABLE, ProcessWriter, WriterStopped
from tests.faults.ingest_clients import Client, Ledger, Target, batches, run_clients
from tests.support.api_server import running_api
from tests.support.database import migrated, new_postgres_database
from tests.support.postgres import restartable_postgres
from tests.support.usage import UsageSetup, usage_setup

pytestmark = [pytest.mark.faults, pytest.mark.slow]

CLIENTS, BATCHES_EACH = 4, 10
FAULT_AFTER = 1200
"""The fault strikes once this many events are acknowledged (of 4,000): clients are mid-stream."""


def _hours_ago() -> datetime:
    return utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=7)


def _clients(target: Target, setup: UsageSetup, ledger: Ledger, start: datetime) -> list[Client]:
    """Four clients of Acme (by its alias); the first gives up on a batch that failed, the others retry."""
    return [
        Client(target, setup.ingest_key, ledger, batches(n, BATCHES_EACH, "acme", start), gives_up=n == 0)
        for n in range(CLIENTS)
    ]


def _when_acknowledged(ledger: Ledger, count: int, fault: Callable[[], None]) -> Callable[[], None]:
    """``fault``, once the clients have ``count`` events acknowledged."""

    def strike() -> None:
        deadline = time.monotonic() + 60
        while ledger.acknowledged_count() < count:
            assert time.monotonic() < deadline, f"only {ledger.acknowledged_count()} events were acknowledged"
            time.sleep(0.01)
        fault()

    return strike


def _stored_tokens(customer_id: str) -> dict[str, int]:
    """Tokens of every stored event of the customer, by transaction id (checking that none is stored twice)."""
    with UnitOfWork() as uow:
        rows = uow.session.exec(
            select(UsageEvent.transaction_id, UsageEvent.properties).where(UsageEvent.customer_id == customer_id)
        ).all()
        total = uow.session.exec(select(func.count()).select_from(UsageEvent)).one()
    stored = {transaction_id: int(properties["tokens"]) for transaction_id, properties in rows}
    assert len(rows) == len(stored) == total, "a transaction id is stored more than once"
    return stored


def _usage_total(url: str, setup: UsageSetup, metric_id: str, start: datetime) -> Decimal:
    """The sum of a metric's hourly usage of Acme from ``start`` on, read through the API."""
    answer = httpx.get(
        f"{url}/api/v1/customers/{setup.customer_id}/usage",
        params={
            "metric_id": metric_id,
            "start": start.isoformat(),
            "end": (utcnow() + timedelta(hours=1)).isoformat(),
            "granularity": "hour",
        },
        headers={"Authorization": f"Bearer {setup.read_key}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return sum((Decimal(point["quantity"]) for point in answer.json()), Decimal(0))


def _assert_counted_once(ledger: Ledger, url: str, setup: UsageSetup, start: datetime) -> None:
    """Every acknowledged event stored once with the tokens sent; the API's totals are those of the stored events."""
    assert not ledger.refusals, ledger.refusals[0]
    assert ledger.replayed_as_duplicates, "no acknowledged batch was sent again"
    assert all(ledger.replayed_as_duplicates), "a re-sent batch was counted again"
    stored = _stored_tokens(setup.customer_id)
    assert ledger.acknowledged <= stored.keys(), f"{len(ledger.acknowledged - stored.keys())} acknowledged lost"
    assert stored.keys() - ledger.acknowledged <= ledger.abandoned, "stored events that no client sent or gave up"
    assert all(stored[t] == ledger.sent[t] for t in stored), "an event is stored with other tokens than sent"
    assert _usage_total(url, setup, setup.tokens_metric_id, start) == sum(stored.values())
    assert _usage_total(url, setup, setup.requests_metric_id, start) == len(stored)


def test_a_server_killed_mid_stream_loses_no_acknowledged_event_and_counts_none_twice(database: str) -> None:
    setup, ledger, start = usage_setup(), Ledger(), _hours_ago()
    with contextlib.ExitStack() as servers:
        first = servers.enter_context(running_api(database))
        target = Target(first.url)

        def kill_and_restart() -> None:
            os.kill(first.pid, signal.SIGKILL)
            target.url = servers.enter_context(running_api(database)).url

        run_clients(_clients(target, setup, ledger, start), _when_acknowledged(ledger, FAULT_AFTER, kill_and_restart))
        assert target.url != first.url
        assert any(failure.status is None for failure in ledger.failures), "no request was cut by the kill"
        assert all(failure.status is None for failure in ledger.failures), ledger.failures
        assert len(ledger.acknowledged) > FAULT_AFTER
        _assert_counted_once(ledger, target.url, setup, start)


@pytest.mark.postgres
def test_a_database_restart_answers_503_meanwhile_and_the_same_server_ingests_again() -> None:
    with restartable_postgres() as cluster, new_postgres_database(cluster.server) as url, migrated(url):
        setup, ledger, start = usage_setup(), Ledger(), _hours_ago()
        with running_api(url) as server:
            target = Target(server.url)
            restart = _when_acknowledged(ledger, FAULT_AFTER, lambda: cluster.restart(down_seconds=1.0))
            run_clients(_clients(target, setup, ledger, start), restart)
            assert ledger.failures, "no request met the outage"
            for failure in ledger.failures:
                assert failure.status == 503, f"{failure}\n{server.log_tail()}"
                assert "Try again" in failure.body, failure.body
            os.kill(server.pid, 0)  # the same process served before and after the restart
            _assert_counted_once(ledger, server.url, setup, start)


@pytest.mark.postgres
def test_the_writer_process_says_try_again_while_the_database_is_down_and_commits_once_it_is_back() -> None:
    """The server's writer process (``portal run``) meets the outage in its own process: the request is told the
    database is unavailable and to try again (the route answers 503 with it), and the same writer commits after."""
    with restartable_postgres() as cluster, new_postgres_database(cluster.server) as url, migrated(url):
        setup = usage_setup()
        when = utcnow() - timedelta(minutes=1)
        events = [UsageEventIn(f"down-{n}", setup.customer_id, "ai_usage", when, {"tokens": "5"}) for n in range(3)]
        writer = ProcessWriter(url)
        writer.start()
        try:
            cluster.stop()
            with pytest.raises(WriterStopped) as refused:
                writer.submit(events).result(timeout=60)
            assert str(refused.value) == DATABASE_UNAVAILABLE
            cluster.start()
            assert {t: s.new for t, s in writer.submit(events).result(timeout=60).items()} == dict.fromkeys(
                ("down-0", "down-1", "down-2"), True
            )
        finally:
            writer.stop()
        assert _stored_tokens(setup.customer_id) == dict.fromkeys(("down-0", "down-1", "down-2"), 5)
