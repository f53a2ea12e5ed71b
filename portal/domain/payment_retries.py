"""When a failed payment is tried again: a fixed schedule counted from the first failure (pure; no clock reads).

An invoice whose collection failed (the card was declined, or the payment provider could not be reached) is
tried again :data:`RETRY_AFTER` after its *first* failure: 1, 3 and 7 days later. The schedule is anchored there,
not at the latest attempt, so a "Pay again" by the customer in between, or a job that ran late, does not push the
remaining retries back: the next retry is simply the first slot still ahead. After the last slot there are no more
automatic attempts; the customer admin can still pay again by hand.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from portal.domain.periods import ensure_utc

RETRY_AFTER: tuple[timedelta, ...] = (timedelta(days=1), timedelta(days=3), timedelta(days=7))
"""How long after the first failed attempt each automatic retry is made."""


def next_retry(first_failure: datetime, now: datetime) -> datetime | None:
    """The first retry of the schedule later than ``now`` for a payment that first failed at ``first_failure``;
    None when the last scheduled retry is not in the future (no more automatic attempts)."""
    first_failure, now = ensure_utc(first_failure, "first failure"), ensure_utc(now, "now")
    for delay in RETRY_AFTER:
        if first_failure + delay > now:
            return first_failure + delay
    return None
