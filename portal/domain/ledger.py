"""The grant ledger: append-only movements on grants, and balances as their sums.

Rules (see ``portal/domain/README.md``):

* Every change to a grant's balance is a :class:`LedgerEntry`. Entries are
  never changed or deleted; a correction is a new ``ADJUSTMENT`` entry.
* Each entry has a kind, and the kind fixes its sign:

  - ``GRANT_START``: the grant's amount, zero or more, dated at its start;
  - ``USAGE``: a deduction for a charge, zero or less, dated at the charge's
    instant, its reference is the charge id;
  - ``EXPIRY``: zero or less, dated at the grant's expiry; it removes
    whatever was left, so the balance after it is zero;
  - ``ADJUSTMENT``: a manual correction of either sign.

* A grant's balance as of an instant is the sum of its entries dated at or
  before that instant; its balance without an instant is the sum of all its
  entries.
* Ledger arithmetic is exact: sums are computed with up to
  :data:`~portal.domain.money.EXACT_DIGITS` significant digits and any sum
  that would need more is refused instead of being rounded (see
  :func:`portal.domain.money.exact_arithmetic`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum

from portal.domain.errors import InvalidLedgerEntry
from portal.domain.money import ZERO, exact_arithmetic, to_decimal
from portal.domain.periods import ensure_utc


class EntryKind(Enum):
    """What caused a movement on a grant."""

    GRANT_START = "grant_start"
    USAGE = "usage"
    EXPIRY = "expiry"
    ADJUSTMENT = "adjustment"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One movement on one grant, signed (+ adds to the balance, - takes from it).

    ``reference`` names the cause: the charge id for ``USAGE``, the grant's
    source for ``GRANT_START``, a ticket or note for ``ADJUSTMENT``.
    ``contract_id`` and ``seat_id`` say whose charge drew a ``USAGE`` entry:
    they let a contract's draws on its ancestors' shared commits be counted
    against the budget caps on the way up, and a seat's draws on a pool be
    shown to its holder.
    """

    grant_id: str
    at: datetime
    kind: EntryKind
    amount: Decimal
    reference: str
    contract_id: str | None = None
    seat_id: str | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is not UTC:
            object.__setattr__(self, "at", ensure_utc(self.at, "ledger entry time"))
        amount = self.amount
        if not (isinstance(amount, Decimal) and amount.is_finite()):
            amount = to_decimal(amount, f"amount of the {self.kind.value} entry on grant {self.grant_id}")
            object.__setattr__(self, "amount", amount)
        if not self.grant_id:
            raise InvalidLedgerEntry("A ledger entry must name the grant it moves.")
        kind = self.kind
        if kind is EntryKind.GRANT_START and amount < ZERO:
            raise InvalidLedgerEntry(
                f"The start entry of grant {self.grant_id} is {amount}: a grant starts with zero or more; "
                "record a reduction as an ADJUSTMENT."
            )
        if (kind is EntryKind.USAGE or kind is EntryKind.EXPIRY) and amount > ZERO:
            raise InvalidLedgerEntry(
                f"The {self.kind.value} entry on grant {self.grant_id} adds {amount}: usage and expiry only take "
                "from a balance; record an addition as an ADJUSTMENT."
            )


def balance(ledger: Iterable[LedgerEntry], grant_id: str, as_of: datetime | None = None) -> Decimal:
    """The balance of ``grant_id``: the sum of its entries dated at or before ``as_of`` (all when None)."""
    return balances(ledger, as_of).get(grant_id, ZERO)


def balances(ledger: Iterable[LedgerEntry], as_of: datetime | None = None) -> dict[str, Decimal]:
    """Every grant's balance, by grant id, as of ``as_of`` (all entries when None)."""
    cutoff = None if as_of is None else ensure_utc(as_of, "balance time")
    totals: dict[str, Decimal] = {}
    with exact_arithmetic():
        for entry in ledger:
            if cutoff is None or entry.at <= cutoff:
                totals[entry.grant_id] = totals.get(entry.grant_id, ZERO) + entry.amount
    return totals


def ledger_order(entry: LedgerEntry) -> tuple[datetime, int, str, str]:
    """Sort key for showing a ledger: by time, then start, usage, expiry, adjustment, then grant and reference."""
    return (entry.at, _KIND_ORDER[entry.kind], entry.grant_id, entry.reference)


_KIND_ORDER = {EntryKind.GRANT_START: 0, EntryKind.USAGE: 1, EntryKind.EXPIRY: 2, EntryKind.ADJUSTMENT: 3}
