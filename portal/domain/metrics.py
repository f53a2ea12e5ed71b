"""Usage events and billable metrics: which events count, and how they are aggregated.

Rules (these are exactly how usage becomes a quantity on an invoice):

* A **usage event** has a ``transaction_id`` (its idempotency key), a
  ``customer_id``, an ``event_type``, a UTC ``timestamp`` and ``properties``,
  a map of strings. Numbers are sent as strings (``"1200"``, ``"0.5"``) and
  read as exact decimals, never as floating point.
* A **billable metric** counts the events of one ``event_type`` that pass all
  of its property filters:

  - ``EXISTS``: the event has the property (any value, also an empty one);
  - ``IN``: the event has the property with one of the listed values;
  - ``NOT_IN``: the event does not have one of the listed values (an event
    without the property passes; combine with ``EXISTS`` to require it).

* The metric's **aggregation** turns the matching events into a quantity:

  - ``COUNT``: the number of events (takes no aggregation key);
  - ``SUM``: the total of the aggregation key's values;
  - ``MAX``: the largest value;
  - ``LATEST``: the value of the most recent event; of two events at the
    same instant, the one with the greater ``transaction_id`` is the later,
    so the result never depends on the order events arrive in;
  - ``UNIQUE``: the number of distinct values (compared as sent, as text).

* With **group keys** (e.g. ``user_id``, ``model``) the quantity is kept per
  combination of the keys' values; an event without a group key property is
  put in the group with the empty value ``""``.
* Usage is aggregated over **windows**: contiguous half-open periods
  ``[start, end)`` given by the caller (billing period split where a rate,
  credit or grant changes). An event exactly at a window's end belongs to the
  next window; events outside all windows are not counted.
* An event whose value cannot be used is **rejected** and listed with the
  reason (never silently dropped, never an error for the whole run): the
  aggregation key is missing, the value is not a number (``"abc"``,
  ``"NaN"``), or it is not from 0 to below 10^18 (usage is never
  negative). Totals are exact up to 28 significant digits, which the bound
  guarantees for sums of whole numbers.
* **Duplicates**: events with the same ``transaction_id`` are counted once.
  The first one in the input wins, the rest are listed as duplicates; when
  duplicates carry different contents the input order therefore matters, so
  ingestion should refuse them before they get here.
* Pass the events of **one customer** (ingest aliases already resolved);
  ``customer_id`` is not looked at. :func:`split_by_customer` does the split.

The per-window results are *mergeable states* (:func:`merge` is associative
and commutative) so that rating can compute cumulative quantities over
consecutive windows and over groups priced together.

**Metering resolution.** Stored usage is kept as hourly rollups: per
customer, metric, group values and hour ``[h, h + 1 h)`` (UTC), the merged
state of that hour's events (:func:`fold_events` builds them;
:func:`aggregate_buckets` turns them back into a
:class:`WindowedAggregation`). So that rating from raw events and rating from
rollups always give the same invoice, rating works at the same resolution,
:data:`METERING_RESOLUTION` (one hour), by one rule:

* **Usage in an hour is rated as of the start of that hour**: with the
  rates, overrides and grants in force at ``h``. An instant that changes
  them (a rate change, a grant's start or expiry, a plan switch) therefore
  takes effect for usage from the first whole hour at or after it
  (:func:`rated_from`): a credit granted at 10:20 pays for usage from 11:00;
  a credit expiring at 10:20 still pays for usage until 11:00.
* Windows handed to :func:`aggregate_buckets` start and end on whole hours;
  a contract's billing periods start on whole hours (its start is on the
  hour), so every hour belongs to exactly one window.

Rating reads a customer's usage through a :class:`UsageSource`: raw events
(:class:`RawUsage`), hourly rollups (:class:`BucketedUsage`), or usage
already aggregated over the windows one draft asks for
(:class:`AggregatedUsage`, which a service can keep per contract and period
and which refuses any other windows). All three give the same aggregations.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import reduce
from itertools import pairwise
from operator import attrgetter
from types import MappingProxyType
from typing import Any, Protocol

from portal.domain.errors import IncompatibleStates, InvalidMetric, InvalidUsageEvent, InvalidWindows
from portal.domain.periods import Period, ensure_utc

MAX_VALUE = Decimal("1E+18")
"""Usage values must be below this (and at least zero)."""

NO_GROUP = ""
"""The group value of an event that lacks a group key property."""

METERING_RESOLUTION = timedelta(hours=1)
"""Usage is stored and rated by the hour (see the module rules)."""


def bucket_start(instant: datetime) -> datetime:
    """The start of the hour (UTC) that contains ``instant``: the rollup bucket it is stored in."""
    instant = ensure_utc(instant)
    return instant.replace(minute=0, second=0, microsecond=0)


def on_the_hour(instant: datetime) -> bool:
    """True when ``instant`` is a whole UTC hour, a boundary of :data:`METERING_RESOLUTION`."""
    return bucket_start(instant) == instant


def rated_from(instant: datetime) -> datetime:
    """The first whole hour at or after ``instant``: when a change at ``instant`` takes effect for usage."""
    start = bucket_start(instant)
    return start if start == instant else start + METERING_RESOLUTION


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One usage event as sent by a customer's system.

    ``properties`` maps names to string values; numbers are decimal strings.
    The timestamp must be timezone-aware and is kept in UTC.
    """

    transaction_id: str
    customer_id: str
    event_type: str
    timestamp: datetime
    properties: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not self.transaction_id:
            raise InvalidUsageEvent("A usage event needs a transaction_id (its idempotency key).")
        if not self.event_type:
            raise InvalidUsageEvent(f"Usage event {self.transaction_id!r} needs an event_type.")
        if self.timestamp.tzinfo is not UTC:
            object.__setattr__(self, "timestamp", ensure_utc(self.timestamp, "event timestamp"))


class Aggregation(Enum):
    """How a metric turns matching events into a quantity."""

    COUNT = "count"
    SUM = "sum"
    MAX = "max"
    LATEST = "latest"
    UNIQUE = "unique"


class FilterOp(Enum):
    """How a property filter tests an event's property."""

    EXISTS = "exists"
    IN = "in"
    NOT_IN = "not_in"


@dataclass(frozen=True, slots=True)
class PropertyFilter:
    """A test on one event property; ``values`` (kept as a frozenset) is empty for ``EXISTS``."""

    key: str
    op: FilterOp
    values: Collection[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.key:
            raise InvalidMetric("A property filter needs the name of the property it tests.")
        if isinstance(self.values, str):
            raise InvalidMetric(
                f"The filter on {self.key!r} needs a list of values, not the single string {self.values!r}."
            )
        object.__setattr__(self, "values", frozenset(self.values))
        if self.op is FilterOp.EXISTS and self.values:
            raise InvalidMetric(f"The filter 'exists {self.key}' takes no values; use 'in' to test for values.")
        if self.op is not FilterOp.EXISTS and not self.values:
            raise InvalidMetric(f"The filter '{self.key} {self.op.value}' needs at least one value to compare with.")


@dataclass(frozen=True, slots=True)
class BillableMetric:
    """Which events count (event type and filters) and how (aggregation, key, group keys)."""

    id: str
    name: str
    event_type: str
    aggregation: Aggregation
    aggregation_key: str | None = None
    filters: tuple[PropertyFilter, ...] = ()
    group_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", tuple(self.filters))
        object.__setattr__(self, "group_keys", tuple(self.group_keys))
        if not self.id:
            raise InvalidMetric("A billable metric needs an id.")
        if not self.event_type:
            raise InvalidMetric(f"Metric {self.id!r} needs the event type it counts.")
        if self.aggregation is Aggregation.COUNT:
            if self.aggregation_key is not None:
                raise InvalidMetric(
                    f"Metric {self.id!r} counts events, so it takes no aggregation key "
                    f"(remove {self.aggregation_key!r} or use SUM, MAX, LATEST or UNIQUE)."
                )
        elif not self.aggregation_key:
            raise InvalidMetric(
                f"Metric {self.id!r} uses {self.aggregation.name}, which needs an aggregation key: "
                "the property whose values are aggregated."
            )
        if any(not key for key in self.group_keys):
            raise InvalidMetric(f"Metric {self.id!r} has an empty group key; name the property to group by.")
        if len(set(self.group_keys)) != len(self.group_keys):
            raise InvalidMetric(f"Metric {self.id!r} lists a group key twice: {', '.join(self.group_keys)}.")


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """An event a metric could not use, with the reason in words."""

    transaction_id: str
    metric_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class CountState:
    """Aggregation state of a COUNT metric: the number of matching events."""

    count: int


@dataclass(frozen=True, slots=True)
class SumState:
    """Aggregation state of a SUM metric: the total of the values."""

    total: Decimal


@dataclass(frozen=True, slots=True)
class MaxState:
    """Aggregation state of a MAX metric: the largest value."""

    value: Decimal


@dataclass(frozen=True, slots=True)
class LatestState:
    """Aggregation state of a LATEST metric: the latest event's value, with what makes it the latest."""

    timestamp: datetime
    transaction_id: str
    value: Decimal


@dataclass(frozen=True, slots=True)
class UniqueState:
    """Aggregation state of a UNIQUE metric: the distinct values seen."""

    values: frozenset[str]


AggregationState = CountState | SumState | MaxState | LatestState | UniqueState
"""A mergeable partial aggregation (per window and group)."""


def _merge_counts(a: CountState, b: CountState) -> CountState:
    return CountState(a.count + b.count)


def _merge_sums(a: SumState, b: SumState) -> SumState:
    return SumState(a.total + b.total)


def _merge_maxima(a: MaxState, b: MaxState) -> MaxState:
    return a if a.value >= b.value else b


def _merge_latest(a: LatestState, b: LatestState) -> LatestState:
    return a if (a.timestamp, a.transaction_id, a.value) >= (b.timestamp, b.transaction_id, b.value) else b


def _merge_unique(a: UniqueState, b: UniqueState) -> UniqueState:
    return UniqueState(a.values | b.values)


_MERGERS: dict[type, Callable[[Any, Any], AggregationState]] = {
    CountState: _merge_counts,
    SumState: _merge_sums,
    MaxState: _merge_maxima,
    LatestState: _merge_latest,
    UniqueState: _merge_unique,
}


def merge(a: AggregationState, b: AggregationState) -> AggregationState:
    """Combine two states of the same kind, as if their events had been aggregated together.

    Associative and commutative: counts and sums add, MAX keeps the larger,
    LATEST keeps the later (by timestamp, then transaction id, then value),
    UNIQUE takes the union.
    """
    kind = type(a)
    if type(b) is not kind:
        raise IncompatibleStates(
            f"Cannot merge a {kind.__name__} with a {type(b).__name__}: both must come from the same metric."
        )
    return _MERGERS[kind](a, b)


def merge_all(states: Iterable[AggregationState]) -> AggregationState | None:
    """Merge any number of states of one kind; None when there are none."""
    items = tuple(states)
    if not items:
        return None
    totals = [state.total for state in items if isinstance(state, SumState)]
    if len(totals) == len(items):
        return SumState(sum(totals, Decimal(0)))
    counts = [state.count for state in items if isinstance(state, CountState)]
    if len(counts) == len(items):
        return CountState(sum(counts))
    return reduce(merge, items)


def quantity(state: AggregationState | None) -> Decimal:
    """The quantity a state stands for (0 for no state): count, total, max, latest value or distinct count."""
    if isinstance(state, SumState):
        return state.total
    if state is None:
        return Decimal(0)
    if isinstance(state, CountState):
        return Decimal(state.count)
    if isinstance(state, UniqueState):
        return Decimal(len(state.values))
    return state.value


GroupValues = tuple[str, ...]
"""The values of a metric's group keys for one group, in the order of ``group_keys``."""


@dataclass(frozen=True, slots=True)
class WindowedAggregation:
    """One metric's usage per window and group, plus the events it rejected.

    ``states`` maps ``(window index, group values)`` to the state of that
    window and group; windows and groups without usage are absent.
    ``duplicates`` lists the transaction ids that were seen more than once
    in the input (the first occurrence was used).
    """

    metric_id: str
    aggregation: Aggregation
    group_keys: tuple[str, ...]
    windows: tuple[Period, ...]
    states: Mapping[tuple[int, GroupValues], AggregationState] = field(hash=False)
    rejected: tuple[RejectedEvent, ...] = ()
    duplicates: tuple[str, ...] = ()

    def groups(self) -> tuple[GroupValues, ...]:
        """The groups that have usage in any window, sorted."""
        return tuple(sorted({group for _, group in self.states}))

    def total(self, group: GroupValues | None = None) -> AggregationState | None:
        """The state over all windows, for one group or (``None``) all groups together."""
        return merge_all(state for (_, g), state in self.states.items() if group is None or g == group)


def check_windows(windows: Sequence[Period]) -> tuple[Period, ...]:
    """Return ``windows`` as a tuple after checking they are sorted and contiguous (each ends where the next starts)."""
    if not windows:
        raise InvalidWindows("Give at least one window to aggregate usage over.")
    for before, after in pairwise(windows):
        if before.end != after.start:
            raise InvalidWindows(
                f"Windows must be sorted and contiguous: one ends at {before.end.isoformat()} "
                f"but the next starts at {after.start.isoformat()}."
            )
    return tuple(windows)


def _passing(rule: PropertyFilter, events: list[UsageEvent]) -> list[UsageEvent]:
    """The events that pass one property filter."""
    key, values = rule.key, rule.values
    if rule.op is FilterOp.EXISTS:
        return [e for e in events if key in e.properties]
    if rule.op is FilterOp.IN:
        return [e for e in events if e.properties.get(key) in values]
    return [e for e in events if e.properties.get(key) not in values]


def _group_values(events: list[UsageEvent], group_keys: tuple[str, ...]) -> list[Any]:
    """Each event's group: ``None`` without group keys, the value for one key, a tuple for several."""
    if not group_keys:
        return [None] * len(events)
    properties = [e.properties for e in events]
    columns = [[p.get(key, NO_GROUP) for p in properties] for key in group_keys]
    return columns[0] if len(columns) == 1 else list(zip(*columns, strict=True))


def _rejection(metric: BillableMetric, event: UsageEvent, raw: str | None) -> RejectedEvent:
    """Why an event's value could not be used, in words that say what to send instead."""
    key = metric.aggregation_key
    if raw is None:
        reason = f"The property {key!r} is missing; send it with every {metric.event_type!r} event."
    else:
        try:
            value: Decimal | None = Decimal(raw)
        except (InvalidOperation, TypeError, ValueError):
            value = None
        if value is None or not value.is_finite():
            reason = f'{key}={raw!r} is not a number; send a decimal string such as "12.5".'
        elif value < 0:
            reason = f"{key}={raw!r} is negative; usage values must be 0 or more."
        else:
            reason = f"{key}={raw!r} is too large; usage values must be below 10^18."
    return RejectedEvent(event.transaction_id, metric.id, reason)


def _numbers(
    metric: BillableMetric,
    events: list[UsageEvent],
    groups: list[Any],
    raws: list[str | None],
    rejected: list[RejectedEvent],
) -> list[tuple[Any, Decimal, UsageEvent]]:
    """Parse each event's value (``raws``): (group, value, event) for usable values, the rest rejected."""
    decimal, zero, limit = Decimal, Decimal(0), MAX_VALUE
    usable: list[tuple[Any, Decimal, UsageEvent]] = []
    keep = usable.append
    for event, group, raw in zip(events, groups, raws, strict=True):
        if raw is not None:
            try:
                value = decimal(raw)
                if zero <= value < limit:
                    keep((group, value, event))
                    continue
            except (InvalidOperation, TypeError, ValueError):
                pass
        rejected.append(_rejection(metric, event, raw))
    return usable


def _accumulate(metric: BillableMetric, events: list[UsageEvent], rejected: list[RejectedEvent]) -> dict[Any, Any]:
    """Aggregate one window's events of the metric's type into plain values per group."""
    for rule in metric.filters:
        events = _passing(rule, events)
    if not events:
        return {}
    groups = _group_values(events, metric.group_keys)
    kind = metric.aggregation
    acc: dict[Any, Any] = {}
    if kind is Aggregation.COUNT:
        return dict(Counter(groups))
    if kind is Aggregation.UNIQUE:
        key = metric.aggregation_key or ""
        for event, group in zip(events, groups, strict=True):
            raw = event.properties.get(key)
            if raw is None:
                rejected.append(_rejection(metric, event, raw))
            elif group in acc:
                acc[group].add(raw)
            else:
                acc[group] = {raw}
        return acc
    key = metric.aggregation_key or ""
    raws = [event.properties.get(key) for event in events]
    if kind is Aggregation.SUM:
        whole = _whole_sums(raws, groups)
        if whole is not None:
            return whole
    numbers = _numbers(metric, events, groups, raws, rejected)
    get = acc.get
    if kind is Aggregation.SUM:
        for group, value, _ in numbers:
            current = get(group)
            acc[group] = value if current is None else current + value
    elif kind is Aggregation.MAX:
        for group, value, _ in numbers:
            current = get(group)
            if current is None or value > current:
                acc[group] = value
    else:
        for group, value, event in numbers:
            order = (event.timestamp, event.transaction_id)
            current = get(group)
            if current is None or order > current[0]:
                acc[group] = (order, value)
    return acc


_WHOLE_DIGITS = 18
"""A string of at most this many decimal digits is a whole number below 10^18: always a usable value."""


def _whole_sums(raws: list[str | None], groups: list[Any]) -> dict[Any, Decimal] | None:
    """SUM per group when every value (``raws``) is a plain whole number (the usual case), added as integers.

    The totals are those of adding the values as Decimals in any order
    (whole numbers below 10^18 add exactly); None when any value is missing
    or anything but decimal digits, for the general path to check and
    reject it.
    """
    if None in raws or not all(map(str.isdecimal, raws)) or max(map(len, raws)) > _WHOLE_DIGITS:  # type: ignore[arg-type]
        return None
    totals: dict[Any, int] = {}
    get = totals.get
    for group, value in zip(groups, map(int, raws), strict=True):  # type: ignore[arg-type]
        totals[group] = get(group, 0) + value
    return {group: Decimal(total) for group, total in totals.items()}


def _state_of(kind: Aggregation, raw: Any) -> AggregationState:
    """Wrap an accumulated plain value in the state type of its aggregation."""
    if kind is Aggregation.COUNT:
        return CountState(raw)
    if kind is Aggregation.SUM:
        return SumState(raw)
    if kind is Aggregation.MAX:
        return MaxState(raw)
    if kind is Aggregation.UNIQUE:
        return UniqueState(frozenset(raw))
    (timestamp, transaction_id), value = raw
    return LatestState(timestamp, transaction_id, value)


def _group_states(
    metric: BillableMetric, events: list[UsageEvent], rejected: list[RejectedEvent]
) -> Iterator[tuple[GroupValues, AggregationState]]:
    """The state of each group of one batch of events (one window or one hour)."""
    kind = metric.aggregation
    for group, raw in _accumulate(metric, events, rejected).items():
        values: GroupValues = () if group is None else (group,) if isinstance(group, str) else group
        yield values, _state_of(kind, raw)


def _windowed(
    metric: BillableMetric, windows: tuple[Period, ...], lists: list[list[UsageEvent]], duplicates: tuple[str, ...]
) -> WindowedAggregation:
    """Aggregate one metric from its event type's per-window event lists."""
    rejected: list[RejectedEvent] = []
    states: dict[tuple[int, GroupValues], AggregationState] = {}
    for w, events in enumerate(lists):
        for values, state in _group_states(metric, events, rejected):
            states[(w, values)] = state
    return WindowedAggregation(
        metric_id=metric.id,
        aggregation=metric.aggregation,
        group_keys=metric.group_keys,
        windows=windows,
        states=MappingProxyType(states),
        rejected=tuple(rejected),
        duplicates=duplicates,
    )


def aggregate_many(
    metrics: Sequence[BillableMetric], events: Iterable[UsageEvent], windows: Sequence[Period]
) -> dict[str, WindowedAggregation]:
    """Aggregate several metrics over one customer's events in a single pass, keyed by metric id.

    The pass drops duplicates (the first of a transaction id wins, for every
    metric) and sorts each remaining event into a list per event type and
    window (found by binary search); each metric then aggregates its event
    type's lists, so metrics of the same type share the work.
    """
    ids = [m.id for m in metrics]
    if len(set(ids)) != len(ids):
        raise InvalidMetric(f"Each metric may be aggregated once per pass; ids given: {', '.join(ids)}.")
    spans = check_windows(windows)
    by_type: dict[str, list[list[UsageEvent]]] = {m.event_type: [[] for _ in spans] for m in metrics}
    get_lists = by_type.get
    starts = [p.start for p in spans]
    ends = [p.end for p in spans]
    first, last = starts[0], ends[-1]
    seen: set[str] = set()
    seen_add = seen.add
    duplicates: list[str] = []
    w, w_start, w_end = 0, starts[0], ends[0]
    for event in events:
        txn = event.transaction_id
        if txn in seen:
            duplicates.append(txn)
            continue
        seen_add(txn)
        lists = get_lists(event.event_type)
        if lists is None:
            continue
        ts = event.timestamp
        if not w_start <= ts < w_end:
            if ts < first or ts >= last:
                continue
            w = bisect_right(starts, ts) - 1
            w_start, w_end = starts[w], ends[w]
        lists[w].append(event)
    repeated = tuple(duplicates)
    return {m.id: _windowed(m, spans, by_type[m.event_type], repeated) for m in metrics}


def aggregate(metric: BillableMetric, events: Iterable[UsageEvent], windows: Sequence[Period]) -> WindowedAggregation:
    """Aggregate one metric over one customer's events, per window and group (see the module rules)."""
    return aggregate_many((metric,), events, windows)[metric.id]


def split_by_customer(events: Iterable[UsageEvent]) -> dict[str, tuple[UsageEvent, ...]]:
    """Group events by ``customer_id``, keeping each customer's events in input order."""
    lists: dict[str, list[UsageEvent]] = {}
    for event in events:
        bucket = lists.get(event.customer_id)
        if bucket is None:
            lists[event.customer_id] = [event]
        else:
            bucket.append(event)
    return {customer: tuple(bucket) for customer, bucket in lists.items()}


Buckets = Mapping[tuple[datetime, GroupValues], AggregationState]
"""One customer's hourly rollups of one metric: ``(hour start, group values)`` to the hour's state."""

RollupKey = tuple[str, str, datetime, GroupValues]
"""The key of a stored rollup: customer id, metric id, hour start, group values."""


@dataclass(frozen=True, slots=True)
class FoldedUsage:
    """Events folded into hourly rollups, ready to be merged into the stored ones.

    ``states`` maps each :data:`RollupKey` to the state of that hour's
    events; ``rejected`` and ``duplicates`` are as for :func:`aggregate_many`.
    """

    states: Mapping[RollupKey, AggregationState] = field(hash=False)
    rejected: tuple[RejectedEvent, ...] = ()
    duplicates: tuple[str, ...] = ()

    def buckets(self, customer_id: str) -> dict[str, dict[tuple[datetime, GroupValues], AggregationState]]:
        """One customer's rollups by metric id (what :class:`BucketedUsage` takes)."""
        result: dict[str, dict[tuple[datetime, GroupValues], AggregationState]] = {}
        for (customer, metric_id, hour, group), state in self.states.items():
            if customer == customer_id:
                result.setdefault(metric_id, {})[(hour, group)] = state
        return result


def fold_events(metrics: Sequence[BillableMetric], events: Iterable[UsageEvent]) -> FoldedUsage:
    """Fold events (of any customers, ingest aliases resolved) into one state per rollup key.

    This is what ingest does with each batch, or with each single event:
    merge every returned state into the stored rollup of the same key with
    :func:`merge`. Duplicates within the call are dropped as in
    :func:`aggregate_many` (refusing transaction ids stored earlier is
    ingest's job); values that cannot be used are rejected with the reason.
    """
    by_type: dict[str, list[BillableMetric]] = {}
    for metric in metrics:
        by_type.setdefault(metric.event_type, []).append(metric)
    batches: dict[tuple[str, str, datetime], list[UsageEvent]] = {}
    seen: set[str] = set()
    duplicates: list[str] = []
    for event in events:
        txn = event.transaction_id
        if txn in seen:
            duplicates.append(txn)
            continue
        seen.add(txn)
        if event.event_type in by_type:
            key = (event.event_type, event.customer_id, event.timestamp.replace(minute=0, second=0, microsecond=0))
            batch = batches.get(key)
            if batch is None:
                batches[key] = [event]
            else:
                batch.append(event)
    rejected: list[RejectedEvent] = []
    states: dict[RollupKey, AggregationState] = {}
    for (event_type, customer, hour), batch in batches.items():
        for metric in by_type[event_type]:
            for group, state in _group_states(metric, batch, rejected):
                states[(customer, metric.id, hour, group)] = state
    return FoldedUsage(MappingProxyType(states), tuple(rejected), tuple(duplicates))


def aggregate_buckets(metric: BillableMetric, buckets: Buckets, windows: Sequence[Period]) -> WindowedAggregation:
    """One metric's usage per window and group, from one customer's hourly rollups instead of raw events.

    ``windows`` must start and end on whole hours (see the module rules);
    rollups outside them are not counted. Gives the same states as
    :func:`aggregate` over the events the rollups were folded from (minus
    the rejected events and duplicates, which ingest reported).
    """
    spans = check_windows(windows)
    off_hour = next((p for p in spans if not (on_the_hour(p.start) and on_the_hour(p.end))), None)
    if off_hour is not None:
        raise InvalidWindows(
            f"The window {off_hour.start.isoformat()} to {off_hour.end.isoformat()} does not start and end on "
            "whole hours: usage is stored by the hour, so cut windows with rated_from()."
        )
    starts = [p.start for p in spans]
    first, last = starts[0], spans[-1].end
    single = len(spans) == 1
    # Cells are keyed by group alone when there is one window (the usual case), else by (window, group).
    cells: dict[Any, list[Any]] = {}
    kind = metric.aggregation
    # Sums and counts are gathered as plain numbers and added once per cell.
    plain = (
        attrgetter("total") if kind is Aggregation.SUM else attrgetter("count") if kind is Aggregation.COUNT else None
    )
    for (hour, group), state in buckets.items():
        if first <= hour < last:
            key = group if single else (bisect_right(starts, hour) - 1, group)
            value = state if plain is None else plain(state)
            cell = cells.get(key)
            if cell is None:
                cells[key] = [value]
            else:
                cell.append(value)
    states: dict[tuple[int, GroupValues], AggregationState] = {}
    for cell_key, parts in cells.items():
        key = (0, cell_key) if single else cell_key
        if kind is Aggregation.SUM:
            states[key] = SumState(sum(parts, Decimal(0)) if len(parts) > 1 else parts[0])
        elif kind is Aggregation.COUNT:
            states[key] = CountState(sum(parts))
        else:
            states[key] = reduce(merge, parts)
    return WindowedAggregation(
        metric_id=metric.id,
        aggregation=metric.aggregation,
        group_keys=metric.group_keys,
        windows=spans,
        states=MappingProxyType(states),
    )


class UsageSource(Protocol):
    """One customer's usage, aggregated on demand over the windows rating asks for."""

    def aggregate(self, metrics: Sequence[BillableMetric], windows: Sequence[Period]) -> dict[str, WindowedAggregation]:
        """Each metric's aggregation over ``windows``, keyed by metric id."""
        ...


@dataclass(frozen=True, slots=True)
class RawUsage:
    """Usage as raw events (one customer's): aggregated in one pass with :func:`aggregate_many`."""

    events: tuple[UsageEvent, ...]

    def aggregate(self, metrics: Sequence[BillableMetric], windows: Sequence[Period]) -> dict[str, WindowedAggregation]:
        """Each metric's aggregation of the events over ``windows``, keyed by metric id."""
        return aggregate_many(metrics, self.events, windows)


@dataclass(frozen=True, slots=True)
class BucketedUsage:
    """Usage as hourly rollups (one customer's), by metric id: aggregated with :func:`aggregate_buckets`."""

    buckets: Mapping[str, Buckets] = field(default_factory=dict, hash=False)

    def aggregate(self, metrics: Sequence[BillableMetric], windows: Sequence[Period]) -> dict[str, WindowedAggregation]:
        """Each metric's aggregation of the rollups over ``windows``, keyed by metric id."""
        return {m.id: aggregate_buckets(m, self.buckets.get(m.id, {}), windows) for m in metrics}


@dataclass(frozen=True, slots=True)
class AggregatedUsage:
    """Usage (one customer's) already aggregated over the windows of one draft: what a service keeps per contract.

    ``aggregations`` maps metric ids to their aggregation over ``windows``;
    :func:`portal.domain.invoicing.aggregated_usage` builds it with the
    windows a contract's draft for a period asks for. Asked for other
    windows or metrics (the contract's rates, grants or terms changed), it
    refuses: aggregate the rollups again.
    """

    windows: tuple[Period, ...]
    aggregations: Mapping[str, WindowedAggregation] = field(hash=False)

    @classmethod
    def of(cls, source: UsageSource, metrics: Sequence[BillableMetric], windows: Sequence[Period]) -> AggregatedUsage:
        """Aggregate ``source`` once over ``windows``, for ``metrics``."""
        spans = check_windows(windows)
        return cls(spans, MappingProxyType(source.aggregate(metrics, spans)))

    def aggregate(self, metrics: Sequence[BillableMetric], windows: Sequence[Period]) -> dict[str, WindowedAggregation]:
        """The kept aggregations of ``metrics``, when ``windows`` are the windows they were aggregated over."""
        missing = [m.id for m in metrics if m.id not in self.aggregations]
        if tuple(windows) != self.windows or missing:
            raise InvalidWindows(
                "This usage was aggregated over other windows or metrics than the draft asks for (the contract's "
                "rates, grants or terms changed since): aggregate its rollups again."
            )
        return {m.id: self.aggregations[m.id] for m in metrics}
