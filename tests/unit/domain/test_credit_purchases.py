"""Credit purchases: the price of N credits (credits × unit price, rounded once, half up, never through a float),
the limits of one purchase, and how many credits an auto-recharge buys."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.domain.credit_purchases import (
    MAX_CREDITS,
    MIN_CREDITS,
    check_recharge,
    quote,
    recharge_credits,
    whole_credits,
)
from portal.domain.errors import InvalidAmount
from portal.domain.money import custom_credit, fiat

AI = custom_credit("ai", "AI credits", "USD", "0.01")


def test_ten_thousand_credits_at_a_cent_cost_a_hundred_dollars() -> None:
    bought = quote(AI, "10000")
    assert (bought.credits, bought.price_minor, bought.price.format(), bought.label) == (
        Decimal(10000),
        10000,
        "$100.00",
        "10,000 AI credits",
    )


def test_the_price_is_rounded_once_half_up_to_the_minor_unit() -> None:
    eighth = custom_credit("gpu", "GPU credits", "USD", "0.125")
    assert quote(eighth, 101).price_minor == 1263  # 12.625 → 12.63
    assert quote(custom_credit("y", "Yen credits", "JPY", "0.5"), 101).price_minor == 51  # ¥50.5 → ¥51
    assert quote(custom_credit("b", "Dinar credits", "BHD", "0.0015"), 1001).price_minor == 1502  # 1.5015 → 1.502


@pytest.mark.parametrize(
    ("credits", "reason"),
    [
        ("100.5", "must be a whole number of credits"),
        ("99", "Buy between 100 AI credits and 10,000,000 AI credits at a time, not 99 AI credits"),
        ("10000001", "not 10,000,001 AI credits"),
        ("-200", "cannot be negative"),
        (1000.0, "not float"),
        ("lots", "is not a number"),
        ("1e30", "far too large"),
    ],
)
def test_purchases_outside_the_rules_are_refused_with_the_reason(credits: object, reason: str) -> None:
    with pytest.raises(InvalidAmount, match=reason):
        quote(AI, credits)


def test_money_itself_and_prices_that_round_to_nothing_are_not_for_sale() -> None:
    with pytest.raises(InvalidAmount, match="are money, not credits"):
        quote(fiat("USD"), 1000)
    with pytest.raises(InvalidAmount, match="cost less than the smallest amount of USD"):
        quote(custom_credit("tiny", "Tiny credits", "USD", "0.00001"), 100)


def _half_up(value: Fraction) -> int:
    """``value`` rounded half up (away from zero at .5) to an integer, with exact fractions."""
    return int(value + Fraction(1, 2)) if value >= 0 else -int(-value + Fraction(1, 2))


prices = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("1000"), places=6)


@given(credits=st.integers(int(MIN_CREDITS), int(MAX_CREDITS)), unit_price=prices)
def test_price_is_credits_times_unit_price_rounded_once(credits: int, unit_price: Decimal) -> None:
    credit_type = custom_credit("c", "Credits", "USD", unit_price)
    exact = Fraction(credits) * Fraction(unit_price) * 100
    if _half_up(exact) <= 0:
        with pytest.raises(InvalidAmount):
            quote(credit_type, credits)
        return
    bought = quote(credit_type, str(credits))
    assert type(bought.price_minor) is int
    assert bought.price_minor == _half_up(exact)
    assert bought.amount == Decimal(credits) * unit_price  # exact: no digit was lost before rounding
    assert isinstance(bought.amount, Decimal)


@given(
    first=st.integers(int(MIN_CREDITS), int(MAX_CREDITS) // 2),
    second=st.integers(int(MIN_CREDITS), int(MAX_CREDITS) // 2),
    unit_price=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("10"), places=4),
)
def test_two_purchases_cost_within_a_cent_of_one_for_both(first: int, second: int, unit_price: Decimal) -> None:
    credit_type = custom_credit("c", "Credits", "USD", unit_price)
    apart = quote(credit_type, first).price_minor + quote(credit_type, second).price_minor
    assert abs(apart - quote(credit_type, first + second).price_minor) <= 1


@given(
    balance=st.decimals(min_value=Decimal(0), max_value=Decimal(10_000), places=3),
    target=st.integers(1, 20_000),
)
def test_a_recharge_brings_the_balance_to_the_target_in_whole_credits(balance: Decimal, target: int) -> None:
    bought = recharge_credits(balance, Decimal(target))
    assert bought == bought.to_integral_value()
    if balance >= target:
        assert bought == 0
    else:
        assert balance + bought >= target > balance + bought - 1


def test_recharge_settings() -> None:
    assert check_recharge("1000", 5000) == (Decimal(1000), Decimal(5000))
    assert recharge_credits(Decimal("499.5"), Decimal(5000)) == Decimal(4501)
    with pytest.raises(InvalidAmount, match="at least 100 credits above the threshold"):
        check_recharge(1000, 1099)
    with pytest.raises(InvalidAmount, match="threshold must be more than 0"):
        check_recharge(0, 1000)
    with pytest.raises(InvalidAmount, match="at most 10,000,000"):
        check_recharge(1000, 10_000_001)
    assert whole_credits("2.000") == Decimal(2)
