"""The ingest gate of blocking budgets: usage of a department whose blocking budget is used up is refused.

Which departments have a blocking budget, and whether each one's is used up, is worked out at most once a
second per process (rating a department's family takes milliseconds; ingest answers thousands of requests a
second), so a budget raised by an admin lets usage in again within a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from sqlmodel import Session

from portal.db.models import utcnow
from portal.db.session import get_engine
from portal.services import enterprise

REFRESH_SECONDS = 1.0
"""How long a reading of the blocking budgets is trusted."""


class BudgetGate:
    """Says which of some customers may not send usage now, and why (see the module docstring)."""

    def __init__(self, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._gated: tuple[float, set[str]] = (-1e9, set())
        self._reasons: dict[str, tuple[float, str | None]] = {}

    def refusals(self, customer_ids: Iterable[str]) -> dict[str, str]:
        """The reason each of ``customer_ids`` is refused, for those whose blocking budget is used up."""
        now = time.monotonic()
        with self._lock:
            read_at, gated = self._gated
        if now - read_at > self._refresh:
            with Session(get_engine()) as session:
                gated = enterprise.gated_customers(session)
            with self._lock:
                self._gated = (now, gated)
        refused: dict[str, str] = {}
        for customer_id in set(customer_ids) & gated:
            reason = self._reason(customer_id, now)
            if reason is not None:
                refused[customer_id] = reason
        return refused

    def _reason(self, customer_id: str, now: float) -> str | None:
        with self._lock:
            cached = self._reasons.get(customer_id)
        if cached is not None and now - cached[0] <= self._refresh:
            return cached[1]
        with Session(get_engine()) as session:
            reason = enterprise.budget_exhausted(session, customer_id, utcnow())
        with self._lock:
            self._reasons[customer_id] = (now, reason)
        return reason

    def forget(self) -> None:
        """Drop what was read (after a budget changed, or in tests)."""
        with self._lock:
            self._gated = (-1e9, set())
            self._reasons.clear()


_GATE = BudgetGate()


def gate() -> BudgetGate:
    """The process's budget gate."""
    return _GATE
