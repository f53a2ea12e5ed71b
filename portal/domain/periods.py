"""Time: half-open UTC periods, billing calendars anchored on a start day, proration.

Rules (see ``portal/domain/README.md``):

* Every instant is timezone-aware UTC; a naive datetime is refused.
* A :class:`Period` is half-open ``[start, end)``: an event exactly at
  ``end`` belongs to the next period.
* Billing periods are anchored on the contract's start instant. A monthly
  contract starting on the 31st bills on the 31st, or on the last day of a
  shorter month (30 April, 28/29 February), and returns to the 31st when the
  month has one. Period *n* always starts at ``anchor + n × length`` computed
  from the anchor, so clamping never drifts.
* Proration is by elapsed seconds: a part of a period is worth
  ``part seconds / period seconds`` of the period's price, computed by
  :func:`prorate` with one division. Amounts are split with
  :func:`portal.domain.money.allocate` where parts must add up.

All calendar math lives in this module.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from itertools import pairwise

from portal.domain.errors import InvalidPeriod


def ensure_utc(instant: datetime, what: str = "instant") -> datetime:
    """Return ``instant`` converted to UTC; refuse a naive datetime."""
    if instant.tzinfo is UTC:
        return instant
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise InvalidPeriod(
            f"The {what} {instant.isoformat()} has no timezone: give times in UTC, e.g. 2026-01-31T00:00:00Z."
        )
    try:
        return instant.astimezone(UTC)
    except OverflowError:
        raise InvalidPeriod(
            f"The {what} {instant.isoformat()} is out of range: give a year from 1 to 9999 in UTC."
        ) from None


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """Shorthand for a UTC datetime."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A half-open interval of time ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is not UTC:
            object.__setattr__(self, "start", ensure_utc(self.start, "period start"))
        if self.end.tzinfo is not UTC:
            object.__setattr__(self, "end", ensure_utc(self.end, "period end"))
        if self.end <= self.start:
            raise InvalidPeriod(
                f"A period must end after it starts: {self.start.isoformat()} to {self.end.isoformat()}."
            )

    @property
    def duration(self) -> timedelta:
        """Length of the period."""
        return self.end - self.start

    def contains(self, instant: datetime) -> bool:
        """True when ``start <= instant < end``."""
        return self.start <= instant < self.end

    def overlap(self, other: Period) -> Period | None:
        """The part shared with ``other``, or None when they do not overlap."""
        start = max(self.start, other.start)
        end = min(self.end, other.end)
        return Period(start, end) if start < end else None

    def split_at(self, instants: Iterator[datetime] | list[datetime] | tuple[datetime, ...]) -> tuple[Period, ...]:
        """Cut the period at the given instants (those outside it are ignored), in order."""
        cuts = sorted({ensure_utc(i) for i in instants if self.start < i < self.end})
        bounds = [self.start, *cuts, self.end]
        return tuple(Period(a, b) for a, b in pairwise(bounds))

    def label(self) -> str:
        """Short human label, e.g. ``2026-01-31 to 2026-02-28`` (end shown exclusive)."""
        return f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}"


class Frequency(Enum):
    """A billing frequency, valued in months."""

    MONTHLY = 1
    QUARTERLY = 3
    ANNUAL = 12

    @property
    def months(self) -> int:
        """Number of months in one period."""
        return self.value


def add_months(anchor: datetime, months: int) -> datetime:
    """``anchor`` moved by ``months`` calendar months, the day clamped to the month's last day."""
    anchor = ensure_utc(anchor, "anchor")
    month_index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(month_index, 12)
    day = min(anchor.day, calendar.monthrange(year, month + 1)[1])
    return anchor.replace(year=year, month=month + 1, day=day)


def period_start(anchor: datetime, frequency: Frequency, index: int) -> datetime:
    """Start of billing period number ``index`` (0 is the one starting at ``anchor``)."""
    return add_months(anchor, index * frequency.months)


def billing_period(anchor: datetime, frequency: Frequency, index: int) -> Period:
    """Billing period number ``index`` of a calendar anchored at ``anchor``."""
    return Period(period_start(anchor, frequency, index), period_start(anchor, frequency, index + 1))


def period_index(anchor: datetime, frequency: Frequency, instant: datetime) -> int:
    """Index of the billing period that contains ``instant`` (negative before the anchor)."""
    anchor = ensure_utc(anchor, "anchor")
    instant = ensure_utc(instant)
    months = (instant.year - anchor.year) * 12 + (instant.month - anchor.month)
    index = months // frequency.months
    # The estimate is off by at most one in either direction; settle it.
    while period_start(anchor, frequency, index) > instant:
        index -= 1
    while period_start(anchor, frequency, index + 1) <= instant:
        index += 1
    return index


@lru_cache(maxsize=4096)
def is_billing_period(anchor: datetime, frequency: Frequency, period: Period) -> bool:
    """True when ``period`` is one of the billing periods of the calendar anchored at ``anchor``.

    Period *n* starts in the calendar month ``n × length`` months after the
    anchor's (only its day is clamped), so the start's month says which
    period it can be. Every draft asks this of each contract, mostly for the
    same few anchors and periods, so the answers are kept.
    """
    anchor = ensure_utc(anchor, "anchor")
    months = (period.start.year - anchor.year) * 12 + (period.start.month - anchor.month)
    index, off = divmod(months, frequency.months)
    return not off and billing_period(anchor, frequency, index) == period


def billing_period_containing(anchor: datetime, frequency: Frequency, instant: datetime) -> Period:
    """The billing period of the calendar anchored at ``anchor`` that contains ``instant``."""
    return billing_period(anchor, frequency, period_index(anchor, frequency, instant))


def billing_periods(anchor: datetime, frequency: Frequency, window: Period) -> Iterator[Period]:
    """Every billing period that overlaps ``window``, in order (whole periods, not clipped)."""
    index = period_index(anchor, frequency, window.start)
    while True:
        period = billing_period(anchor, frequency, index)
        if period.start >= window.end:
            return
        yield period
        index += 1


@lru_cache(maxsize=4096)
def stamp(instant: datetime) -> str:
    """``instant`` in UTC, to the second, as ids and keys show it: ``2026-01-31T00:00:00Z``.

    The same few instants recur in every draft, so their text is kept.
    """
    return f"{ensure_utc(instant):%Y-%m-%dT%H:%M:%S}Z"


def proration_fraction(part: Period, whole: Period) -> Decimal:
    """Share of ``whole`` covered by ``part``, by seconds, between 0 and 1.

    The part is clipped to the whole first. Exact for whole-second periods up
    to the Decimal context precision (28 significant digits).
    """
    covered = part.overlap(whole)
    if covered is None:
        return Decimal(0)
    return Decimal(_micros(covered.duration)) / Decimal(_micros(whole.duration))


def prorate(amount: Decimal, part: Period, whole: Period) -> Decimal:
    """``amount`` × (seconds of ``part`` inside ``whole``) / (seconds of ``whole``), dividing once.

    Multiplying before the single division keeps results exact whenever they
    can be: $31 prorated for 1 day of a 31-day month is exactly $1.
    """
    covered = part.overlap(whole)
    if covered is None:
        return Decimal(0)
    return amount * _micros(covered.duration) / _micros(whole.duration)


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
