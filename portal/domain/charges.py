"""Charges: what rating produces and burn-down consumes.

A :class:`Charge` is an amount owed for one product, by one contract, at one
instant, in one credit type, optionally attributed to a seat and to
presentation groups (``model=gpt-4``). Rating turns usage, seats and fees
into charges; burn-down draws each charge from the grants that apply to it
and what no grant covers becomes overage.

Charges are processed in :func:`charge_order` (time, then id), which makes
the result independent of the order events arrived in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from operator import attrgetter

from portal.domain.money import CreditType


@dataclass(frozen=True, slots=True)
class Charge:
    """An amount owed, at full precision, before grants are applied.

    ``id`` is stable across re-rating (built from contract, product, window
    and group) so that deductions and invoice lines can refer to it.
    ``at`` is the instant the charge was incurred: only grants active at
    that instant can pay for it.
    """

    id: str
    contract_id: str
    product_id: str
    at: datetime
    amount: Decimal
    credit_type: CreditType
    seat_id: str | None = None
    group: tuple[tuple[str, str], ...] = field(default=())


charge_order: Callable[[Charge], tuple[datetime, str]] = attrgetter("at", "id")
"""Sort key for processing charges: ``(charge.at, charge.id)``, by instant, then by id (a stable tie-break)."""
