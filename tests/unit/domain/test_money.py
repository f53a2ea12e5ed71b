"""Money: currencies and their exponents, the one rounding policy, credit types, exact splits."""

from __future__ import annotations

from decimal import Decimal
from math import lcm

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.domain.errors import CurrencyMismatch, InvalidAllocation, InvalidAmount, UnknownCurrency
from portal.domain.money import (
    MAX_AMOUNT,
    Money,
    allocate,
    bounded_decimal,
    currency,
    custom_credit,
    fiat,
    split_units,
    to_decimal,
)

D = Decimal


def test_currency_exponents() -> None:
    assert currency("usd").quantum == D("0.01")
    assert currency("JPY").quantum == D("1")
    assert currency("BHD").quantum == D("0.001")


def test_unknown_currency_names_the_known_ones() -> None:
    with pytest.raises(UnknownCurrency, match=r"Unknown currency 'XYZ': use one of .*USD"):
        currency("XYZ")


@pytest.mark.parametrize(
    ("amount", "code", "rounded"),
    [
        ("0.005", "USD", "0.01"),  # half up
        ("0.0049999", "USD", "0.00"),
        ("-0.005", "USD", "-0.01"),  # half away from zero for negatives too
        ("2.675", "USD", "2.68"),  # exact decimal, unlike binary floating point
        ("1000.5", "JPY", "1001"),
        ("999.4999", "JPY", "999"),
        ("1.2345", "BHD", "1.235"),
    ],
)
def test_rounding_policy_is_half_up_to_the_minor_unit(amount: str, code: str, rounded: str) -> None:
    assert Money.of(amount, code).rounded().amount == D(rounded)


def test_minor_units_round_trip() -> None:
    assert Money.of("19.995", "USD").minor_units() == 2000
    assert Money.from_minor(1999, "USD").amount == D("19.99")
    assert Money.from_minor(1999, "JPY").amount == D("1999")


def test_format() -> None:
    assert Money.of("1234567.891", "USD").format() == "$1,234,567.89"
    assert Money.of("-5", "EUR").format() == "-€5.00"
    assert Money.of("1000.5", "JPY").format() == "¥1,001"


def test_arithmetic_refuses_mixed_currencies() -> None:
    with pytest.raises(CurrencyMismatch, match="Cannot combine USD and EUR"):
        _ = Money.of(1, "USD") + Money.of(1, "EUR")


def test_floats_are_refused_everywhere() -> None:
    with pytest.raises(InvalidAmount, match="not float"):
        to_decimal(0.1)
    with pytest.raises(InvalidAmount):
        _ = Money.of(1, "USD") * 0.5  # type: ignore[operator]


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity", ""])
def test_non_numbers_are_refused_with_the_value_named(value: str) -> None:
    with pytest.raises(InvalidAmount, match="price"):
        to_decimal(value, "price")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1e999999", "The unit price 1E+999999 is too large: at most 1,000,000,000,000,000."),
        ("1e400", "The unit price 1E+400 is too large: at most 1,000,000,000,000,000."),
        ("-1e999999", "The unit price -1E+999999 is too small: at least -1,000,000,000,000,000."),
        (10**40, "The unit price 1.000000E+40 is too large: at most 1,000,000,000,000,000."),
        ("Infinity", "The unit price 'Infinity' is not a finite number."),
        ("NaN", "The unit price 'NaN' is not a finite number."),
        ("1e-999999", "The unit price 1E-999999 has too many decimal places: at most 18."),
        (
            "0." + "1" * 50,
            "The unit price 0.11111111111111111111111111111111111111… has too many decimal places: at most 18.",
        ),
    ],
)
def test_absurd_numbers_are_refused_naming_the_value_and_the_limit(value: object, message: str) -> None:
    with pytest.raises(InvalidAmount) as refused:
        bounded_decimal(value, "unit price")
    assert str(refused.value) == message


@pytest.mark.parametrize("value", [MAX_AMOUNT, -MAX_AMOUNT, "0.000000000000000001", "0.10000000000000000000000", "0"])
def test_numbers_within_the_bounds_are_kept_as_given(value: object) -> None:
    assert bounded_decimal(value) == to_decimal(value)


def test_custom_credit_unit_priced_in_dollars() -> None:
    ai = custom_credit("ai", "AI credits", "USD", "0.01")
    # 1,250 credits at $0.01 = $12.50
    assert ai.to_money(D(1250)).rounded() == Money.of("12.50", "USD")
    assert ai.format(D("1250.4")) == "1,250 AI credits"
    assert not ai.is_fiat
    assert fiat("USD").is_fiat
    assert fiat("USD").format(D("3.5")) == "$3.50"


def test_custom_credit_price_must_be_positive() -> None:
    with pytest.raises(InvalidAmount, match="must be positive"):
        custom_credit("ai", "AI credits", "USD", "0")


def test_allocate_splits_ten_dollars_three_ways() -> None:
    # 1000 cents / 3 = 333.33 each; the one leftover cent goes to the first part.
    assert allocate(D("10.00"), [1, 1, 1], D("0.01")) == (D("3.34"), D("3.33"), D("3.33"))


def test_allocate_by_weights_gives_leftovers_to_largest_remainders() -> None:
    # 100 cents by 1:2:3 -> 16.67, 33.33, 50.00 -> floors 16, 33, 50 (99) -> +1 to remainder .67
    assert allocate(D("1.00"), [1, 2, 3], D("0.01")) == (D("0.17"), D("0.33"), D("0.50"))


def test_allocate_negative_totals_and_yen() -> None:
    assert allocate(D("-10"), [1, 1, 1], D("1")) == (D("-4"), D("-3"), D("-3"))


@pytest.mark.parametrize(
    ("total", "weights", "message"),
    [
        (D("1.00"), [], "zero parts"),
        (D("1.00"), [1, -1], "must not be negative"),
        (D("1.00"), [0, 0], "must not all be zero"),
        (D("1.005"), [1, 1], "round it first"),
    ],
)
def test_allocate_refuses_unusable_input(total: Decimal, weights: list[int], message: str) -> None:
    with pytest.raises(InvalidAllocation, match=message):
        allocate(total, weights, D("0.01"))


@given(
    cents=st.integers(min_value=-(10**12), max_value=10**12),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20).filter(any),
)
def test_allocation_preserves_the_total_exactly(cents: int, weights: list[int]) -> None:
    total = D(cents).scaleb(-2)
    parts = allocate(total, weights, D("0.01"))
    assert sum(parts, D(0)) == total
    assert all(part == part.quantize(D("0.01")) for part in parts)
    # Each part is within one cent of its exact proportional share.
    weight_sum = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part - total * weight / weight_sum) < D("0.01")


def test_allocate_is_exact_however_many_digits_the_total_has() -> None:
    # 6,666,666,666,666,666,666,666,666,667 steps (28 digits) in one part: a 28-digit division would lose one.
    total = Decimal("0.006666666666666666666666666667")
    assert allocate(total, [Decimal(2)], Decimal("1E-30")) == (total,)
    assert sum(allocate(total, [Decimal("0.3"), Decimal("0.7"), Decimal(1)], Decimal("1E-30"))) == total


@given(
    st.integers(0, 10**12),
    st.lists(st.tuples(st.integers(0, 10**9), st.integers(-14, 6)), min_size=1, max_size=12),
)
def test_split_units_is_the_largest_remainder_split_of_whole_numbers(units: int, scaled: list[tuple[int, int]]) -> None:
    weights = [D(n).scaleb(exponent) for n, exponent in scaled]
    if not any(weights):
        return
    # The reference: weights scaled to whole numbers, then floors and remainders in integers.
    ratios = [w.as_integer_ratio() for w in weights]
    scale = lcm(*(d for _, d in ratios))
    whole = [n * scale // d for n, d in ratios]
    floors = [units * w // sum(whole) for w in whole]
    for i in sorted(range(len(whole)), key=lambda i: (-(units * whole[i] % sum(whole)), i))[: units - sum(floors)]:
        floors[i] += 1
    assert split_units(units, weights) == floors
    assert [int(part) for part in allocate(D(units), weights, D(1))] == floors


def test_split_units_gives_leftovers_to_the_largest_remainders_earlier_first() -> None:
    # 10 in thirds: 3.33… each, the one leftover unit to the first; weights far apart in size stay exact.
    assert split_units(10, [D(1), D(1), D(1)]) == [4, 3, 3]
    assert split_units(3, [D("1E+40"), D("1E-40"), D("1E+40")]) == [2, 0, 1]
