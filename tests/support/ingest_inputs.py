"""Hypothesis strategies for what clients may send to ``POST /api/v1/ingest``: any JSON, and events that are
valid but for one field (the unit fuzz tests feed them to the parser, the integration tests to the route)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from portal.services.ingest import MAX_TEXT, MAX_VALUE_TEXT

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
"""The instant the unit tests parse at."""
FIELDS = ("transaction_id", "customer_id", "event_type", "timestamp", "properties")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)
"""Any JSON value (NaN and infinities included, as Python's json accepts them)."""

wrong_values = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.lists(st.text(max_size=3), max_size=3)
    | st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=3)
    | st.text(max_size=5)
    | st.text(min_size=MAX_VALUE_TEXT, max_size=MAX_VALUE_TEXT + 5)
    | st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "x\udfff", "😀", "é" * (MAX_TEXT + 1)])
)
"""Values that are wrong for some field of an event (and some that happen to be right)."""

timestamps = st.one_of(
    st.datetimes(timezones=st.timezones()).map(datetime.isoformat),
    st.datetimes().map(datetime.isoformat),  # no timezone
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["2026-11-23T10:00:00Z", "2026-13-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "yesterday"]),
    st.text(max_size=70),
)


def valid_event(n: int = 0, now: datetime = NOW) -> dict[str, Any]:
    """An event the parser accepts at ``now``."""
    return {
        "transaction_id": f"t-{n}",
        "customer_id": "acme",
        "event_type": "ai_usage",
        "timestamp": (now - timedelta(minutes=5)).isoformat(),
        "properties": {"tokens": "12", "user_id": "ann"},
    }


@st.composite
def near_valid_events(draw: st.DrawFn, now: datetime = NOW) -> tuple[dict[str, Any], str]:
    """A valid event at ``now`` with one field changed (or removed), and the name of that field."""
    event = valid_event(0, now)
    field = draw(st.sampled_from(FIELDS))
    change = draw(st.sampled_from(["remove", "wrong", "timestamp", "property"]))
    if change == "remove":
        del event[field]
    elif change == "timestamp":
        field = "timestamp"
        event[field] = draw(timestamps)
    elif change == "property":
        field = "properties"
        event[field] = {**event[field], draw(st.text(max_size=MAX_TEXT + 5)): draw(wrong_values)}
    else:
        event[field] = draw(wrong_values)
    return event, field
