"""Loading domain values from rows (the one place that knows both shapes)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from portal.db.codecs import filter_from_doc
from portal.db.models import BillableMetricRow
from portal.domain.metrics import Aggregation, BillableMetric


def metric_from_row(row: BillableMetricRow) -> BillableMetric:
    """The domain metric a row describes."""
    return BillableMetric(
        id=row.id,
        name=row.name,
        event_type=row.event_type,
        aggregation=Aggregation(row.aggregation),
        aggregation_key=row.aggregation_key,
        filters=tuple(filter_from_doc(f) for f in row.filters),
        group_keys=tuple(row.group_keys),
    )


def active_metrics(session: Session) -> list[BillableMetric]:
    """Every metric that is not archived, oldest first."""
    rows = session.exec(
        select(BillableMetricRow)
        .where(col(BillableMetricRow.archived_at).is_(None))
        .order_by(col(BillableMetricRow.created_at))
    ).all()
    return [metric_from_row(row) for row in rows]
