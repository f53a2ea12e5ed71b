"""The ingest gate of blocking budgets: usage of a department whose blocking budget is used up is refused.

Which departments have a blocking budget, and whether each one's is used up, is worked out at most once a
second per process (rating a department's family takes milliseconds; ingest answers thousands of requests a
second), so a budget raised by an admin lets usage in again within a second. The readings are kept by
:class:`portal.services.readings.Readings`.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from portal.db.models import utcnow
from portal.services import enterprise
from portal.services.readings import REFRESH_SECONDS, Readings


class BudgetGate:
    """Says which of some customers may not send usage now, and why (see the module docstring)."""

    def __init__(self, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self._gated: Readings[None, set[str]] = Readings(refresh_seconds)
        self._reasons: Readings[str, str | None] = Readings(refresh_seconds)

    def refusals(self, customer_ids: Iterable[str]) -> dict[str, str]:
        """The reason each of ``customer_ids`` is refused, for those whose blocking budget is used up."""
        gated = self._gated.get(None, enterprise.gated_customers)
        refused: dict[str, str] = {}
        for customer_id in set(customer_ids) & gated:
            read = partial(enterprise.budget_exhausted, customer_id=customer_id, at=utcnow())
            reason = self._reasons.get(customer_id, read)
            if reason is not None:
                refused[customer_id] = reason
        return refused

    def forget(self) -> None:
        """Drop what was read (after a budget changed, or in tests)."""
        self._gated.forget()
        self._reasons.forget()


_GATE = BudgetGate()


def gate() -> BudgetGate:
    """The process's budget gate."""
    return _GATE
