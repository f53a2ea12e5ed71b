"""The event store in SQL (:class:`SqlEventStore`): store raw events once, and keep hourly rollups up to date.

The usage hot path. Plain SQLAlchemy Core on one connection inside the caller's transaction (the
ORM would cost more than the database here). Works on SQLite and PostgreSQL:

* events are inserted with ``ON CONFLICT (transaction_id) DO NOTHING
  RETURNING``, so the database, not a race between two requests, decides
  which copy of a transaction id is first;
* rollups are merged in Python (states are exact decimals, sets or latest
  values, which SQL cannot merge exactly): on SQLite inside one upsert, whose
  conflict clause calls :func:`merged_state_text` (a function registered on
  every connection, see :func:`register_functions`); on PostgreSQL the rows
  are read and locked first (``FOR UPDATE``), so concurrent writers in
  several processes merge one after the other, and written back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import reduce
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select

from portal.db.codecs import state_from_doc, state_to_doc
from portal.db.event_store import RollupKey
from portal.db.models import UsageEvent as UsageEventRow
from portal.db.models import UsageRollup
from portal.domain.metrics import (
    Aggregation,
    AggregationState,
    BillableMetric,
    CountState,
    GroupValues,
    SumState,
    UsageEvent,
    WindowedAggregation,
    check_windows,
    merge,
)
from portal.domain.periods import Period

EVENTS = UsageEventRow.__table__  # type: ignore[attr-defined]
ROLLUPS = UsageRollup.__table__  # type: ignore[attr-defined]


_EVENT_COLUMNS = "transaction_id, customer_id, event_type, timestamp, properties, received_at"
_INSERT_CHUNK = 1000


def _sqlite_instant(instant: datetime) -> str:
    # The text SQLAlchemy's SQLite DATETIME type stores (UTC, no offset), so reads through the ORM agree.
    if instant.tzinfo is not UTC:
        instant = instant.astimezone(UTC)
    return instant.isoformat(" ", "microseconds")[:26]


def _as_is(instant: datetime) -> datetime:
    return instant


def _placeholders(connection: Connection) -> tuple[str, Callable[[datetime], Any]]:
    """The driver's parameter mark, and how instants are passed to it (text on SQLite)."""
    if connection.dialect.name == "sqlite":
        return "?", _sqlite_instant
    return "%s", _as_is


_MATCH_CHUNK = 200
"""Keys read per query: one equality test each, OR-ed."""


def _locked_states(connection: Connection, keys: Sequence[RollupKey]) -> dict[RollupKey, AggregationState]:
    """The stored states of ``keys`` (those that exist) on PostgreSQL, locked until the transaction ends, read
    :data:`_MATCH_CHUNK` keys at a time."""
    mark, instant = _placeholders(connection)
    match = f"(customer_id = {mark} AND metric_id = {mark} AND group_values = {mark} AND bucket_start = {mark})"
    current: dict[RollupKey, AggregationState] = {}
    for start in range(0, len(keys), _MATCH_CHUNK):
        by_text = {
            (k.customer_id, k.metric_id, k.group_values, instant(k.bucket_start)): k
            for k in keys[start : start + _MATCH_CHUNK]
        }
        params = tuple(value for text_key in by_text for value in text_key)
        for customer_id, metric_id, group_values, bucket_start, state in connection.exec_driver_sql(
            "SELECT customer_id, metric_id, group_values, bucket_start, state FROM usage_rollup "
            f"WHERE {' OR '.join([match] * len(by_text))} FOR UPDATE",
            params,
        ):
            key = by_text[(customer_id, metric_id, group_values, bucket_start)]
            current[key] = state_from_doc(json.loads(state) if isinstance(state, str) else state)
    return current


def state_text(state: AggregationState) -> str:
    """The JSON text a rollup row stores for ``state``."""
    if type(state) is SumState:  # the usual state, written thousands of times a second: what json.dumps gives
        return f'{{"sum":"{state.total}"}}'
    return json.dumps(state_to_doc(state), separators=(",", ":"))


MERGE_FUNCTION = "portal_merge_state"
"""The SQL function (on SQLite) that merges a rollup row's state with a delta's: :func:`merged_state_text`."""


_SUM_START, _SUM_END = '{"sum":"', '"}'


def _sum_text(text: str) -> str | None:
    """The decimal text of a sum's state as :func:`state_text` writes it; None for any other text."""
    if text.startswith(_SUM_START) and text.endswith(_SUM_END):
        return text[len(_SUM_START) : -len(_SUM_END)]
    return None


def merged_state_text(stored: str, delta: str) -> str:
    """The JSON text of a stored rollup state merged with a delta state (both JSON texts), exactly."""
    total, more = _sum_text(stored), _sum_text(delta)
    if total is not None and more is not None:  # the usual case, without parsing JSON
        return state_text(SumState(Decimal(total) + Decimal(more)))
    return state_text(merge(state_from_doc(json.loads(stored)), state_from_doc(json.loads(delta))))


def register_functions(dbapi_connection: Any) -> None:
    """Add :data:`MERGE_FUNCTION` to a new SQLite connection (the rollup upsert calls it)."""
    dbapi_connection.create_function(MERGE_FUNCTION, 2, merged_state_text, deterministic=True)


def _gathered(dialect: str, aggregation: Aggregation) -> str:
    """What the database gathers of a (metric, group, window)'s states: the sum's texts, the count, or the states."""
    if aggregation is Aggregation.SUM:
        return (
            "group_concat(json_extract(state, '$.sum'), ',')"
            if dialect == "sqlite"
            else "string_agg(state->>'sum', ',')"
        )
    if aggregation is Aggregation.COUNT:  # whole numbers: the database adds them exactly
        return "sum(json_extract(state, '$.count'))" if dialect == "sqlite" else "sum((state->>'count')::bigint)"
    return "group_concat(state, ',')" if dialect == "sqlite" else "string_agg(state::text, ',')"


def _state(aggregation: Aggregation, gathered: Any) -> AggregationState:
    """The merged state of what :func:`_gathered` returned (exactly: decimals are added here)."""
    if aggregation is Aggregation.SUM:
        return SumState(sum(map(Decimal, gathered.split(",")), Decimal(0)))
    if aggregation is Aggregation.COUNT:
        return CountState(int(gathered))
    return reduce(merge, map(state_from_doc, json.loads(f"[{gathered}]")))


class SqlEventStore:
    """The event store in the portal's own database (SQLite or PostgreSQL), on one connection, inside the
    caller's transaction: :class:`~portal.db.event_store.EventStore` in SQL."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def insert_events(self, events: Sequence[UsageEvent], received_at: datetime) -> set[str]:
        """Insert raw events received at ``received_at``; returns the transaction ids that were new.

        The others were already stored (a duplicate, or a race another writer won).

        This is the hottest statement of the portal, so it is driver SQL with values prepared once
        (multi-row ``VALUES`` with ``ON CONFLICT DO NOTHING RETURNING``) instead of SQLAlchemy's
        per-value type processing.
        """
        connection = self.connection
        mark, instant = _placeholders(connection)
        received = instant(received_at)
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        new: set[str] = set()
        for start in range(0, len(events), _INSERT_CHUNK):
            chunk = events[start : start + _INSERT_CHUNK]
            values = ", ".join([f"({mark}, {mark}, {mark}, {mark}, {mark}, {mark})"] * len(chunk))
            params: list[Any] = []
            for event in chunk:
                params += (
                    event.transaction_id,
                    event.customer_id,
                    event.event_type,
                    instant(event.timestamp),
                    dumps(event.properties),
                    received,
                )
            result = connection.exec_driver_sql(
                f"INSERT INTO usage_event ({_EVENT_COLUMNS}) VALUES {values} "
                "ON CONFLICT (transaction_id) DO NOTHING RETURNING transaction_id",
                tuple(params),
            )
            new.update(row[0] for row in result)
        return new

    def received_before(self, transaction_ids: Iterable[str], cutoff: datetime) -> set[str]:
        """Of these stored transaction ids, those first received before ``cutoff`` (outside the dedupe window)."""
        connection = self.connection
        ids = list(transaction_ids)
        if not ids:
            return set()
        query = select(EVENTS.c.transaction_id).where(EVENTS.c.transaction_id.in_(ids), EVENTS.c.received_at < cutoff)
        return {row[0] for row in connection.execute(query)}

    def forget_events(self, transaction_ids: Iterable[str]) -> None:
        """Delete stored events (used when a transaction id is reused after the dedupe window)."""
        connection = self.connection
        ids = list(transaction_ids)
        if ids:
            connection.execute(delete(EVENTS).where(EVENTS.c.transaction_id.in_(ids)))

    def latest_events(self, event_type: str, since: datetime, limit: int) -> list[UsageEvent]:
        """The newest stored events of ``event_type`` with a timestamp at or after ``since`` (at most ``limit``),
        newest first."""
        query = (
            select(EVENTS)
            .where(EVENTS.c.event_type == event_type, EVENTS.c.timestamp >= since)
            .order_by(EVENTS.c.timestamp.desc())
            .limit(limit)
        )
        return [
            UsageEvent(r.transaction_id, r.customer_id, r.event_type, r.timestamp, r.properties)
            for r in self.connection.execute(query)
        ]

    def newest_sequence(self) -> int:
        """The id of the newest stored event (ids grow as events are committed)."""
        return self.connection.execute(select(func.max(EVENTS.c.id))).scalar() or 0

    def sequences_after(self, customer_ids: Sequence[str], after: int) -> frozenset[int]:
        """The ids of these customers' events with an id above ``after``."""
        query = select(EVENTS.c.id).where(EVENTS.c.id > after, EVENTS.c.customer_id.in_(list(customer_ids)))
        return frozenset(row[0] for row in self.connection.execute(query))

    def merge_rollups(self, deltas: Mapping[RollupKey, AggregationState]) -> None:
        """Merge ``deltas`` into the stored rollups, creating rows that do not exist yet.

        Driver SQL like :meth:`insert_events`, one multi-row upsert per chunk of keys. On SQLite the upsert
        merges a delta into an existing row itself (:func:`merged_state_text`); on PostgreSQL the rows of the
        chunk are first read by primary key and locked, merged here, and written back.
        """
        connection = self.connection
        mark, instant = _placeholders(connection)
        on_sqlite = connection.dialect.name == "sqlite"
        merged = f"{MERGE_FUNCTION}(state, excluded.state)" if on_sqlite else "excluded.state"
        hours: dict[datetime, Any] = {}
        keys = list(deltas)
        for start in range(0, len(keys), _INSERT_CHUNK):
            chunk = keys[start : start + _INSERT_CHUNK]
            current = {} if on_sqlite else _locked_states(connection, chunk)
            values: list[Any] = []
            for key in chunk:
                previous = current.get(key)
                hour = key.bucket_start
                values += (
                    key.customer_id,
                    key.metric_id,
                    key.group_values,
                    hours[hour] if hour in hours else hours.setdefault(hour, instant(hour)),
                    state_text(deltas[key] if previous is None else merge(previous, deltas[key])),
                )
            upserts = ", ".join([f"({mark}, {mark}, {mark}, {mark}, {mark})"] * len(chunk))
            connection.exec_driver_sql(
                "INSERT INTO usage_rollup (customer_id, metric_id, group_values, bucket_start, state) "
                f"VALUES {upserts} ON CONFLICT (customer_id, metric_id, group_values, bucket_start) "
                f"DO UPDATE SET state = {merged}",
                tuple(values),
            )

    def load_rollups(
        self, customer_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[tuple[RollupKey, AggregationState]]:
        """Every rollup of these customers with a bucket in ``[start, end)``."""
        connection = self.connection
        query = select(ROLLUPS).where(
            and_(
                ROLLUPS.c.customer_id.in_(list(customer_ids)),
                ROLLUPS.c.bucket_start >= start,
                ROLLUPS.c.bucket_start < end,
            )
        )
        return [
            (RollupKey(r.customer_id, r.metric_id, r.group_values, r.bucket_start), state_from_doc(r.state))
            for r in connection.execute(query)
        ]

    def window_states(
        self, customer_id: str, metrics: Sequence[BillableMetric], windows: Sequence[Period]
    ) -> dict[str, WindowedAggregation]:
        """One customer's usage per metric, window and group, from its hourly rollups: what
        :func:`~portal.domain.metrics.aggregate_buckets` gives, with the grouping done by the database.

        The database gathers each (metric, group, window): it adds counts, and lists the sums' decimal texts
        (added here, exactly) or the other states (merged here); one query per kind of aggregation.
        """
        connection = self.connection
        spans = check_windows(windows)
        mark, instant = _placeholders(connection)
        window = " ".join(f"WHEN bucket_start < {mark} THEN {n}" for n in range(len(spans) - 1))
        window = f"CASE {window} ELSE {len(spans) - 1} END" if window else "0"
        states: dict[str, dict[tuple[int, GroupValues], AggregationState]] = {m.id: {} for m in metrics}
        by_kind: dict[Aggregation, list[str]] = {}
        for metric in metrics:
            by_kind.setdefault(metric.aggregation, []).append(metric.id)
        for kind, ids in by_kind.items():
            rows = connection.exec_driver_sql(
                f"SELECT metric_id, group_values, {window} AS w, {_gathered(connection.dialect.name, kind)} "
                f"FROM usage_rollup WHERE customer_id = {mark} AND metric_id IN ({', '.join([mark] * len(ids))}) "
                f"AND bucket_start >= {mark} AND bucket_start < {mark} GROUP BY metric_id, group_values, w",
                (
                    *(instant(p.end) for p in spans[:-1]),
                    customer_id,
                    *ids,
                    instant(spans[0].start),
                    instant(spans[-1].end),
                ),
            )
            for metric_id, group_values, w, gathered in rows.fetchall():
                states[metric_id][(int(w), tuple(json.loads(group_values)))] = _state(kind, gathered)
        return {
            m.id: WindowedAggregation(m.id, m.aggregation, m.group_keys, spans, MappingProxyType(states[m.id]))
            for m in metrics
        }
