"""Ingest clients for the fault tests, and their own record of what they sent and what the server acknowledged.

Each :class:`Client` thread sends its batches of 100 events (known transaction ids and tokens) to
``POST /api/v1/ingest`` at whatever URL the shared :class:`Target` names now (a restarted server listens on
another port). A batch is acknowledged when the answer is a 200 whose every event is accepted or a duplicate; a
batch that failed (no answer, a 5xx) is sent again until acknowledged, unless the client gives up on failed
batches (such a batch may or may not have been stored: nothing is required of it). After its last batch a client
sends its first batch once more, acknowledged already: every event of it must come back a duplicate.

The :class:`Ledger` is the test's independent record, kept by the clients alone (never read from the server).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

BATCH = 100
RETRY_PAUSE_SECONDS = 0.05
CLIENT_TIMEOUT_SECONDS = 120


@dataclass
class Target:
    """The base URL the clients send to; the test points it at the restarted server."""

    url: str


@dataclass(frozen=True)
class Failure:
    """A request that was not acknowledged: its HTTP status (None: no answer) and the answer's body."""

    status: int | None
    body: str


@dataclass
class Ledger:
    """What the clients sent (tokens per transaction id), what was acknowledged, and the failures they saw."""

    sent: dict[str, int] = field(default_factory=dict)
    acknowledged: set[str] = field(default_factory=set)
    abandoned: set[str] = field(default_factory=set)
    failures: list[Failure] = field(default_factory=list)
    replayed_as_duplicates: list[bool] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record_sent(self, batch: list[dict[str, object]]) -> None:
        """Note the batch's events as sent (before the request goes out)."""
        with self._lock:
            for event in batch:
                self.sent[str(event["transaction_id"])] = int(str(_properties(event)["tokens"]))

    def record_acknowledged(self, batch: list[dict[str, object]]) -> None:
        """Note the batch's events as acknowledged by the server."""
        with self._lock:
            self.acknowledged.update(str(event["transaction_id"]) for event in batch)

    def record_failure(self, failure: Failure) -> None:
        """Note a request that was not acknowledged."""
        with self._lock:
            self.failures.append(failure)

    def record_abandoned(self, batch: list[dict[str, object]]) -> None:
        """Note a failed batch the client gave up on (never sent again)."""
        with self._lock:
            self.abandoned.update(str(event["transaction_id"]) for event in batch)

    def acknowledged_count(self) -> int:
        """How many transaction ids are acknowledged so far."""
        with self._lock:
            return len(self.acknowledged)


def _properties(event: dict[str, object]) -> dict[str, str]:
    properties = event["properties"]
    assert isinstance(properties, dict)
    return properties


def batches(client: int, count: int, customer: str, start: datetime) -> list[list[dict[str, object]]]:
    """``count`` batches of 100 events of client number ``client`` for ``customer``: distinct transaction ids,
    tokens 1 to 997, user ids u0 to u4, timestamps spread over the hours after ``start``."""
    made = []
    for number in range(count):
        batch: list[dict[str, object]] = []
        for index in range(BATCH):
            serial = (client * count + number) * BATCH + index
            when = start + timedelta(minutes=serial % 360)
            batch.append(
                {
                    "transaction_id": f"fault-{client}-{number}-{index}",
                    "customer_id": customer,
                    "event_type": "ai_usage",
                    "timestamp": when.isoformat().replace("+00:00", "Z"),
                    "properties": {"tokens": str(serial % 997 + 1), "user_id": f"u{serial % 5}"},
                }
            )
        made.append(batch)
    return made


@dataclass
class Client:
    """One client thread: sends its batches to ``target`` with ``key``, recording in ``ledger``."""

    target: Target
    key: str
    ledger: Ledger
    batches: list[list[dict[str, object]]]
    gives_up: bool = False
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """Send every batch (see the module notes), then the first one again."""
        with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {self.key}"}) as http:
            for batch in self.batches:
                self.ledger.record_sent(batch)
                while not self.stop.is_set():
                    if self._send(http, batch) is not None:
                        self.ledger.record_acknowledged(batch)
                        break
                    if self.gives_up:
                        self.ledger.record_abandoned(batch)
                        break
                    time.sleep(RETRY_PAUSE_SECONDS)
            self._replay(http, self.batches[0])

    def _replay(self, http: httpx.Client, batch: list[dict[str, object]]) -> None:
        """Send an acknowledged batch again (until answered): it must come back all duplicates."""
        if not batch or str(batch[0]["transaction_id"]) not in self.ledger.acknowledged:
            return
        while not self.stop.is_set():
            statuses = self._send(http, batch)
            if statuses is not None:
                self.ledger.replayed_as_duplicates.append(statuses == {"duplicate"})
                return
            time.sleep(RETRY_PAUSE_SECONDS)

    def _send(self, http: httpx.Client, batch: list[dict[str, object]]) -> set[str] | None:
        """POST the batch: the set of the events' statuses when acknowledged, else None (the failure recorded)."""
        try:
            answer = http.post(f"{self.target.url}/api/v1/ingest", json=batch)
        except httpx.TransportError as error:
            self.ledger.record_failure(Failure(None, f"{type(error).__name__}: {error}"))
            return None
        if answer.status_code != 200:
            self.ledger.record_failure(Failure(answer.status_code, answer.text))
            return None
        statuses = {result["status"] for result in answer.json()["results"]}
        if not statuses <= {"accepted", "duplicate"}:  # a valid event refused: the test fails on it
            self.ledger.refusals.append(answer.text)
            self.stop.set()
            return None
        return statuses


def run_clients(clients: list[Client], during: Callable[[], None]) -> None:
    """Run every client in its own thread, call ``during`` (the fault) meanwhile, and wait for all of them (they
    are told to stop if ``during`` fails, or once they had two minutes)."""
    threads = [threading.Thread(target=client.run, name=f"ingest-client-{n}") for n, client in enumerate(clients)]
    for thread in threads:
        thread.start()
    try:
        during()
    except BaseException:
        for client in clients:
            client.stop.set()
        raise
    finally:
        for thread in threads:
            thread.join(timeout=CLIENT_TIMEOUT_SECONDS)
    stuck = [thread.name for thread in threads if thread.is_alive()]
    for client in clients:
        client.stop.set()
    assert not stuck, f"{stuck} did not finish within {CLIENT_TIMEOUT_SECONDS} seconds"
