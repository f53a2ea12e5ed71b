"""The event store is the one seam for usage events: no other module of the portal touches their tables.

A module that read or wrote ``usage_event`` or ``usage_rollup`` itself would
bypass :class:`portal.db.event_store.EventStore`, and moving the events to
another engine would silently miss it.
"""

from __future__ import annotations

import re

from portal.config import PROJECT_ROOT

STORE = {"portal/db/event_store.py", "portal/db/usage_store.py", "portal/db/models.py"}
"""The interface, its SQL implementation, and the table definitions."""

EVENT_TABLES = re.compile(
    r"usage_event\b|usage_rollup\b|\bUsageRollup\b|UsageEvent as UsageEventRow|models\.UsageEvent\b"
)


def test_only_the_event_store_touches_the_event_tables() -> None:
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}"
        for path in sorted((PROJECT_ROOT / "portal").rglob("*.py"))
        if path.relative_to(PROJECT_ROOT).as_posix() not in STORE
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if EVENT_TABLES.search(line)
    ]
    assert not offenders, "go through portal.db.event_store.event_store() instead:\n" + "\n".join(offenders)


def test_the_seam_check_sees_a_table_name() -> None:
    assert EVENT_TABLES.search('rows = connection.execute(text("SELECT * FROM usage_rollup"))')
    assert not EVENT_TABLES.search("usage_events_per_second = 1")
