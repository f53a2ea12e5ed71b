"""Simulating a price change over closed periods, with hand-computed figures."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain.grants import Grant, GrantKind
from portal.domain.metrics import RawUsage, UsageSource
from portal.domain.periods import Period, utc
from portal.domain.simulation import Comparison, InvalidSimulation, Outcome, compare_family, totals
from tests.unit.domain.test_invoicing import AI, JAN_1, JANUARY, contract, terms, use

D = Decimal
FEBRUARY = Period(utc(2026, 2, 1), utc(2026, 3, 1))
MARCH = Period(utc(2026, 3, 1), utc(2026, 4, 1))


def month_of_use(period: Period, **credits_by_user: int) -> dict[str, UsageSource]:
    """Usage of contract c1 in ``period``: each user's credits on the period's 5th day."""
    at = period.start.replace(day=5)
    events = tuple(use(f"{period.start:%m}-{user}", at, n, user) for user, n in credits_by_user.items())
    return {"c1": RawUsage(events)}


def test_more_credits_per_seat_bill_less_overage_and_nobody_newly_runs_out() -> None:
    current = contract("ann", "bob")  # 2 seats × $40, 2,000 pooled AI credits a seat ($0.01 a credit)
    proposed = current.with_terms_from(JAN_1, terms(allowance=3000))
    usage = [month_of_use(JANUARY, ann=3000, bob=2500), month_of_use(FEBRUARY, ann=1000)]
    (result,) = compare_family([current], [proposed], [JANUARY, FEBRUARY], usage, changed=["c1"])
    # Current: January $80 seats + (5,500 − 4,000) × $0.01 = $15 overage; February $80, 1,000 credits covered.
    # Proposed: January $80, 5,500 of 6,000 credits covered; February $80.
    assert result.current == Outcome(8000 + 1500 + 8000, D(4000 + 1000), True)
    assert result.proposed == Outcome(8000 + 8000, D(5500 + 1000), False)
    assert (result.difference_minor, result.burn_change, result.newly_runs_out) == (-1500, D(1500), False)
    assert (result.contract_id, result.customer_id, result.periods) == ("c1", "cus-c1", 2)


def test_fewer_credits_per_seat_newly_run_out_and_a_higher_seat_price_bills_more() -> None:
    current = contract("ann")
    proposed = current.with_terms_from(JAN_1, terms(price=50, allowance=1000))
    (result,) = compare_family([current], [proposed], [JANUARY], [month_of_use(JANUARY, ann=1500)], changed=["c1"])
    # Current: $40 and 1,500 of 2,000 credits covered. Proposed: $50 and 1,000 covered, 500 × $0.01 = $5 overage.
    assert (result.current, result.proposed) == (Outcome(4000, D(1500), False), Outcome(5500, D(1000), True))
    assert (result.difference_minor, result.newly_runs_out) == (1500, True)


def test_a_commit_drawn_down_in_one_period_has_less_left_in_the_next_under_that_scenario() -> None:
    commit = Grant("commit", "c1", GrantKind.COMMIT, AI, D(1000), JAN_1)
    current = contract("ann", grants=(commit,))
    proposed = current.with_terms_from(JAN_1, terms(allowance=500))
    usage = [month_of_use(JANUARY, ann=2500), month_of_use(FEBRUARY, ann=2500)]
    (result,) = compare_family([current], [proposed], [JANUARY, FEBRUARY], usage, changed=["c1"])
    # Current: seat credits (2,000 a month) first, then the commit: January 500 from it, February the other 500.
    # Proposed: 500 seat credits a month; January takes 1,000 from the commit (all of it), 1,000 overage ($10);
    # February finds the commit empty: 2,000 overage ($20).
    assert result.current == Outcome(4000 + 4000, D(4000), False)
    assert result.proposed == Outcome(4000 + 1000 + 4000 + 2000, D(1000), True)


def test_totals_count_who_pays_more_less_or_the_same() -> None:
    def comparison(was: int, would_be: int, ran_out: tuple[bool, bool] = (False, False)) -> Comparison:
        return Comparison("c", "cus", 1, Outcome(was, D(0), ran_out[0]), Outcome(would_be, D(0), ran_out[1]))

    summary = totals([comparison(100, 150), comparison(100, 90, (False, True)), comparison(70, 70, (True, True))])
    assert (summary.current_minor, summary.proposed_minor, summary.difference_minor) == (270, 310, 40)
    assert (summary.paying_more, summary.paying_less, summary.paying_same, summary.newly_running_out) == (1, 1, 1, 1)


def test_inputs_that_do_not_fit_are_refused_with_the_reason() -> None:
    current = contract("ann")
    other = contract("ann", contract_id="c2")
    with pytest.raises(InvalidSimulation, match="same contracts"):
        compare_family([current], [other], [JANUARY], [{}], changed=["c1"])
    with pytest.raises(InvalidSimulation, match="usage for 0"):
        compare_family([current], [current], [JANUARY], [], changed=["c1"])
    with pytest.raises(InvalidSimulation, match="time order"):
        compare_family([current], [current], [FEBRUARY, JANUARY], [{}, {}], changed=["c1"])
    with pytest.raises(InvalidSimulation, match="c9 are not in the family"):
        compare_family([current], [current], [JANUARY], [{}], changed=["c9"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=6000), min_size=1, max_size=3))
def test_the_same_terms_change_nothing(credits: list[int]) -> None:
    current = contract("ann", "bob")
    periods = [JANUARY, FEBRUARY, MARCH][: len(credits)]
    usage = [month_of_use(p, ann=n, bob=n // 2) for p, n in zip(periods, credits, strict=True)]
    (result,) = compare_family([current], [current], periods, usage, changed=["c1"])
    assert result.current == result.proposed
    assert (result.difference_minor, result.burn_change, result.newly_runs_out) == (0, 0, False)
