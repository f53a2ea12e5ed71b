"""Forecasts of a balance at its trailing burn rate, with hand-computed figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.domain.errors import InvalidAmount
from portal.domain.forecast import forecast

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def test_a_steady_burn_runs_out_after_balance_over_rate_days_with_no_band() -> None:
    result = forecast("1000", [100] * 7, NOW, NOW + timedelta(days=30))
    assert result.daily_rate == Decimal(100)
    assert result.run_out_at == result.earliest_run_out_at == result.latest_run_out_at == NOW + timedelta(days=10)
    assert result.runs_out_before_end
    assert (result.projected_at_end, result.shortfall_at_end, result.unused_at_end) == (-2000, 2000, 0)


def test_the_band_is_the_rate_plus_and_minus_one_standard_deviation() -> None:
    # Mean 100, variance (4 x 40^2) / 4 = 1,600, deviation 40: slow 60/day, fast 140/day.
    result = forecast("840", ["60", "140", "60", "140"], NOW, NOW + timedelta(days=20))
    assert (result.slow_rate, result.daily_rate, result.fast_rate) == (60, 100, 140)
    assert result.run_out_at == NOW + timedelta(days=8, hours=9, minutes=36)  # 8.4 days
    assert result.earliest_run_out_at == NOW + timedelta(days=6)  # 840 / 140
    assert result.latest_run_out_at == NOW + timedelta(days=14)  # 840 / 60
    assert result.projected_at_end == Decimal(840 - 2000)


def test_a_commitment_that_outlasts_its_term_leaves_the_rest_unused() -> None:
    result = forecast("5000", [100] * 7, NOW, NOW + timedelta(days=20))
    assert not result.runs_out_before_end
    assert (result.unused_at_end, result.shortfall_at_end) == (3000, 0)


def test_without_burn_nothing_runs_out_and_an_empty_balance_has_run_out_now() -> None:
    idle = forecast("500", [0] * 7, NOW, NOW + timedelta(days=5))
    assert (idle.run_out_at, idle.latest_run_out_at, idle.projected_at_end) == (None, None, 500)
    assert not idle.runs_out_before_end
    assert forecast("0", [10], NOW).run_out_at == NOW


def test_bad_burns_are_refused_with_what_to_give() -> None:
    with pytest.raises(InvalidAmount, match="at least one day"):
        forecast("10", [], NOW)
    with pytest.raises(InvalidAmount, match="cannot be negative"):
        forecast("10", [5, -1], NOW)


@given(
    balance=st.integers(min_value=1, max_value=10**9),
    burns=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=14),
)
def test_the_band_always_contains_the_forecast(balance: int, burns: list[int]) -> None:
    result = forecast(balance, burns, NOW, NOW + timedelta(days=90))
    assert result.slow_rate <= result.daily_rate <= result.fast_rate
    if result.run_out_at is not None:
        assert result.earliest_run_out_at is not None
        assert result.earliest_run_out_at <= result.run_out_at
        assert result.latest_run_out_at is None or result.run_out_at <= result.latest_run_out_at


def test_a_balance_lasting_beyond_a_century_never_runs_out() -> None:
    # 2,912,116 credits at 1 a day would last 7,973 years: past any date a calendar holds.
    result = forecast("2912116", [1], NOW, NOW + timedelta(days=365))
    assert (result.run_out_at, result.runs_out_before_end, result.unused_at_end) == (None, False, 2911751)
