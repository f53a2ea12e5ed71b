"""Rating usage into invoice lines and charges, with hand-computed figures."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from portal.domain.errors import RatingInputMismatch
from portal.domain.metrics import Aggregation, BillableMetric, UsageEvent, aggregate
from portal.domain.money import custom_credit, fiat
from portal.domain.periods import Period, utc
from portal.domain.pricing import (
    ConversionOperation,
    Flat,
    Override,
    Package,
    PriceModel,
    Product,
    ProductKind,
    QuantityConversion,
    QuantityRounding,
    Rate,
    RateCard,
    RoundingMode,
    Tier,
    Tiered,
    Volume,
    rate_segments,
)
from portal.domain.rating import GroupShare, ProductRating, hourly_segments, rate_usage, windows_for

D = Decimal
USD = fiat("USD")
JAN = Period(utc(2026, 1, 1), utc(2026, 2, 1))
MID = utc(2026, 1, 16)
GRADUATED = Tiered((Tier(D(100), D(1)), Tier(None, D("0.5"))))
TOKENS = BillableMetric("tokens", "Tokens", "tokens", Aggregation.SUM, "tokens", group_keys=("user_id", "model"))


def usage(txn: str, day: int, tokens: str, user: str | None = "u1", model: str = "gpt") -> UsageEvent:
    props = {"tokens": tokens, "model": model}
    if user is not None:
        props["user_id"] = user
    return UsageEvent(txn, "c1", "tokens", utc(2026, 1, day, 12), props)


def product(**kwargs: object) -> Product:
    return Product("tok", "Tokens", ProductKind.USAGE, metric_id="tokens", **kwargs)  # type: ignore[arg-type]


def card(*rates: Rate) -> RateCard:
    return RateCard("rc", "Card", rates)


def always(price: PriceModel, credit_type: object = USD) -> RateCard:
    return card(Rate("tok", utc(2025, 1, 1), None, price, credit_type))  # type: ignore[arg-type]


def rate(
    rate_card: RateCard,
    events: list[UsageEvent],
    *,
    prod: Product | None = None,
    metric: BillableMetric = TOKENS,
    cuts: tuple[datetime, ...] = (MID,),
    seat_key: str | None = None,
    overrides: tuple[Override, ...] = (),
) -> ProductRating:
    """Rate January: segments from the card, windows cut at the segments and at ``cuts``."""
    prod = prod or product()
    segments = rate_segments(rate_card, overrides, prod.id, JAN)
    windows = windows_for(JAN, segments, cuts)
    return rate_usage("c1", prod, segments, aggregate(metric, events, windows), seat_key=seat_key)


def amounts(rating: ProductRating) -> list[tuple[str, Decimal]]:
    """(charge date, amount) for each charge."""
    return [(f"{c.at:%m-%d}", c.amount) for c in rating.charges]


# --- marginal attribution --------------------------------------------------------------------------


def test_tiered_charges_by_marginal_cost_per_window() -> None:
    rating = rate(always(GRADUATED), [usage("a", 3, "80"), usage("b", 20, "50")])
    # Total 130: 100 × 1 + 30 × 0.5 = 115.
    (line,) = rating.lines
    assert (line.usage_quantity, line.quantity, line.result.amount) == (D(130), D(130), D(115))
    # First half: price(80) = 80. Second half: price(130) − price(80) = 115 − 80 = 35.
    assert amounts(rating) == [("01-01", D(80)), ("01-16", D(35))]
    assert sum(c.amount for c in rating.charges) == rating.amount == D(115)


def test_credit_expiry_cut_gives_a_charge_before_and_after() -> None:
    expiry = utc(2026, 1, 10)
    rating = rate(always(Flat(D(2))), [usage("a", 5, "10"), usage("b", 12, "4")], cuts=(expiry,))
    # Usage before the expiry: 10 × 2 = 20, dated 1 Jan; after: 4 × 2 = 8, dated 10 Jan.
    assert amounts(rating) == [("01-01", D(20)), ("01-10", D(8))]


def test_rate_change_mid_period_splits_and_restarts_tiers() -> None:
    before = Rate("tok", utc(2025, 1, 1), utc(2026, 1, 15), GRADUATED, USD)
    after = Rate("tok", utc(2026, 1, 15), None, Tiered((Tier(D(100), D(2)), Tier(None, D(1)))), USD)
    rating = rate(card(before, after), [usage("a", 3, "120"), usage("b", 20, "120")], cuts=())
    # Before 15 Jan: 100 × 1 + 20 × 0.5 = 110. From 15 Jan the tiers restart: 100 × 2 + 20 × 1 = 220.
    assert [(line.period.label(), line.quantity, line.result.amount) for line in rating.lines] == [
        ("2026-01-01 to 2026-01-15", D(120), D(110)),
        ("2026-01-15 to 2026-02-01", D(120), D(220)),
    ]
    assert [line.rate for line in rating.lines] == [before, after]
    assert amounts(rating) == [("01-01", D(110)), ("01-15", D(220))]


def test_override_multiplier_and_overwrite_apply_in_rating() -> None:
    discount = Override.multiply("tok", utc(2026, 1, 1), None, "0.5")
    promo = Override.overwrite("tok", MID, None, Flat(D("0.1")))
    rating = rate(always(Flat(D(1))), [usage("a", 3, "10"), usage("b", 20, "10")], overrides=(discount, promo), cuts=())
    # Until 16 Jan: 10 × 1 × 0.5 = 5. From 16 Jan the overwrite (0.1) then the multiplier: 10 × 0.1 × 0.5 = 0.5.
    assert [line.result.amount for line in rating.lines] == [D("5.0"), D("0.50")]
    assert rating.lines[1].rate.price == Flat(D("0.05"))


def test_conversion_and_rounding_before_pricing() -> None:
    prod = product(
        quantity_conversion=QuantityConversion(D(1000), ConversionOperation.DIVIDE),
        quantity_rounding=QuantityRounding(RoundingMode.UP),
    )
    rating = rate(always(Flat(D(1))), [usage("a", 3, "500"), usage("b", 20, "501")], prod=prod)
    # 1,001 tokens ÷ 1,000 = 1.001, rounded up to 2 → $2.
    (line,) = rating.lines
    assert (line.usage_quantity, line.quantity, line.result.amount) == (D(1001), D(2), D(2))
    # First half: 500 tokens → 0.5 → 1 → $1; then 1,001 → 2 → $2, so the second half adds $1.
    assert amounts(rating) == [("01-01", D(1)), ("01-16", D(1))]


def test_package_marginal_charges() -> None:
    rating = rate(always(Package(D(10), D(5))), [usage("a", 3, "4"), usage("b", 20, "7")])
    # 4 units = 1 block ($5); 11 units = 2 blocks ($10): charges 5 then 5.
    assert amounts(rating) == [("01-01", D(5)), ("01-16", D(5))]


# --- VOLUME and LATEST rules ---------------------------------------------------------------------


def test_volume_is_attributed_in_proportion_to_usage() -> None:
    volume = Volume((Tier(D(100), D(1)), Tier(None, D("0.5"))))
    rating = rate(always(volume), [usage("a", 3, "80"), usage("b", 20, "50")])
    # 130 units land in tier 2: 130 × 0.5 = 65. Marginal cost would be 80 then −15;
    # instead 65 × 80/130 = 40 and the rest, 25.
    assert rating.amount == D("65.0")
    assert amounts(rating) == [("01-01", D(40)), ("01-16", D(25))]


def test_latest_is_charged_once_where_the_billed_value_was_reported() -> None:
    seats = BillableMetric("tokens", "Seats", "tokens", Aggregation.LATEST, "tokens", group_keys=("user_id", "model"))
    events = [usage("a", 3, "5"), usage("b", 20, "3")]
    rating = rate(always(Flat(D(10))), events, metric=seats)
    # The last value in January is 3 (20 Jan): 3 × 10 = 30, charged in the window of 20 Jan.
    assert rating.lines[0].quantity == D(3)
    assert amounts(rating) == [("01-16", D(30))]
    # When the last report is in the first window, the charge is there.
    rating = rate(always(Flat(D(10))), [usage("a", 3, "5")], metric=seats)
    assert amounts(rating) == [("01-01", D(50))]


def test_max_charges_only_increases_of_the_maximum() -> None:
    peak = BillableMetric("tokens", "Peak", "tokens", Aggregation.MAX, "tokens")
    events = [usage("a", 3, "5"), usage("b", 20, "8"), usage("c", 21, "2")]
    rating = rate(always(Flat(D(1))), events, metric=peak)
    # Max 5 in the first half (charge 5); the max rises to 8 in the second (charge 8 − 5 = 3).
    assert amounts(rating) == [("01-01", D(5)), ("01-16", D(3))]


def test_unique_charges_new_values_only() -> None:
    users = BillableMetric("tokens", "Active users", "tokens", Aggregation.UNIQUE, "user_id")
    events = [
        usage("a", 3, "1", "ann"),
        usage("b", 4, "1", "bob"),
        usage("c", 20, "1", "bob"),
        usage("d", 21, "1", "cy"),
    ]
    rating = rate(always(Flat(D(10))), events, metric=users)
    # {ann, bob} in the first half: 2 × 10 = 20; cy is new in the second half: 3 × 10 − 20 = 10.
    assert amounts(rating) == [("01-01", D(20)), ("01-16", D(10))]
    assert rating.lines[0].quantity == D(3)


def test_count_metric() -> None:
    requests = BillableMetric("tokens", "Requests", "tokens", Aggregation.COUNT)
    rating = rate(
        always(Flat(D("0.25"))), [usage("a", 3, "1"), usage("b", 4, "9"), usage("c", 20, "1")], metric=requests
    )
    # 2 requests then 1: 0.50 and 0.25.
    assert amounts(rating) == [("01-01", D("0.50")), ("01-16", D("0.25"))]


# --- groups and seats ----------------------------------------------------------------------------


def test_seat_key_splits_window_charges_in_proportion() -> None:
    events = [
        usage("a", 3, "60", "u1"),
        usage("b", 4, "20", "u2"),
        usage("c", 20, "30", "u1"),
        usage("d", 21, "20", "u2"),
        usage("e", 22, "0", None),
    ]
    rating = rate(always(GRADUATED), events, seat_key="user_id")
    # First half 80 units, price 80: u1 60/80 → 60, u2 20/80 → 20.
    # Second half: price(130) − price(80) = 35, u1 30/50 → 21, u2 20/50 → 14; the no-seat event adds 0
    # units, so its share is 0 and no charge is made for it.
    assert [(c.at.day, c.seat_id, c.amount) for c in rating.charges] == [
        (1, "u1", D(60)),
        (1, "u2", D(20)),
        (16, "u1", D(21)),
        (16, "u2", D(14)),
    ]
    assert rating.charges[1].id == "c1:tok:2026-01-01T00:00:00+00:00:user_id=u2"
    assert rating.charges[1].group == (("user_id", "u2"),)
    assert sum(c.amount for c in rating.charges) == D(115)


def test_usage_without_seat_value_has_no_seat() -> None:
    rating = rate(always(Flat(D(1))), [usage("a", 3, "7", None)], seat_key="user_id")
    (charge,) = rating.charges
    assert (charge.seat_id, charge.group, charge.amount) == (None, (("user_id", ""),), D(7))


def test_pricing_group_key_prices_each_value_separately() -> None:
    events = [usage("a", 3, "120", model="gpt"), usage("b", 4, "50", model="claude")]
    rating = rate(always(GRADUATED), events, prod=product(pricing_group_key="model"))
    # claude: 50 × 1 = 50; gpt: 100 × 1 + 20 × 0.5 = 110 (each with its own tiers).
    assert [(line.pricing_group, line.result.amount) for line in rating.lines] == [("claude", D(50)), ("gpt", D(110))]
    assert [(c.group, c.amount) for c in rating.charges] == [
        ((("model", "claude"),), D(50)),
        ((("model", "gpt"),), D(110)),
    ]


def test_presentation_group_key_prices_together_and_shows_parts() -> None:
    events = [usage("a", 3, "120", model="gpt"), usage("b", 4, "50", model="claude")]
    rating = rate(always(GRADUATED), events, prod=product(presentation_group_key="model"))
    # Priced together: 170 units → 100 + 70 × 0.5 = 135, split 120 : 50 to 12 places:
    # 135 × 120/170 = 95.294117647058|82…, 135 × 50/170 = 39.705882352941|17…; the floors leave one
    # 10^-12 over, which goes to the larger remainder (gpt).
    (line,) = rating.lines
    assert line.result.amount == D(135)
    assert line.presentation == (
        GroupShare("claude", D(50), D("39.705882352941")),
        GroupShare("gpt", D(120), D("95.294117647059")),
    )
    assert sum(share.amount for share in line.presentation) == D(135)


def test_presentation_and_seat_keys_together() -> None:
    events = [usage("a", 3, "10", "u1", "gpt"), usage("b", 4, "30", "u2", "claude")]
    rating = rate(always(Flat(D(1))), events, prod=product(presentation_group_key="model"), seat_key="user_id", cuts=())
    assert [(c.group, c.seat_id, c.amount) for c in rating.charges] == [
        ((("model", "claude"), ("user_id", "u2")), "u2", D(30)),
        ((("model", "gpt"), ("user_id", "u1")), "u1", D(10)),
    ]


def test_charge_ids_escape_separators() -> None:
    rating = rate(always(Flat(D(1))), [usage("a", 3, "1", "org:u%1")], seat_key="user_id", cuts=())
    assert rating.charges[0].id == "c1:tok:2026-01-01T00:00:00+00:00:user_id=org%3Au%251"
    assert rating.charges[0].seat_id == "org:u%1"


# --- credit types --------------------------------------------------------------------------------


def test_rate_in_custom_credit_unit() -> None:
    ai = custom_credit("ai", "AI credits", "USD", "0.01")
    rating = rate(always(Flat(D(3)), ai), [usage("a", 3, "250")], cuts=())
    # 250 × 3 = 750 AI credits (worth $7.50).
    (charge,) = rating.charges
    assert (charge.amount, charge.credit_type) == (D(750), ai)
    assert ai.to_money(charge.amount).rounded().format() == "$7.50"


def test_jpy_rate_keeps_full_precision() -> None:
    jpy = fiat("JPY")
    rating = rate(always(Flat(D("1.5")), jpy), [usage("a", 3, "111"), usage("b", 20, "222")])
    # 111 × 1.5 = 166.5 and 222 × 1.5 = 333.0; the line is 499.5 (rounded to ¥500 once, on the invoice).
    assert amounts(rating) == [("01-01", D("166.5")), ("01-16", D("333.0"))]
    assert rating.charges[0].credit_type == jpy
    assert jpy.currency.round(rating.amount) == D(500)


# --- no usage, gaps, entitlement -----------------------------------------------------------------


def test_no_usage_gives_a_zero_line_and_no_charges() -> None:
    rating = rate(always(GRADUATED), [])
    (line,) = rating.lines
    assert (line.usage_quantity, line.result.amount, line.result.breakdown) == (D(0), D(0), ())
    assert rating.charges == ()


def test_zero_usage_window_has_no_charge() -> None:
    rating = rate(always(Flat(D(1))), [usage("a", 3, "0"), usage("b", 20, "4")])
    assert amounts(rating) == [("01-16", D(4))]


def test_usage_in_a_gap_is_reported_unbilled() -> None:
    rating = rate(card(Rate("tok", MID, None, Flat(D(1)), USD)), [usage("a", 3, "7"), usage("b", 20, "4")])
    assert amounts(rating) == [("01-16", D(4))]
    (unbilled,) = rating.unbilled
    assert (unbilled.period.label(), unbilled.usage_quantity) == ("2026-01-01 to 2026-01-16", D(7))
    assert "No rate prices this product from 2026-01-01 to 2026-01-16" in unbilled.reason


def test_usage_without_entitlement_is_reported_unbilled() -> None:
    closed = card(Rate("tok", utc(2025, 1, 1), None, Flat(D(1)), USD, entitled=False))
    rating = rate(closed, [usage("a", 3, "7")], prod=product(pricing_group_key="model"))
    assert rating.lines == ()
    assert rating.charges == ()
    assert [(u.pricing_group, u.usage_quantity) for u in rating.unbilled] == [("gpt", D(7))]
    assert "does not entitle" in rating.unbilled[0].reason


def test_rejected_events_are_passed_on() -> None:
    rating = rate(always(Flat(D(1))), [usage("a", 3, "lots"), usage("b", 3, "2")])
    assert [r.transaction_id for r in rating.rejected] == ["a"]
    assert rating.amount == D(2)


# --- inputs that do not belong together ----------------------------------------------------------


def test_refuses_usage_of_another_metric() -> None:
    other = BillableMetric("other", "Other", "tokens", Aggregation.COUNT)
    with pytest.raises(RatingInputMismatch, match="bills metric 'tokens'"):
        rate(always(Flat(D(1))), [], metric=other)


def test_refuses_group_key_the_metric_lacks() -> None:
    with pytest.raises(RatingInputMismatch, match="add 'region' to the metric's group keys"):
        rate(always(Flat(D(1))), [], prod=product(pricing_group_key="region"))
    with pytest.raises(RatingInputMismatch, match="takes seats from 'seat'"):
        rate(always(Flat(D(1))), [], seat_key="seat")


def test_refuses_windows_across_a_rate_change() -> None:
    rates = card(Rate("tok", utc(2025, 1, 1), MID, Flat(D(1)), USD), Rate("tok", MID, None, Flat(D(2)), USD))
    segments = rate_segments(rates, (), "tok", JAN)
    aggregation = aggregate(TOKENS, [], (JAN,))
    with pytest.raises(RatingInputMismatch, match="not inside one rate segment"):
        rate_usage("c1", product(), segments, aggregation)


def test_refuses_non_usage_product() -> None:
    fixed = Product("tok", "Fee", ProductKind.FIXED)
    segments = rate_segments(always(Flat(D(1))), (), "tok", JAN)
    with pytest.raises(RatingInputMismatch, match="only usage products"):
        rate_usage("c1", fixed, segments, aggregate(TOKENS, [], (JAN,)))


def test_latest_charge_goes_to_the_group_that_reported_the_value() -> None:
    seats = BillableMetric("tokens", "Seats", "tokens", Aggregation.LATEST, "tokens", group_keys=("user_id", "model"))
    events = [usage("a", 3, "5", "u1"), usage("b", 20, "2", "u2"), usage("c", 18, "9", "u1")]
    rating = rate(always(Flat(D(10))), events, metric=seats, seat_key="user_id")
    # Priced together the latest report is u2's 2 on 20 Jan: 2 × 10 = 20, all to u2 in that window.
    assert [(c.at.day, c.seat_id, c.amount) for c in rating.charges] == [(16, "u2", D(20))]


def test_overwrite_into_custom_credits_changes_the_charge_unit() -> None:
    ai = custom_credit("ai", "AI credits", "USD", "0.01")
    promo = Override.overwrite("tok", MID, None, Flat(D(2)), credit_type=ai)
    rating = rate(always(Flat(D(1))), [usage("a", 3, "10"), usage("b", 20, "10")], overrides=(promo,))
    # Before 16 Jan: 10 × $1 = $10; from 16 Jan: 10 × 2 = 20 AI credits.
    assert [(c.amount, c.credit_type.id) for c in rating.charges] == [(D(10), "USD"), (D(20), "ai")]


def test_windows_for_cuts_at_rate_changes_and_given_instants() -> None:
    rates = card(Rate("tok", utc(2025, 1, 1), MID, Flat(D(1)), USD), Rate("tok", MID, None, Flat(D(2)), USD))
    segments = rate_segments(rates, (), "tok", JAN)
    windows = windows_for(JAN, segments, [utc(2026, 1, 5), utc(2026, 3, 1)])  # 1 March is outside: ignored
    assert [w.label() for w in windows] == [
        "2026-01-01 to 2026-01-05",
        "2026-01-05 to 2026-01-16",
        "2026-01-16 to 2026-02-01",
    ]


def test_hourly_segments_move_each_change_to_the_next_whole_hour() -> None:
    before = Rate("tok", utc(2025, 1, 1), utc(2026, 1, 15, 10, 20), Flat(D(1)), USD)
    blink = Rate("tok", utc(2026, 1, 15, 10, 20), utc(2026, 1, 15, 10, 50), Flat(D(5)), USD)
    after = Rate("tok", utc(2026, 1, 15, 10, 50), None, Flat(D(2)), USD)
    segments = hourly_segments(rate_segments(card(before, blink, after), (), "tok", JAN))
    # The change at 10:20 takes effect at 11:00; the 30-minute rate never holds a whole hour and vanishes.
    assert [(s.period.label(), s.period.end.hour, s.rate) for s in segments] == [
        ("2026-01-01 to 2026-01-15", 11, before),
        ("2026-01-15 to 2026-02-01", 0, after),
    ]
