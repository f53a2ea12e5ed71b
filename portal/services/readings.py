"""Short-lived readings: values worked out from the database and trusted for a moment, per process.

The ingest gates (blocking budgets in :mod:`portal.services.budget_gate`, spend caps in
:mod:`portal.services.spend_caps`) answer thousands of requests a second, but working out whether a customer
is stopped takes a rating run (milliseconds). Each gate keeps its readings here: a reading is read again once
it is older than ``refresh_seconds``, so a change an admin makes lets usage in (or stops it) within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlmodel import Session

from portal.db.session import get_engine

K = TypeVar("K")
V = TypeVar("V")

REFRESH_SECONDS = 1.0
"""How long a gate's reading is trusted."""


class Readings(Generic[K, V]):
    """Values read per key, each trusted for ``refresh_seconds`` (thread-safe; a miss reads outside the lock)."""

    def __init__(self, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._values: dict[K, tuple[float, V]] = {}

    def get(self, key: K, read: Callable[[Session], V]) -> V:
        """The value of ``key``: the cached one while fresh, else ``read`` in a new session (and remembered)."""
        now = time.monotonic()
        with self._lock:
            cached = self._values.get(key)
        if cached is not None and now - cached[0] <= self._refresh:
            return cached[1]
        with Session(get_engine()) as session:
            value = read(session)
        with self._lock:
            self._values[key] = (now, value)
        return value

    def forget(self) -> None:
        """Drop every reading (after a change this process made, or in tests)."""
        with self._lock:
            self._values.clear()
