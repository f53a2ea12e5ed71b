"""The customers, metrics and adoption pages' pure helpers: expiry dates, metric rows and charts of adoption."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from portal.pages.staff_adoption import charts_of, money_ticks
from portal.pages.staff_customer_state import parse_expiry
from portal.pages.staff_metrics_state import metric_row, split_list
from portal.services.adoption import AdoptionView, TierSeries
from portal.services.metrics import MetricView


def test_an_expiry_is_the_start_of_the_day_in_utc_or_none() -> None:
    assert parse_expiry(" 2027-01-31 ") == datetime(2027, 1, 31, tzinfo=UTC)
    assert parse_expiry("") is None
    with pytest.raises(ValueError, match="must be a date like 2027-01-31, not '31 January'"):
        parse_expiry("31 January")


def test_comma_separated_lists_and_metric_rows() -> None:
    assert split_list(" model, , user_id ,") == ["model", "user_id"]
    view = MetricView(
        "bm_1", "AI tokens", "ai_usage", "sum", "tokens", ("model",),
        ({"key": "model", "op": "in", "values": ["a", "b"]}, {"key": "user_id", "op": "exists"}), True,
    )  # fmt: skip
    assert metric_row(view) == {
        "id": "bm_1",
        "name": "AI tokens",
        "event_type": "ai_usage",
        "aggregation": "sum(tokens)",
        "groups": "model",
        "filters": "model in [a, b]; user_id exists",
        "archived": "yes",
    }


def test_adoption_charts_plot_whole_numbers_and_show_the_formatted_revenue() -> None:
    view = AdoptionView(
        months=("2026-10", "2026-11"),
        currency="USD",
        series=(TierSeries("Team v1", (2, 3), (6, 9), (12000, 0), ("$120.00", "$0.00")),),
    )
    charts = charts_of(view)
    assert charts["customers"] == [
        {"month": "2026-10", "s0": 2, "s0_exact": "2"},
        {"month": "2026-11", "s0": 3, "s0_exact": "3"},
    ]
    assert charts["revenue"][0] == {"month": "2026-10", "s0": 12000, "s0_exact": "$120.00"}
    assert charts["table"] == [{"tier": "Team v1", "customers": "3", "seats": "9", "revenue": "$0.00"}]
    assert charts["month"] == "2026-11"
    assert "/ 100" in money_ticks("USD")
