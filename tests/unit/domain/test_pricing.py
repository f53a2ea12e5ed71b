"""Price models, products, rate cards, overrides and rate segments, with hand-computed figures."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.domain.errors import (
    InvalidAmount,
    InvalidOverride,
    InvalidPriceModel,
    InvalidProduct,
    InvalidQuantity,
    InvalidRate,
    OverlappingRates,
)
from portal.domain.money import currency, custom_credit, fiat
from portal.domain.periods import Period, utc
from portal.domain.pricing import (
    FREE,
    ConversionOperation,
    Flat,
    Override,
    OverrideKind,
    Package,
    PriceResult,
    Product,
    ProductKind,
    QuantityConversion,
    QuantityRounding,
    Rate,
    RateCard,
    RoundingMode,
    Tier,
    Tiered,
    TierLine,
    Volume,
    apply_overrides,
    rate_segments,
)

D = Decimal
USD = fiat("USD")
JAN = Period(utc(2026, 1, 1), utc(2026, 2, 1))
GRADUATED = Tiered((Tier(D(100), D("1.00")), Tier(D(1000), D("0.50")), Tier(None, D("0.10"))))
VOLUME = Volume((Tier(D(100), D("1.00")), Tier(D(1000), D("0.50")), Tier(None, D("0.10"))))


# --- FLAT ------------------------------------------------------------------------------------------


def test_flat() -> None:
    # 12.5 units × $0.20 = $2.50
    assert Flat(D("0.20")).price(D("12.5")) == PriceResult(
        D("2.500"), (TierLine(1, D("12.5"), D("0.20"), D(0), D("2.500")),)
    )


def test_zero_quantity_is_free_for_every_model() -> None:
    fee = Tiered((Tier(D(10), D(1), flat_fee=D(5)), Tier(None, D(1))))
    for model in (Flat(D(3)), GRADUATED, VOLUME, Package(D(10), D(2)), fee):
        assert model.price(D(0)) == FREE


def test_negative_or_non_finite_quantity_refused() -> None:
    with pytest.raises(InvalidQuantity, match="zero or more"):
        Flat(D(1)).price(D(-1))
    with pytest.raises(InvalidQuantity):
        GRADUATED.price(D("NaN"))


# --- TIERED (graduated) --------------------------------------------------------------------------


def test_tiered_within_first_tier() -> None:
    # 40 × $1 = $40
    assert GRADUATED.price(D(40)).amount == D(40)


def test_tiered_exactly_on_boundary_stays_in_lower_tier() -> None:
    # up_to is inclusive: 100 units are all in tier 1 → 100 × $1 = $100, tier 2 not reached.
    result = GRADUATED.price(D(100))
    assert result.amount == D(100)
    assert result.breakdown == (TierLine(1, D(100), D("1.00"), D(0), D("100.00")),)


def test_tiered_one_past_boundary() -> None:
    # 100 × $1 + 1 × $0.50 = $100.50
    result = GRADUATED.price(D(101))
    assert result.amount == D("100.50")
    assert [(line.tier, line.quantity) for line in result.breakdown] == [(1, D(100)), (2, D(1))]


def test_tiered_across_all_tiers() -> None:
    # 100 × 1.00 + 900 × 0.50 + 500 × 0.10 = 100 + 450 + 50 = 600
    result = GRADUATED.price(D(1500))
    assert result.amount == D(600)
    assert [line.amount for line in result.breakdown] == [D(100), D(450), D(50)]
    assert sum(line.amount for line in result.breakdown) == result.amount


def test_tiered_fractional_quantity() -> None:
    # 100 × 1 + 0.25 × 0.50 = 100.125 (full precision, not rounded)
    assert GRADUATED.price(D("100.25")).amount == D("100.125")


def test_tiered_flat_fees_charged_when_tier_reached() -> None:
    model = Tiered((Tier(D(10), D(1), flat_fee=D(5)), Tier(None, D("0.5"), flat_fee=D(20))))
    # 10 units: tier 1 only: 10 × 1 + 5 = 15 (the boundary does not reach tier 2).
    assert model.price(D(10)).amount == D(15)
    # 11 units: 15 + (1 × 0.5 + 20) = 35.5
    assert model.price(D(11)).amount == D("35.5")
    assert model.price(D(11)).breakdown[1] == TierLine(2, D(1), D("0.5"), D(20), D("20.5"))


# --- VOLUME --------------------------------------------------------------------------------------


def test_volume_all_units_at_landing_tier() -> None:
    # 100 lands in tier 1 (inclusive): 100 × 1 = 100
    assert VOLUME.price(D(100)).amount == D(100)
    # 101 lands in tier 2: 101 × 0.50 = 50.50 (cheaper than 100 units: volume pricing can fall)
    assert VOLUME.price(D(101)) == PriceResult(D("50.50"), (TierLine(2, D(101), D("0.50"), D(0), D("50.50")),))
    # 5000 lands in tier 3: 5000 × 0.10 = 500
    assert VOLUME.price(D(5000)).amount == D(500)


def test_volume_flat_fee_of_landing_tier_only() -> None:
    model = Volume((Tier(D(10), D(2), flat_fee=D(1)), Tier(None, D(1), flat_fee=D(7))))
    assert model.price(D(10)).amount == D(21)  # 10 × 2 + 1
    assert model.price(D(12)).amount == D(19)  # 12 × 1 + 7


# --- PACKAGE -------------------------------------------------------------------------------------


def test_package_partial_blocks_round_up() -> None:
    model = Package(D(1000), D(5))
    assert model.price(D(1000)).amount == D(5)  # exactly 1 block
    # 1001 units = 2 blocks (the partial one counts whole) × $5 = $10
    assert model.price(D(1001)) == PriceResult(D(10), (TierLine(1, D(2), D(5), D(0), D(10)),))
    assert model.price(D("0.5")).amount == D(5)  # half a block is a block


# --- validation of models ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ((), "at least one tier"),
        ((Tier(D(100), D(1)), Tier(D(50), D(1)), Tier(None, D(1))), "Tier 2 ends at 50 but tier 1 already ends at 100"),
        ((Tier(D(100), D(1)), Tier(D(100), D(1)), Tier(None, D(1))), "each tier must end above the one before"),
        ((Tier(None, D(1)), Tier(D(5), D(1))), "Tier 1 of 2 has no upper bound"),
        ((Tier(D(100), D(1)),), "leave its upper bound empty"),
    ],
)
def test_invalid_tiers(tiers: tuple[Tier, ...], message: str) -> None:
    with pytest.raises(InvalidPriceModel, match=message):
        Tiered(tiers)
    with pytest.raises(InvalidPriceModel, match=message):
        Volume(tiers)


def test_invalid_prices() -> None:
    with pytest.raises(InvalidPriceModel, match="negative"):
        Flat(D(-1))
    with pytest.raises(InvalidPriceModel, match="negative"):
        Tier(None, D(1), flat_fee=D("-0.01"))
    with pytest.raises(InvalidPriceModel, match="above 0"):
        Tier(D(0), D(1))
    with pytest.raises(InvalidPriceModel, match="more than 0 units"):
        Package(D(0), D(1))
    with pytest.raises(InvalidAmount, match="not float"):
        Flat(0.1)  # type: ignore[arg-type]


def test_prices_given_as_strings_are_parsed() -> None:
    assert Flat("0.25").unit_price == D("0.25")  # type: ignore[arg-type]


# --- products: conversion and rounding -----------------------------------------------------------


def per_thousand_rounded_up() -> Product:
    return Product(
        "tok",
        "Tokens",
        ProductKind.USAGE,
        metric_id="tokens",
        quantity_conversion=QuantityConversion(D(1000), ConversionOperation.DIVIDE),
        quantity_rounding=QuantityRounding(RoundingMode.UP, 0),
    )


def test_dollar_per_thousand_tokens_rounded_up() -> None:
    product = per_thousand_rounded_up()
    # 1,001 tokens ÷ 1,000 = 1.001 → rounded up to 2 → 2 × $1 = $2
    assert product.billable_quantity(D(1001)) == D(2)
    assert Flat(D(1)).price(product.billable_quantity(D(1001))).amount == D(2)
    assert product.billable_quantity(D(1000)) == D(1)
    assert product.billable_quantity(D(0)) == D(0)


@pytest.mark.parametrize(
    ("mode", "places", "raw", "expected"),
    [
        (RoundingMode.UP, 2, "1.231", "1.24"),
        (RoundingMode.DOWN, 2, "1.239", "1.23"),
        (RoundingMode.HALF_UP, 0, "2.5", "3"),
        (RoundingMode.HALF_UP, 0, "2.49", "2"),
    ],
)
def test_rounding_modes(mode: RoundingMode, places: int, raw: str, expected: str) -> None:
    assert QuantityRounding(mode, places).apply(D(raw)) == D(expected)


def test_multiply_conversion_without_rounding() -> None:
    product = Product(
        "gb-h",
        "GB hours",
        ProductKind.USAGE,
        metric_id="mb_hours",
        quantity_conversion=QuantityConversion(D("0.001"), ConversionOperation.MULTIPLY),
    )
    assert product.billable_quantity(D(1500)) == D("1.5")  # 1500 × 0.001


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Product("p", "P", ProductKind.USAGE), "needs the billable metric"),
        (lambda: Product("p", "P", ProductKind.FIXED, metric_id="m"), "only usage products take a metric"),
        (
            lambda: Product("p", "P", ProductKind.SUBSCRIPTION, pricing_group_key="u"),
            "only usage products take a pricing group key",
        ),
        (
            lambda: Product(
                "p", "P", ProductKind.USAGE, metric_id="m", pricing_group_key="u", presentation_group_key="u"
            ),
            "both prices and presents",
        ),
        (lambda: Product("", "P", ProductKind.FIXED), "needs an id"),
        (lambda: QuantityConversion(D(0), ConversionOperation.DIVIDE), "above 0"),
        (lambda: QuantityRounding(RoundingMode.UP, -1), "0 or more decimal places"),
    ],
)
def test_invalid_products(build: object, message: str) -> None:
    with pytest.raises(InvalidProduct, match=message):
        build()  # type: ignore[operator]


# --- rate cards and segments ---------------------------------------------------------------------


def rate(start: int, end: int | None, price: str, product: str = "tok") -> Rate:
    """A flat rate from day ``start`` of January 2026 to day ``end`` (None: open-ended)."""
    return Rate(product, utc(2026, 1, start), utc(2026, 1, end) if end else None, Flat(D(price)), USD)


def test_rate_card_refuses_overlapping_rates() -> None:
    with pytest.raises(OverlappingRates, match="two rates for 'tok' at once"):
        RateCard("rc", "Card", (rate(1, None, "1"), rate(15, None, "2")))
    with pytest.raises(OverlappingRates):
        RateCard("rc", "Card", (rate(1, 16, "1"), rate(15, None, "2")))
    # Back to back, and other products, are fine.
    RateCard("rc", "Card", (rate(1, 15, "1"), rate(15, None, "2"), rate(1, None, "3", product="other")))


def test_rate_must_end_after_it_starts() -> None:
    with pytest.raises(InvalidRate, match="must end after it starts"):
        rate(5, 5, "1")


def test_segments_split_at_a_mid_period_rate_change() -> None:
    card = RateCard("rc", "Card", (rate(1, 15, "1"), rate(15, None, "2")))
    segments = rate_segments(card, (), "tok", JAN)
    assert [s.period for s in segments] == [
        Period(utc(2026, 1, 1), utc(2026, 1, 15)),
        Period(utc(2026, 1, 15), JAN.end),
    ]
    assert [s.rate.price for s in segments if s.rate] == [Flat(D(1)), Flat(D(2))]
    assert all(s.overrides == () for s in segments)


def test_segments_report_gaps() -> None:
    card = RateCard("rc", "Card", (rate(10, 20, "1"),))
    segments = rate_segments(card, (), "tok", JAN)
    assert [(s.period.label(), s.is_gap) for s in segments] == [
        ("2026-01-01 to 2026-01-10", True),
        ("2026-01-10 to 2026-01-20", False),
        ("2026-01-20 to 2026-02-01", True),
    ]


def test_product_without_rates_is_one_gap() -> None:
    segments = rate_segments(RateCard("rc", "Card", ()), (), "tok", JAN)
    assert len(segments) == 1
    assert segments[0].is_gap
    assert segments[0].period == JAN


# --- overrides -----------------------------------------------------------------------------------


def test_overwrite_replaces_price_for_its_time_only() -> None:
    card = RateCard("rc", "Card", (rate(1, None, "1"),))
    ov = Override.overwrite("tok", utc(2026, 1, 10), utc(2026, 1, 20), Flat(D("0.5")))
    assert ov.kind is OverrideKind.OVERWRITE
    segments = rate_segments(card, (ov,), "tok", JAN)
    assert [(s.period.label(), s.rate.price if s.rate else None) for s in segments] == [
        ("2026-01-01 to 2026-01-10", Flat(D(1))),
        ("2026-01-10 to 2026-01-20", Flat(D("0.5"))),
        ("2026-01-20 to 2026-02-01", Flat(D(1))),
    ]
    assert segments[1].overrides == (ov,)
    assert segments[1].base_rate == card.rates[0]


def test_overwrite_can_change_credit_type() -> None:
    ai = custom_credit("ai", "AI credits", "USD", "0.01")
    base = rate(1, None, "1")
    effective, applied = apply_overrides(
        base, [Override.overwrite("tok", utc(2026, 1, 1), None, Flat(D(100)), credit_type=ai)]
    )
    assert effective.credit_type == ai
    assert effective.price == Flat(D(100))
    assert applied[0].kind is OverrideKind.OVERWRITE


def test_multiplier_scales_every_price_and_fee() -> None:
    base = Rate("tok", utc(2026, 1, 1), None, Tiered((Tier(D(10), D(2), flat_fee=D(10)), Tier(None, D(1)))), USD)
    ov = Override.multiply("tok", utc(2026, 1, 1), None, "0.8")
    assert ov.kind is OverrideKind.MULTIPLIER
    effective, _ = apply_overrides(base, [ov])
    assert effective.price == Tiered((Tier(D(10), D("1.6"), flat_fee=D("8.0")), Tier(None, D("0.8"))))
    # 15 units: 10 × 1.6 + 8 + 5 × 0.8 = 16 + 8 + 4 = 28 (= 0.8 × 35 at the base price)
    assert effective.price.price(D(15)).amount == D(28)
    assert base.price.price(D(15)).amount == D(35)


def test_multiplier_on_volume_and_package() -> None:
    assert VOLUME.scaled(D(2)).price(D(101)).amount == D(101)  # 101 × 0.50 × 2
    assert Package(D(10), D(3)).scaled(D("0.5")).price(D(11)).amount == D(3)  # 2 blocks × 1.5


def test_overwrite_then_multipliers_compound() -> None:
    base = rate(1, None, "1")
    winner = Override.overwrite("tok", utc(2026, 1, 1), None, Flat(D(10)), priority=1)
    loser = Override.overwrite("tok", utc(2026, 1, 1), None, Flat(D(99)), priority=2)
    half = Override.multiply("tok", utc(2026, 1, 1), None, "0.5")
    tenth_off = Override.multiply("tok", utc(2026, 1, 1), None, "0.9")
    effective, applied = apply_overrides(base, [half, loser, tenth_off, winner])
    # 10 × 0.5 × 0.9 = 4.5
    assert effective.price == Flat(D("4.50"))
    assert applied == (winner, half, tenth_off)


def test_overwrites_with_same_priority_refused() -> None:
    a = Override.overwrite("tok", utc(2026, 1, 1), None, Flat(D(1)))
    b = Override.overwrite("tok", utc(2026, 1, 10), None, Flat(D(2)))
    card = RateCard("rc", "Card", (rate(1, None, "1"),))
    with pytest.raises(InvalidOverride, match="give them different priorities"):
        rate_segments(card, (a, b), "tok", JAN)


def test_override_does_not_create_a_rate_in_a_gap() -> None:
    card = RateCard("rc", "Card", (rate(10, None, "1"),))
    ov = Override.overwrite("tok", utc(2026, 1, 1), None, Flat(D(5)))
    segments = rate_segments(card, (ov,), "tok", JAN)
    assert segments[0].is_gap
    assert segments[0].overrides == ()
    assert segments[1].rate is not None
    assert segments[1].rate.price == Flat(D(5))


def test_overrides_of_other_products_are_ignored() -> None:
    card = RateCard("rc", "Card", (rate(1, None, "1"),))
    ov = Override.multiply("other", utc(2026, 1, 10), None, "2")
    segments = rate_segments(card, (ov,), "tok", JAN)
    assert len(segments) == 1
    assert segments[0].rate == card.rates[0]


def test_invalid_overrides() -> None:
    with pytest.raises(InvalidPriceModel, match="negative"):
        Override.multiply("tok", utc(2026, 1, 1), None, "-1")
    with pytest.raises(InvalidOverride, match="override for 'tok' must end after it starts"):
        Override.multiply("tok", utc(2026, 1, 2), utc(2026, 1, 1), "1")


def test_rate_in_custom_credits_and_jpy() -> None:
    ai = custom_credit("ai", "AI credits", "USD", "0.01")
    credits_rate = Rate("tok", utc(2026, 1, 1), None, Flat(D(3)), ai)
    # 250 units × 3 credits = 750 AI credits, worth 750 × $0.01 = $7.50
    units = credits_rate.price.price(D(250)).amount
    assert units == D(750)
    assert credits_rate.credit_type.to_money(units).rounded().format() == "$7.50"
    jpy = fiat("JPY")
    yen_rate = Rate("tok", utc(2026, 1, 1), None, Flat(D("1.5")), jpy)
    # 333 × ¥1.5 = ¥499.5, rounded once per line half up to ¥500
    amount = yen_rate.price.price(D(333)).amount
    assert amount == D("499.5")
    assert currency("JPY").round(amount) == D(500)
