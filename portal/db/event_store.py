"""The event store: the one seam through which the portal stores usage events and aggregates them.

Everything that touches raw usage goes through :class:`EventStore`: ingest
stores events (deduplicated by transaction id) and merges their hourly
rollups; metric previews read the newest events, live pages whether new
ones arrived; balances, invoice drafts, usage charts and alerts read
rollups or have the store aggregate them over a draft's windows. Nothing else reads the
``usage_event`` or ``usage_rollup`` tables.

Today the store is :class:`~portal.db.usage_store.SqlEventStore`: two tables
in the portal's own database (SQLite or PostgreSQL), written in the same
transaction as the rest of an ingest, which is what makes an acknowledged
event count exactly once. Where event volume outgrows one PostgreSQL primary,
the store moves to ClickHouse (an existing distributed column store; never a
home-made one): raw events in a ``ReplacingMergeTree`` keyed by transaction
id, hourly rollups as a materialized view of ``AggregatingMergeTree`` states,
:meth:`EventStore.window_states` as one ``GROUP BY`` over them. That
implementation plugs in here (:func:`event_store`) and the rest of the portal
does not change; the deployment guide (``docs/deployment.md``) describes the
design.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection

from portal.domain.metrics import AggregationState, BillableMetric, UsageEvent, WindowedAggregation
from portal.domain.periods import Period


@dataclass(frozen=True, slots=True)
class RollupKey:
    """Which rollup row: a customer's metric, for one combination of group values, in one hour."""

    customer_id: str
    metric_id: str
    group_values: str
    bucket_start: datetime


class EventStore(Protocol):
    """Stores raw usage events once and keeps their hourly rollups; aggregates them for readers."""

    def insert_events(self, events: Sequence[UsageEvent], received_at: datetime) -> set[str]:
        """Store events received at ``received_at``; the transaction ids that were new (the others were stored
        already: a duplicate, or a race another writer won)."""
        ...

    def received_before(self, transaction_ids: Iterable[str], cutoff: datetime) -> set[str]:
        """Of these stored transaction ids, those first received before ``cutoff`` (outside the dedupe window)."""
        ...

    def forget_events(self, transaction_ids: Iterable[str]) -> None:
        """Delete stored events (a transaction id reused after the dedupe window is stored anew)."""
        ...

    def latest_events(self, event_type: str, since: datetime, limit: int) -> list[UsageEvent]:
        """The newest stored events of ``event_type`` with a timestamp at or after ``since`` (at most ``limit``),
        newest first: what a metric preview runs over."""
        ...

    def newest_sequence(self) -> int:
        """A number that grows as events are stored (0 before the first): comparing it with an earlier reading
        says whether anything arrived since."""
        ...

    def sequences_after(self, customer_ids: Sequence[str], after: int) -> frozenset[int]:
        """The sequence numbers of these customers' events stored after sequence ``after``."""
        ...

    def merge_rollups(self, deltas: Mapping[RollupKey, AggregationState]) -> None:
        """Merge the rollups of new events into the stored ones, creating those that do not exist yet."""
        ...

    def load_rollups(
        self, customer_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[tuple[RollupKey, AggregationState]]:
        """Every rollup of these customers with a bucket in ``[start, end)``."""
        ...

    def window_states(
        self, customer_id: str, metrics: Sequence[BillableMetric], windows: Sequence[Period]
    ) -> dict[str, WindowedAggregation]:
        """One customer's usage per metric, window and group, aggregated by the store from its rollups."""
        ...


def event_store(connection: Connection) -> EventStore:
    """The event store, working inside ``connection``'s transaction."""
    from portal.db.usage_store import SqlEventStore  # the implementation imports this module's types

    return SqlEventStore(connection)
