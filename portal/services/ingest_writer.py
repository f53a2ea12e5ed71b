"""Writing usage: group commits of events and their rollups, by a writer thread or a writer process.

A :class:`Committer` stores the events of several waiting requests in one
transaction: raw events once (the database decides which copy of a
transaction id is first), then the hourly rollups of the new ones. The
requests are answered only after the commit, so whatever is read afterwards
includes their events.

Two writers feed it, with the same interface (``submit`` returns a future):

* :class:`ThreadWriter` commits in a thread of the calling process (the
  default; used by the command line and the tests);
* :class:`ProcessWriter` commits in a child process, so that the database
  work runs on another core than the web requests (the server starts one at
  startup and stops it at shutdown, see :func:`process_writer`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import json
import multiprocessing
import queue
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from portal.config import get_settings
from portal.db.event_store import RollupKey, event_store
from portal.db.models import utcnow
from portal.db.repositories import active_metrics
from portal.db.session import engine_for
from portal.domain.metrics import AggregationState, BillableMetric, UsageEvent, fold_events

DEDUPE_WINDOW = timedelta(days=34)
METRICS_REFRESH_SECONDS = 5.0
MAX_EVENTS_PER_COMMIT = 10_000
DATABASE_UNAVAILABLE = "The database is unavailable right now; nothing was stored. Try again shortly."

Outcome = dict[str, "Stored"]


@dataclass(frozen=True, slots=True)
class Stored:
    """What a commit did with one transaction id of one request: stored it now, or not (a duplicate)."""

    new: bool
    warnings: tuple[str, ...] = ()


def fold_into_rollups(
    metrics: Sequence[BillableMetric], events: Sequence[UsageEvent]
) -> tuple[dict[RollupKey, AggregationState], dict[str, list[str]]]:
    """Hourly rollup deltas of new events for every metric of their event types, and per event the
    reasons a metric could not use it (a SUM over "abc")."""
    folded = fold_events(metrics, events)
    names = {m.id: m.name for m in metrics}
    warnings: dict[str, list[str]] = defaultdict(list)
    for rejected in folded.rejected:
        warnings[rejected.transaction_id].append(
            f"metric {names[rejected.metric_id]!r} cannot use it: {rejected.reason}"
        )
    texts: dict[tuple[str, ...], str] = {}  # a commit has many keys but few distinct groups: each encoded once
    deltas = {
        RollupKey(
            customer_id,
            metric_id,
            texts[group] if group in texts else texts.setdefault(group, json.dumps(list(group))),
            hour,
        ): state
        for (customer_id, metric_id, hour, group), state in folded.states.items()
    }
    return deltas, warnings


class Committer:
    """Stores batches of events, and the rollups of the new ones, in one transaction."""

    def __init__(self, database_url: str | None = None) -> None:
        self._database_url = database_url
        self._metrics: list[BillableMetric] = []
        self._metrics_read_at: float | None = None  # monotonic time of the last read; None: read at next commit

    def _engine(self) -> Engine:
        return engine_for(self._database_url or get_settings().database_url)

    def refresh_metrics(self) -> None:
        """Read the metrics again at the next commit (after a metric is created or archived)."""
        self._metrics_read_at = None

    def _current_metrics(self, engine: Engine) -> list[BillableMetric]:
        read_at = self._metrics_read_at
        if read_at is None or time.monotonic() - read_at > METRICS_REFRESH_SECONDS:
            with Session(engine) as session:
                self._metrics = active_metrics(session)
            self._metrics_read_at = time.monotonic()
        return self._metrics

    def commit(self, batches: Sequence[Sequence[UsageEvent]]) -> list[Outcome]:
        """Store all ``batches`` in one transaction; per batch, what happened to each transaction id.

        Of copies of one transaction id in several batches, the first batch's copy is stored and the
        later batches are told it is a duplicate. A transaction id first received more than 34 days
        ago is new again.
        """
        now = utcnow()
        first: dict[str, UsageEvent] = {}
        owner: dict[str, int] = {}
        for number, batch in enumerate(batches):
            for event in batch:
                if event.transaction_id not in first:
                    first[event.transaction_id] = event
                    owner[event.transaction_id] = number
        engine = self._engine()
        metrics = self._current_metrics(engine)
        with engine.begin() as connection:
            store = event_store(connection)
            new = store.insert_events(list(first.values()), now)
            stale = store.received_before(first.keys() - new, now - DEDUPE_WINDOW)
            if stale:
                store.forget_events(stale)
                new |= store.insert_events([first[t] for t in stale], now)
            deltas, warnings = fold_into_rollups(metrics, [first[t] for t in new])
            store.merge_rollups(deltas)
        return [
            {e.transaction_id: _stored(e.transaction_id in new and owner[e.transaction_id] == number,
                                       warnings.get(e.transaction_id)) for e in batch}
            for number, batch in enumerate(batches)
        ]  # fmt: skip


STORED, DUPLICATE = Stored(True), Stored(False)
"""The two outcomes without warnings, shared: an answer of 100 events then pickles each of them once."""


def _stored(new: bool, warnings: Sequence[str] | None) -> Stored:
    if not warnings:
        return STORED if new else DUPLICATE
    return Stored(new, tuple(warnings))


def drain(first: Any, get_nowait: Callable[[], Any], size: Callable[[Any], int]) -> list[Any]:
    """``first`` and whatever else is waiting, up to :data:`MAX_EVENTS_PER_COMMIT` events (one group commit)."""
    items = [first]
    total = size(first)
    while total < MAX_EVENTS_PER_COMMIT:
        try:
            item = get_nowait()
        except queue.Empty:
            break
        items.append(item)
        total += size(item)
    return items


class Writer(Protocol):
    """Commits submitted events; the future resolves once they are durable."""

    def submit(self, events: list[UsageEvent]) -> concurrent.futures.Future[Outcome]:
        """Queue events for the next group commit."""
        ...

    def refresh_metrics(self) -> None:
        """Read the metrics again before the next commit."""
        ...


@dataclass
class _Job:
    events: list[UsageEvent]
    future: concurrent.futures.Future[Outcome]


class ThreadWriter:
    """Group commits in a thread of this process."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._committer = Committer()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, events: list[UsageEvent]) -> concurrent.futures.Future[Outcome]:
        """Queue events for the next commit."""
        job = _Job(events, concurrent.futures.Future())
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
                self._thread.start()
        self._queue.put(job)
        return job.future

    def refresh_metrics(self) -> None:
        """Read the metrics again before the next commit."""
        self._committer.refresh_metrics()

    def _run(self) -> None:
        while True:
            jobs = drain(self._queue.get(), self._queue.get_nowait, lambda job: len(job.events))
            try:
                outcomes = self._committer.commit([job.events for job in jobs])
            except Exception as exc:  # every waiting request must hear about the failure
                for job in jobs:
                    job.future.set_exception(exc)
            else:
                for job, outcome in zip(jobs, outcomes, strict=True):
                    job.future.set_result(outcome)


_REFRESH = "refresh-metrics"


def _serve(requests: Any, results: Any, database_url: str) -> None:
    """The writer process: commit what arrives, answer with ``(job id, outcome or error message)`` pairs."""
    committer = Committer(database_url)
    while True:
        item = requests.get()
        if item is None:
            return
        if item == _REFRESH:
            committer.refresh_metrics()
            continue
        jobs = drain(item, requests.get_nowait, lambda job: len(job[1]) if isinstance(job, tuple) else 0)
        commands = [job for job in jobs if not isinstance(job, tuple)]
        batches = [job for job in jobs if isinstance(job, tuple)]
        try:
            outcomes = committer.commit([[UsageEvent(*fields) for fields in events] for _, events in batches])
        except Exception as exc:  # every waiting request must hear about the failure
            results.put([(job_id, _failure(exc)) for job_id, _ in batches])
        else:
            results.put([(job_id, outcome) for (job_id, _), outcome in zip(batches, outcomes, strict=True)])
        if None in commands:
            return
        if _REFRESH in commands:
            committer.refresh_metrics()


def _failure(error: Exception) -> str:
    """What the requests of a commit that failed with ``error`` are told: that the database is unavailable (and to
    try again) when it could not be reached, else the error itself; nothing of them was stored either way."""
    if isinstance(error, OperationalError):
        return DATABASE_UNAVAILABLE
    return f"Nothing was stored: {type(error).__name__}: {error}"


class WriterStopped(RuntimeError):
    """The writer process stopped before committing; nothing of the request was acknowledged."""


class ProcessWriter:
    """Group commits in a child process; this process only ships events there and waits for the answer."""

    def __init__(self, database_url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._requests = context.Queue()
        self._results = context.Queue()
        self._process: BaseProcess = context.Process(
            target=_serve, args=(self._requests, self._results, database_url), name="ingest-writer", daemon=True
        )
        self._pending: dict[int, concurrent.futures.Future[Outcome]] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._stopping = False
        self._listener = threading.Thread(target=self._listen, name="ingest-writer-answers", daemon=True)

    def start(self) -> None:
        """Start the child process and the thread that hands its answers to the waiting requests."""
        self._process.start()
        self._listener.start()

    def submit(self, events: list[UsageEvent]) -> concurrent.futures.Future[Outcome]:
        """Ship events to the writer process for its next commit."""
        future: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
        with self._lock:
            if self._stopping or not self._process.is_alive():
                future.set_exception(WriterStopped("The usage writer is not running; nothing was stored. Try again."))
                return future
            job_id = next(self._ids)
            self._pending[job_id] = future
        # Plain tuples: pickled several times faster than the events themselves (thousands a second).
        self._requests.put((job_id, [(e.transaction_id, e.customer_id, e.event_type, e.timestamp, e.properties)
                                     for e in events]))  # fmt: skip
        return future

    def refresh_metrics(self) -> None:
        """Tell the writer process to read the metrics again."""
        self._requests.put(_REFRESH)

    def _listen(self) -> None:
        while True:
            try:
                answers = self._results.get(timeout=1)
            except queue.Empty:
                if self._process.is_alive():
                    continue
                self._fail_pending()
                return
            if answers is None:
                return
            for job_id, outcome in answers:
                with self._lock:
                    future = self._pending.pop(job_id)
                if isinstance(outcome, str):
                    future.set_exception(WriterStopped(outcome))
                else:
                    future.set_result(outcome)

    def _fail_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_exception(WriterStopped("The usage writer stopped; nothing of this request was acknowledged."))

    def stop(self, timeout: float = 30) -> None:
        """Let the writer finish what it was given, then stop it (by PID if it does not stop in time)."""
        with self._lock:
            self._stopping = True
        self._requests.put(None)
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._results.put(None)
        self._listener.join(timeout)
        self._fail_pending()


_thread_writer = ThreadWriter()
_process_writers: dict[str, ProcessWriter] = {}


def writer() -> Writer:
    """The writer of the configured database: its writer process while a server runs on it, else a thread.

    Keyed by database so that a server left running in this process (as in the end-to-end tests) never
    receives events meant for another database.
    """
    return _process_writers.get(get_settings().database_url, _thread_writer)


@contextlib.asynccontextmanager
async def process_writer() -> AsyncIterator[None]:
    """Lifespan task of the server: commit usage in a child process for as long as the server runs."""
    database_url = get_settings().database_url
    child = ProcessWriter(database_url)
    child.start()
    _process_writers[database_url] = child
    try:
        yield
    finally:
        del _process_writers[database_url]
        child.stop()
