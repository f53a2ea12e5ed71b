"""The event store is the one seam for usage events: no other module of the portal touches their tables.

A module that read or wrote ``usage_event`` or ``usage_rollup`` itself (by
name in SQL, or through their table classes) would bypass
:class:`portal.db.event_store.EventStore`, and moving the events to another
engine would silently miss it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from portal.config import PROJECT_ROOT

STORE = {"portal/db/event_store.py", "portal/db/usage_store.py", "portal/db/models.py"}
"""The interface, its SQL implementation, and the table definitions."""

TABLE_NAMES = re.compile(r"\busage_event\b|\busage_rollup\b")
TABLE_CLASSES = {"UsageEvent", "UsageRollup"}
"""The table classes in portal.db.models (the domain's UsageEvent is another class, free to use)."""


def offences(path: Path) -> list[str]:
    """Where the module at ``path`` names an event table or imports an event table class."""
    source = path.read_text()
    found = [f"line {n}: {line.strip()}" for n, line in enumerate(source.splitlines(), 1) if TABLE_NAMES.search(line)]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == "portal.db.models":
            found += [f"line {node.lineno}: imports {a.name}" for a in node.names if a.name in TABLE_CLASSES]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in TABLE_CLASSES
            and ast.unparse(node.value).endswith("models")
        ):
            found.append(f"line {node.lineno}: uses {ast.unparse(node)}")
    return found


def test_only_the_event_store_touches_the_event_tables() -> None:
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)} {offence}"
        for path in sorted((PROJECT_ROOT / "portal").rglob("*.py"))
        if path.relative_to(PROJECT_ROOT).as_posix() not in STORE
        for offence in offences(path)
    ]
    assert not offenders, "go through portal.db.event_store.event_store() instead:\n" + "\n".join(offenders)


def test_the_seam_check_sees_table_names_and_table_classes(tmp_path: Path) -> None:
    module = tmp_path / "reader.py"
    module.write_text(
        "from portal.db.models import Customer, UsageEvent\n"
        "from portal.db import models\n"
        "from portal.domain.metrics import UsageEvent as Event\n"
        "rows = models.UsageRollup\n"
        'sql = "SELECT count(*) FROM usage_event"\n'
        "usage_events_per_second = 1\n"
    )
    assert offences(module) == [
        'line 5: sql = "SELECT count(*) FROM usage_event"',
        "line 1: imports UsageEvent",
        "line 4: uses models.UsageRollup",
    ]
