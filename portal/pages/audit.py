"""Staff's audit log at ``/staff/audit``: every staff change, newest first, filtered by action and by text."""

from __future__ import annotations

import json
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from portal.components.access import LOADING
from portal.components.layout import notice, page_header
from portal.components.staff_nav import staff_area
from portal.services.audit import AUDIT_PAGE, AuditView, audit_actions, audit_log
from portal.services.errors import ServiceError
from portal.services.identity import Identity
from portal.state.access import load_guarded
from portal.state.session import identity_of, session_ended

ROUTE = "/staff/audit"
ALL_ACTIONS = "all"
"""The action filter's choice meaning "every action" (a select cannot offer an empty value)."""


def compact_json(document: dict[str, Any] | None) -> str:
    """A snapshot as one line of JSON with sorted keys (empty when there is none)."""
    if document is None:
        return ""
    return json.dumps(document, sort_keys=True, separators=(", ", ": "), ensure_ascii=False, default=str)


def entry_row(entry: AuditView) -> dict[str, str]:
    """One log entry as the table shows it."""
    return {
        "id": str(entry.id),
        "at": f"{entry.at:%Y-%m-%d %H:%M:%S} UTC",
        "actor": entry.actor,
        "action": entry.action,
        "subject": f"{entry.subject_type.replace('_', ' ')} {entry.subject_id}",
        "summary": entry.summary,
        "before": compact_json(entry.before),
        "after": compact_json(entry.after),
    }


class AuditState(rx.State):
    """The filtered entries, the actions to filter by, and the filters."""

    access: str = LOADING
    denied_reason: str = ""
    entries: list[dict[str, str]] = []
    actions: list[str] = []
    action: str = ALL_ACTIONS
    search: str = ""

    def _query(self, identity: Identity) -> tuple[list[dict[str, str]], list[str]]:
        action = "" if self.action == ALL_ACTIONS else self.action
        entries = audit_log(identity, search=self.search, action=action)
        return [entry_row(e) for e in entries], audit_actions(identity)

    @rx.event
    def load(self) -> None:
        """Load the newest entries, unfiltered (staff only)."""
        self.action, self.search = ALL_ACTIONS, ""
        read = load_guarded(self, self._query)
        if read is not None:
            self.entries, self.actions = read

    def _reload(self) -> EventSpec | None:
        identity = identity_of(self)
        if identity is None:
            self.entries = []
            return session_ended()
        try:
            self.entries, self.actions = self._query(identity)
        except ServiceError as exc:
            self.entries = []
            return rx.toast.error(str(exc))
        return None

    @rx.event
    def set_action(self, action: str) -> EventSpec | None:
        """Show only entries of ``action`` (or every action)."""
        self.action = action
        return self._reload()

    @rx.event
    def set_search(self, text: str) -> EventSpec | None:
        """Show only entries whose actor, subject or summary contains ``text``."""
        self.search = text
        return self._reload()


def _snapshot(label: str, text: rx.Var, class_name: str) -> rx.Component:
    return rx.cond(
        text != "",
        rx.hstack(
            rx.badge(label, variant="outline", color_scheme="gray", size="1", flex_shrink="0"),
            rx.code(
                text,
                size="1",
                variant="ghost",
                white_space="pre-wrap",
                word_break="break-word",
                class_name=class_name,
            ),
            align="start",
            spacing="2",
        ),
    )


def _entry_row(entry: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(entry["at"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(entry["actor"], size="2"), class_name="audit-actor"),
        rx.table.cell(rx.badge(entry["action"], variant="soft"), class_name="audit-action"),
        rx.table.cell(
            rx.text(entry["summary"], size="2", class_name="audit-summary"),
            rx.text(entry["subject"], size="1", color_scheme="gray"),
            min_width="220px",
        ),
        rx.table.cell(
            rx.vstack(
                _snapshot("before", entry["before"], "audit-before"),
                _snapshot("after", entry["after"], "audit-after"),
                spacing="2",
            ),
            max_width="420px",
        ),
        class_name="audit-entry",
        data_action=entry["action"],
    )


def _filters() -> rx.Component:
    return rx.hstack(
        rx.select.root(
            rx.select.trigger(placeholder="Every action", id="audit-action"),
            rx.select.content(
                rx.select.item("Every action", value=ALL_ACTIONS),
                rx.foreach(AuditState.actions, lambda a: rx.select.item(a, value=a)),
            ),
            value=AuditState.action,
            on_change=AuditState.set_action,
        ),
        rx.input(
            rx.input.slot(rx.icon("search", size=15)),
            placeholder="Search who, what or which object…",
            value=AuditState.search,
            on_change=AuditState.set_search.debounce(300),
            width="340px",
            id="audit-search",
        ),
        rx.spacer(),
        rx.text(
            "Newest first; at most ",
            str(AUDIT_PAGE),
            " entries",
            size="1",
            color_scheme="gray",
        ),
        align="center",
        spacing="3",
        width="100%",
        wrap="wrap",
    )


def _entries_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell("When"),
                rx.table.column_header_cell("Who"),
                rx.table.column_header_cell("Action"),
                rx.table.column_header_cell("Summary"),
                rx.table.column_header_cell("Before and after"),
            )
        ),
        rx.table.body(rx.foreach(AuditState.entries, _entry_row)),
        variant="surface",
        width="100%",
        id="audit-log",
    )


def audit_page() -> rx.Component:
    """The audit log with its filters."""
    return staff_area(
        AuditState,
        ROUTE,
        page_header("Audit log", "Every change staff made to the catalog, customers' grants and invoices."),
        _filters(),
        rx.cond(
            AuditState.entries.length() == 0,
            notice("scroll-text", "No entries", "No change matches these filters."),
            _entries_table(),
        ),
    )
