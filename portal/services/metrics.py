"""Billable metrics for staff: define one with a live preview over recent real events, archive one.

A metric counts events of one type that pass its filters, aggregated (count,
sum, max, latest or unique of a property) per group. The preview runs the
definition over the newest stored events of that type (up to
:data:`PREVIEW_EVENTS` from the last :data:`PREVIEW_DAYS` days), so staff
see how many match and sample values per group before saving. A new metric
counts events ingested from then on (stored rollups are kept per metric).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from portal.db.codecs import filter_from_doc
from portal.db.event_store import event_store
from portal.db.models import BillableMetricRow, utcnow
from portal.db.repositories import metric_from_row
from portal.db.uow import UnitOfWork
from portal.domain.errors import DomainError
from portal.domain.metrics import Aggregation, BillableMetric, aggregate, quantity
from portal.domain.periods import Period
from portal.services.audit import record, require_staff
from portal.services.billing import plain_number
from portal.services.customers import Actor
from portal.services.errors import InvalidInput, NotFound
from portal.services.ingest_writer import writer

PREVIEW_EVENTS = 5_000
PREVIEW_DAYS = 7
SAMPLE_GROUPS = 10


@dataclass(frozen=True, slots=True)
class MetricView:
    """A metric as staff see it."""

    id: str
    name: str
    event_type: str
    aggregation: str
    aggregation_key: str
    group_keys: tuple[str, ...]
    filters: tuple[dict[str, Any], ...]
    archived: bool


@dataclass(frozen=True, slots=True)
class GroupSample:
    """One group's aggregated value in the preview."""

    group: str
    value: str
    events: int


@dataclass(frozen=True, slots=True)
class MetricPreview:
    """What a definition makes of recent events: how many were read and matched, why others were not used,
    and sample values per group (largest first)."""

    events_read: int
    matching: int
    rejected: int
    reasons: tuple[str, ...]
    total: str
    groups: tuple[GroupSample, ...]
    since: datetime


def _metric(definition: Mapping[str, Any], metric_id: str = "preview") -> BillableMetric:
    """The domain metric a definition describes; refuses a wrong one naming the field."""
    name = str(definition.get("name", "")).strip()
    if not name:
        raise InvalidInput("Give the metric a name staff and invoices will show, e.g. 'AI tokens'.")
    aggregation = str(definition.get("aggregation", "")).strip().lower()
    kinds = [a.value for a in Aggregation]
    if aggregation not in kinds:
        raise InvalidInput(f"The aggregation must be one of {', '.join(kinds)}, not {aggregation!r}.")
    groups = definition.get("group_keys", [])
    filters = definition.get("filters", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise InvalidInput("The group keys must be a list of property names.")
    if not isinstance(filters, list) or not all(isinstance(f, dict) for f in filters):
        raise InvalidInput("The filters must be a list of {key, op, values} filters.")
    try:
        return BillableMetric(
            id=metric_id,
            name=name,
            event_type=str(definition.get("event_type", "")).strip(),
            aggregation=Aggregation(aggregation),
            aggregation_key=str(definition.get("aggregation_key") or "").strip() or None,
            filters=tuple(filter_from_doc(f) for f in filters),
            group_keys=tuple(g.strip() for g in groups),
        )
    except DomainError as exc:
        raise InvalidInput(str(exc).replace("Metric 'preview' ", "The metric ")) from None


def preview(actor: Actor, definition: Mapping[str, Any], now: datetime | None = None) -> MetricPreview:
    """Run a definition over the newest stored events of its type (staff only)."""
    require_staff(actor)
    metric = _metric(definition)
    now = now or utcnow()
    since = now - timedelta(days=PREVIEW_DAYS)
    with UnitOfWork() as uow:
        events = event_store(uow.session.connection()).latest_events(metric.event_type, since, PREVIEW_EVENTS)
    window = Period(since.replace(minute=0, second=0, microsecond=0), now + timedelta(hours=1))
    seen = [e for e in events if window.start <= e.timestamp < window.end]
    result = aggregate(metric, seen, [window])
    # The same filters and groups, counting: how many events each group has (rejected ones included).
    counting = replace(metric, aggregation=Aggregation.COUNT, aggregation_key=None)
    counts = {group: int(quantity(state)) for (_, group), state in aggregate(counting, seen, [window]).states.items()}
    states = {group: state for (_, group), state in result.states.items()}
    ordered = sorted(states.items(), key=lambda item: (-quantity(item[1]), item[0]))
    return MetricPreview(
        events_read=len(events),
        matching=sum(counts.values()) - len(result.rejected),
        rejected=len(result.rejected),
        reasons=tuple(dict.fromkeys(r.reason for r in result.rejected))[:5],
        total=plain_number(quantity(result.total())),
        groups=tuple(
            GroupSample(
                ", ".join(f"{k}={v}" for k, v in zip(metric.group_keys, group, strict=True)) or "(all events)",
                plain_number(quantity(state)),
                counts.get(group, 0),
            )
            for group, state in ordered[:SAMPLE_GROUPS]
        ),
        since=since,
    )


def _view(row: BillableMetricRow) -> MetricView:
    return MetricView(
        id=row.id,
        name=row.name,
        event_type=row.event_type,
        aggregation=row.aggregation,
        aggregation_key=row.aggregation_key or "",
        group_keys=tuple(row.group_keys),
        filters=tuple(row.filters),
        archived=row.archived_at is not None,
    )


def list_metrics(actor: Actor) -> list[MetricView]:
    """Every metric, active ones first, by name (staff only)."""
    require_staff(actor)
    with UnitOfWork() as uow:
        rows = uow.session.exec(select(BillableMetricRow).order_by(col(BillableMetricRow.name))).all()
        return sorted((_view(r) for r in rows), key=lambda m: m.archived)


def create_metric(actor: Actor, definition: Mapping[str, Any]) -> MetricView:
    """Save a metric (it counts events ingested from now on); the ingest writer reads it at once."""
    require_staff(actor)
    metric = _metric(definition)
    with UnitOfWork() as uow:
        taken = uow.session.exec(select(BillableMetricRow).where(BillableMetricRow.name == metric.name)).first()
        if taken is not None:
            raise InvalidInput(f"A metric is already named {metric.name!r}: pick another name.")
        row = BillableMetricRow(
            name=metric.name,
            event_type=metric.event_type,
            aggregation=metric.aggregation.value,
            aggregation_key=metric.aggregation_key,
            filters=list(definition.get("filters", [])),
            group_keys=list(metric.group_keys),
        )
        uow.session.add(row)
        uow.session.flush()
        metric_from_row(row)  # the stored shape reads back
        view = _view(row)
        record(uow.session, actor, "metric.create", ("metric", row.id), f"metric {row.name!r} created",
               after={"name": row.name, "event_type": row.event_type, "aggregation": row.aggregation,
                      "aggregation_key": row.aggregation_key, "group_keys": row.group_keys,
                      "filters": row.filters})  # fmt: skip
    writer().refresh_metrics()
    return view


def archive_metric(actor: Actor, metric_id: str) -> MetricView:
    """Stop counting new events for a metric (what it counted stays billed)."""
    require_staff(actor)
    with UnitOfWork() as uow:
        row = uow.session.get(BillableMetricRow, metric_id)
        if row is None:
            raise NotFound(f"There is no metric {metric_id}.")
        if row.archived_at is None:
            row.archived_at = utcnow()
            record(uow.session, actor, "metric.archive", ("metric", row.id), f"metric {row.name!r} archived")
        view = _view(row)
    writer().refresh_metrics()
    return view
