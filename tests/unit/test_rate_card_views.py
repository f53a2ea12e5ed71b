"""The rate-card pages' pure helpers: the form's effective time and price document, and the timeline rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from portal.components.rate_timeline import timeline_rows
from portal.db.codecs import price_from_doc
from portal.pages.rate_card_state import effective_time, first_of_next_month, price_doc, tier_field
from portal.services.rate_changes import RateView


def test_the_effective_time_is_the_date_at_the_hour_in_utc() -> None:
    assert effective_time(" 2026-08-01 ", "07") == datetime(2026, 8, 1, 7, tzinfo=UTC)
    for date, hour, message in [
        ("", "00", "Choose the date"),
        ("2026-08-01", "", "Choose the hour"),
        ("2026-08-01", "24", "Choose the hour"),
        ("1 August", "00", "The effective date '1 August' is not a date"),
        ("2026-02-30", "00", "is not a date"),
    ]:
        with pytest.raises(ValueError, match=message):
            effective_time(date, hour)


def test_each_price_model_becomes_the_services_document() -> None:
    assert price_doc("flat", {"unit_price": " 12 "}, []) == {"model": "flat", "unit_price": "12"}
    assert price_doc("package", {"size": "1000", "price_per_block": "5"}, []) == {
        "model": "package",
        "size": "1000",
        "price_per_block": "5",
    }
    form = {
        tier_field("a", "up_to"): "5000",
        tier_field("a", "unit_price"): "2",
        tier_field("b", "up_to"): "",
        tier_field("b", "unit_price"): "1.5",
        tier_field("b", "flat_fee"): "10",
        tier_field("c", "unit_price"): "9",  # a removed row: not among the keys
    }
    doc = price_doc("volume", form, ["a", "b"])
    assert doc == {
        "model": "volume",
        "tiers": [{"up_to": "5000", "unit_price": "2"}, {"up_to": None, "unit_price": "1.5", "flat_fee": "10"}],
    }
    price_from_doc(doc)  # the service reads it


def test_the_form_suggests_the_first_of_next_month() -> None:
    assert first_of_next_month(datetime(2026, 1, 31, 15, tzinfo=UTC)) == datetime(2026, 2, 1, tzinfo=UTC)
    assert first_of_next_month(datetime(2026, 12, 1, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)


def test_timeline_rows_group_rates_by_product_and_say_which_is_in_force() -> None:
    rates = [
        RateView("tok", "Tokens", "2026-01-01 00:00", "2026-06-01 00:00", "8 per unit", "ai-credits", False),
        RateView("tok", "Tokens", "2026-06-01 00:00", "2026-09-01 00:00", "10 per unit", "ai-credits", False),
        RateView("tok", "Tokens", "2026-09-01 00:00", "", "12 per unit", "ai-credits", True),
        RateView("req", "Requests", "2026-01-01 00:00", "", "0.5 per unit", "USD", False),
    ]
    rows = timeline_rows(rates, datetime(2026, 7, 15, tzinfo=UTC))
    assert [(r["kind"], r.get("status", r["product"])) for r in rows] == [
        ("product", "Tokens"),
        ("rate", "ended"),
        ("rate", "in_force"),
        ("rate", "scheduled"),
        ("product", "Requests"),
        ("rate", "in_force"),
    ]
    assert rows[3]["ends"] == "—"
