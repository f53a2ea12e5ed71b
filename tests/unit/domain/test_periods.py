"""Periods: half-open UTC intervals, anchored billing calendars, proration by seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.domain.errors import InvalidPeriod
from portal.domain.periods import (
    Frequency,
    Period,
    add_months,
    billing_period,
    billing_period_containing,
    billing_periods,
    ensure_utc,
    is_billing_period,
    period_index,
    prorate,
    proration_fraction,
    stamp,
    utc,
)

MONTHLY, QUARTERLY, ANNUAL = Frequency.MONTHLY, Frequency.QUARTERLY, Frequency.ANNUAL


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(InvalidPeriod, match="has no timezone"):
        ensure_utc(datetime(2026, 1, 1))


def test_an_instant_outside_the_utc_calendar_is_refused_naming_it() -> None:
    """Found by schemathesis: ?start=0001-01-01T00:00:05+01:00 was a 500 (OverflowError) on the usage route."""
    with pytest.raises(InvalidPeriod, match="The start 0001-01-01T00:00:05\\+01:00 is out of range"):
        ensure_utc(datetime(1, 1, 1, 0, 0, 5, tzinfo=timezone(timedelta(hours=1))), "start")
    with pytest.raises(InvalidPeriod, match="out of range"):
        ensure_utc(datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-2))))


def test_other_timezones_are_converted_to_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    assert Period(datetime(2026, 1, 1, 9, tzinfo=tokyo), utc(2026, 2, 1)).start == utc(2026, 1, 1)


def test_periods_are_half_open() -> None:
    january = Period(utc(2026, 1, 1), utc(2026, 2, 1))
    assert january.contains(utc(2026, 1, 1))
    assert not january.contains(utc(2026, 2, 1))
    assert january.contains(utc(2026, 2, 1) - timedelta(microseconds=1))


def test_a_period_must_end_after_it_starts() -> None:
    with pytest.raises(InvalidPeriod, match="must end after it starts"):
        Period(utc(2026, 1, 2), utc(2026, 1, 1))


def test_overlap_and_split() -> None:
    january = Period(utc(2026, 1, 1), utc(2026, 2, 1))
    assert january.overlap(Period(utc(2026, 1, 20), utc(2026, 3, 1))) == Period(utc(2026, 1, 20), utc(2026, 2, 1))
    assert january.overlap(Period(utc(2026, 2, 1), utc(2026, 3, 1))) is None
    assert january.split_at([utc(2026, 1, 15), utc(2025, 12, 1), utc(2026, 1, 10)]) == (
        Period(utc(2026, 1, 1), utc(2026, 1, 10)),
        Period(utc(2026, 1, 10), utc(2026, 1, 15)),
        Period(utc(2026, 1, 15), utc(2026, 2, 1)),
    )


@pytest.mark.parametrize(
    ("anchor", "months", "expected"),
    [
        (utc(2026, 1, 31), 1, utc(2026, 2, 28)),
        (utc(2028, 1, 31), 1, utc(2028, 2, 29)),  # leap year
        (utc(2026, 1, 31), 2, utc(2026, 3, 31)),  # back to the 31st: computed from the anchor, no drift
        (utc(2026, 1, 30), 1, utc(2026, 2, 28)),
        (utc(2026, 1, 29), 1, utc(2026, 2, 28)),
        (utc(2028, 1, 29), 1, utc(2028, 2, 29)),
        (utc(2026, 3, 31), 1, utc(2026, 4, 30)),
        (utc(2026, 12, 15, 10, 30), 1, utc(2027, 1, 15, 10, 30)),
        (utc(2026, 3, 31), -1, utc(2026, 2, 28)),
    ],
)
def test_add_months_clamps_to_the_last_day(anchor: datetime, months: int, expected: datetime) -> None:
    assert add_months(anchor, months) == expected


def test_monthly_calendar_anchored_on_the_31st() -> None:
    anchor = utc(2026, 1, 31)
    assert [billing_period(anchor, MONTHLY, i).start.date().isoformat() for i in range(5)] == [
        "2026-01-31",
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
    ]


def test_quarterly_and_annual_calendars() -> None:
    assert billing_period(utc(2026, 11, 30), QUARTERLY, 1) == Period(utc(2027, 2, 28), utc(2027, 5, 30))
    assert billing_period(utc(2028, 2, 29), ANNUAL, 1) == Period(utc(2029, 2, 28), utc(2030, 2, 28))


def test_period_containing_an_instant() -> None:
    anchor = utc(2026, 1, 31)
    assert billing_period_containing(anchor, MONTHLY, utc(2026, 3, 30)) == Period(utc(2026, 2, 28), utc(2026, 3, 31))
    assert billing_period_containing(anchor, MONTHLY, utc(2026, 3, 31)) == Period(utc(2026, 3, 31), utc(2026, 4, 30))
    assert period_index(anchor, MONTHLY, utc(2026, 1, 30)) == -1


def test_periods_overlapping_a_window() -> None:
    window = Period(utc(2026, 2, 10), utc(2026, 4, 1))
    assert [p.label() for p in billing_periods(utc(2026, 1, 31), MONTHLY, window)] == [
        "2026-01-31 to 2026-02-28",
        "2026-02-28 to 2026-03-31",
        "2026-03-31 to 2026-04-30",
    ]


def test_proration_by_seconds() -> None:
    february = billing_period(utc(2026, 1, 31), MONTHLY, 0)  # 2026-01-31 to 2026-02-28: 28 days
    # A seat added on the last day of the period is charged for one day of 28.
    last_day = Period(utc(2026, 2, 27), utc(2026, 3, 5))
    assert prorate(Decimal(28), last_day, february) == Decimal(1)
    assert prorate(Decimal("40.00"), last_day, february) == Decimal("40") / 28
    assert proration_fraction(Period(utc(2026, 2, 14), utc(2026, 2, 28)), february) == Decimal("0.5")
    assert proration_fraction(Period(utc(2026, 3, 1), utc(2026, 3, 2)), february) == 0
    assert prorate(Decimal(31), Period(utc(2026, 3, 1), utc(2026, 3, 2)), Period(utc(2026, 3, 1), utc(2026, 4, 1))) == 1


@given(
    anchor=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    offset=st.integers(min_value=-2000, max_value=2000),
    frequency=st.sampled_from(list(Frequency)),
)
def test_every_instant_falls_in_exactly_one_period(anchor: datetime, offset: int, frequency: Frequency) -> None:
    instant = anchor + timedelta(days=offset, seconds=offset * 37)
    period = billing_period_containing(anchor, frequency, instant)
    assert period.contains(instant)
    index = period_index(anchor, frequency, instant)
    assert billing_period(anchor, frequency, index + 1).start == period.end
    assert billing_period(anchor, frequency, index - 1).end == period.start


@given(
    cut_days=st.lists(st.integers(min_value=1, max_value=27), max_size=6, unique=True),
)
def test_prorations_of_a_partition_sum_to_one(cut_days: list[int]) -> None:
    whole = billing_period(utc(2026, 1, 31), MONTHLY, 0)
    parts = whole.split_at([whole.start + timedelta(days=d, hours=d) for d in cut_days])
    total = sum((proration_fraction(p, whole) for p in parts), Decimal(0))
    assert abs(total - 1) < Decimal("1e-25")


@given(
    anchor=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    offset=st.integers(min_value=-2000, max_value=2000),
    days=st.integers(min_value=1, max_value=400),
    frequency=st.sampled_from(list(Frequency)),
)
def test_a_billing_period_is_recognised_and_nothing_else(
    anchor: datetime, offset: int, days: int, frequency: Frequency
) -> None:
    period = billing_period_containing(anchor, frequency, anchor + timedelta(days=offset))
    assert is_billing_period(anchor, frequency, period)
    other = Period(period.start, period.start + timedelta(days=days))
    assert is_billing_period(anchor, frequency, other) == (other == period)
    assert not is_billing_period(anchor, frequency, Period(period.start + timedelta(hours=1), period.end))


def test_stamps_are_utc_to_the_second() -> None:
    assert stamp(utc(2026, 1, 31, 9, 5, 7)) == "2026-01-31T09:05:07Z"
