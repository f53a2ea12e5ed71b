"""State of staff's metrics page at ``/staff/metrics``: the list, archiving, and the new-metric form with its
live preview over recent events.

The form is controlled: every change (text fields debounced) runs the
definition through :func:`portal.services.metrics.preview`, which shows what
it makes of recent events, or the service's message naming what is wrong.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.event import EventSpec

from portal.components.access import LOADING
from portal.services import metrics
from portal.services.errors import ServiceError
from portal.services.identity import Identity
from portal.services.metrics import MetricPreview, MetricView
from portal.state.access import load_guarded
from portal.state.session import identity_of, session_ended

ROUTE = "/staff/metrics"
AGGREGATIONS = ("count", "sum", "max", "latest", "unique")
FILTER_OPS = ("in", "not_in", "exists")
PREVIEW_NAME = "Preview"
"""The name a nameless definition is previewed under (the name matters only when saving)."""


def split_list(text: str) -> list[str]:
    """Comma-separated words, trimmed, empty ones left out."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _filter_text(doc: dict[str, Any]) -> str:
    values = ", ".join(str(v) for v in doc.get("values", ()))
    return f"{doc.get('key', '')} {doc.get('op', '')}" + (f" [{values}]" if values else "")


def metric_row(view: MetricView) -> dict[str, str]:
    """One metric as the table shows it."""
    return {
        "id": view.id,
        "name": view.name,
        "event_type": view.event_type,
        "aggregation": view.aggregation + (f"({view.aggregation_key})" if view.aggregation_key else ""),
        "groups": ", ".join(view.group_keys) or "—",
        "filters": "; ".join(_filter_text(f) for f in view.filters) or "—",
        "archived": "yes" if view.archived else "",
    }


def preview_view(result: MetricPreview) -> dict[str, Any]:
    """A preview's figures as strings, with its reasons and sample groups."""
    return {
        "figures": {
            "events_read": str(result.events_read),
            "matching": str(result.matching),
            "rejected": str(result.rejected),
            "total": result.total,
            "since": f"{result.since:%Y-%m-%d %H:%M} UTC",
        },
        "reasons": list(result.reasons),
        "groups": [{"group": g.group, "value": g.value, "events": str(g.events)} for g in result.groups],
    }


def _rows(identity: Identity) -> list[dict[str, str]]:
    return [metric_row(m) for m in metrics.list_metrics(identity)]


class MetricsState(rx.State):
    """The metrics, the new-metric form, its preview, and the archive confirmation."""

    access: str = LOADING
    denied_reason: str = ""
    metrics: list[dict[str, str]] = []
    form_open: bool = False
    name: str = ""
    event_type: str = ""
    aggregation: str = "count"
    aggregation_key: str = ""
    group_keys: str = ""
    filters: list[dict[str, str]] = []
    preview: dict[str, str] = {}
    has_preview: bool = False
    preview_reasons: list[str] = []
    preview_groups: list[dict[str, str]] = []
    preview_error: str = ""
    save_error: str = ""
    archive_open: bool = False
    archive_name: str = ""
    _archive_id: str = ""

    @rx.event
    def load(self) -> None:
        """List every metric (staff only)."""
        self.form_open = self.archive_open = False
        rows = load_guarded(self, _rows)
        if rows is not None:
            self.metrics = rows

    def _definition(self) -> dict[str, Any]:
        """The form as the metrics service takes a definition."""
        return {
            "name": self.name.strip() or PREVIEW_NAME,
            "event_type": self.event_type,
            "aggregation": self.aggregation,
            "aggregation_key": self.aggregation_key,
            "group_keys": split_list(self.group_keys),
            "filters": [
                {
                    "key": f["key"].strip(),
                    "op": f["op"],
                    "values": [] if f["op"] == "exists" else split_list(f["values"]),
                }
                for f in self.filters
                if f["key"].strip()
            ],
        }

    def _preview(self) -> EventSpec | None:
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        if not self.event_type.strip():
            self.preview, self.preview_error, self.has_preview = {}, "", False
            return None
        try:
            shown = preview_view(metrics.preview(identity, self._definition()))
        except ServiceError as exc:
            self.preview, self.preview_reasons, self.preview_groups = {}, [], []
            self.preview_error, self.has_preview = str(exc), False
            return None
        self.preview_error, self.has_preview = "", True
        self.preview, self.preview_reasons, self.preview_groups = (
            shown["figures"],
            shown["reasons"],
            shown["groups"],
        )
        return None

    @rx.event
    def open_form(self) -> None:
        """Show an empty new-metric form."""
        self.name = self.event_type = self.aggregation_key = self.group_keys = ""
        self.aggregation, self.filters = "count", []
        self.preview, self.preview_error, self.save_error, self.form_open = {}, "", "", True
        self.has_preview = False

    @rx.event
    def close_form(self) -> None:
        """Hide the new-metric form."""
        self.form_open = False

    def _set_field(self, field: str, value: str) -> EventSpec | None:
        """Change one field of the definition and preview it again."""
        if field in ("name", "event_type", "aggregation_key", "group_keys"):
            setattr(self, field, value)
        elif field == "aggregation" and value in AGGREGATIONS:
            self.aggregation = value
        return self._preview()

    @rx.event
    def set_name(self, value: str) -> EventSpec | None:
        """Change the metric's name."""
        return self._set_field("name", value)

    @rx.event
    def set_event_type(self, value: str) -> EventSpec | None:
        """Change the event type the metric counts."""
        return self._set_field("event_type", value)

    @rx.event
    def set_aggregation(self, value: str) -> EventSpec | None:
        """Change the aggregation."""
        return self._set_field("aggregation", value)

    @rx.event
    def set_aggregation_key(self, value: str) -> EventSpec | None:
        """Change the property aggregated."""
        return self._set_field("aggregation_key", value)

    @rx.event
    def set_group_keys(self, value: str) -> EventSpec | None:
        """Change the comma-separated group keys."""
        return self._set_field("group_keys", value)

    @rx.event
    def add_filter(self) -> None:
        """Add an empty filter row."""
        self.filters = [*self.filters, {"key": "", "op": "in", "values": ""}]

    @rx.event
    def remove_filter(self, index: int) -> EventSpec | None:
        """Drop one filter row and preview again."""
        self.filters = [f for i, f in enumerate(self.filters) if i != index]
        return self._preview()

    @rx.event
    def set_filter(self, index: int, part: str, value: str) -> EventSpec | None:
        """Change the key, op or values of one filter row and preview again."""
        if part not in ("key", "op", "values") or not 0 <= index < len(self.filters):
            return None
        self.filters = [{**f, part: value} if i == index else f for i, f in enumerate(self.filters)]
        return self._preview()

    @rx.event
    def run_preview(self) -> EventSpec | None:
        """Preview the definition as it stands."""
        return self._preview()

    @rx.event
    def save(self) -> EventSpec | None:
        """Save the metric; name what was wrong and keep the form otherwise."""
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        definition = {**self._definition(), "name": self.name}
        try:
            saved = metrics.create_metric(identity, definition)
            self.metrics = _rows(identity)
        except ServiceError as exc:
            self.save_error = str(exc)
            return None
        self.save_error, self.form_open = "", False
        return rx.toast.success(f"Metric {saved.name!r} saved: it counts events ingested from now on.")

    @rx.event
    def ask_archive(self, metric_id: str, name: str) -> None:
        """Ask to confirm archiving one metric."""
        self._archive_id, self.archive_name, self.archive_open = metric_id, name, True

    @rx.event
    def set_archive_open(self, is_open: bool) -> None:
        """Close (or open) the archive confirmation."""
        self.archive_open = is_open

    @rx.event
    def archive(self) -> EventSpec | None:
        """Archive the metric confirmed."""
        identity = identity_of(self)
        self.archive_open = False
        if identity is None:
            return session_ended()
        try:
            view = metrics.archive_metric(identity, self._archive_id)
            self.metrics = _rows(identity)
        except ServiceError as exc:
            return rx.toast.error(str(exc))
        return rx.toast.success(f"Metric {view.name!r} archived.")
