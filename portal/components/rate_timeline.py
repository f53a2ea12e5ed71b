"""A rate card's rates over time, grouped by product: from, until, price, and whether each is past, in force or
scheduled.

The rate-card page shows every product's timeline; a price change's page
shows the timeline of the product it changes. Both draw it from the same view
rows (:func:`timeline_rows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import reflex as rx

from portal.services.rate_changes import RateView

ENDED, IN_FORCE, SCHEDULED = "ended", "in_force", "scheduled"
PRODUCT_ROW, RATE_ROW = "product", "rate"


def _status(rate: RateView, now: str) -> str:
    if rate.scheduled:
        return SCHEDULED
    return ENDED if rate.ends and rate.ends <= now else IN_FORCE


def timeline_rows(rates: Sequence[RateView], now: datetime) -> list[dict[str, str]]:
    """The rates as table rows: a heading row per product, then its rates from the earliest (``rates`` come from
    :func:`portal.services.rate_changes.rate_card`, ordered by product and start)."""
    now_label = f"{now:%Y-%m-%d %H:%M}"  # the services' format, so labels compare in time order
    rows: list[dict[str, str]] = []
    for rate in rates:
        if not rows or rows[-1]["product_id"] != rate.product_id:
            rows.append({"kind": PRODUCT_ROW, "product_id": rate.product_id, "product": rate.product})
        rows.append(
            {
                "kind": RATE_ROW,
                "product_id": rate.product_id,
                "product": rate.product,
                "starts": rate.starts,
                "ends": rate.ends or "—",
                "price": rate.price,
                "status": _status(rate, now_label),
            }
        )
    return rows


def _status_badge(status: rx.Var) -> rx.Component:
    return rx.match(
        status,
        (SCHEDULED, rx.badge(rx.icon("calendar-clock", size=12), "Scheduled", color_scheme="blue", variant="soft")),
        (IN_FORCE, rx.badge(rx.icon("circle-check", size=12), "In force", color_scheme="green", variant="soft")),
        rx.badge("Ended", color_scheme="gray", variant="soft"),
    )


def _row(row: rx.Var) -> rx.Component:
    return rx.cond(
        row["kind"] == PRODUCT_ROW,
        rx.table.row(
            rx.table.cell(
                rx.hstack(
                    rx.icon("box", size=14, color=rx.color("gray", 10)),
                    rx.text(row["product"], weight="bold", size="2"),
                    rx.code(row["product_id"], variant="ghost", size="1", color_scheme="gray"),
                    align="center",
                    spacing="2",
                ),
                col_span=4,
                background_color=rx.color("gray", 2),
            ),
            class_name="timeline-product",
            data_product=row["product_id"],
        ),
        rx.table.row(
            rx.table.cell(row["starts"], white_space="nowrap", class_name="rate-from", padding_left="28px"),
            rx.table.cell(row["ends"], white_space="nowrap", class_name="rate-until"),
            rx.table.cell(
                rx.text(row["price"], weight=rx.cond(row["status"] == ENDED, "regular", "medium")),
                class_name="rate-price",
            ),
            rx.table.cell(_status_badge(row["status"]), text_align="right", class_name="rate-status"),
            class_name="rate-row",
            data_product=row["product_id"],
            data_status=row["status"],
            opacity=rx.cond(row["status"] == ENDED, "0.6", "1"),
        ),
    )


def rate_timeline(rows: rx.Var, table_id: str) -> rx.Component:
    """The rows of :func:`timeline_rows` as a table (times in UTC)."""
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell("From (UTC)"),
                rx.table.column_header_cell("Until (UTC)"),
                rx.table.column_header_cell("Price"),
                rx.table.column_header_cell("", text_align="right"),
            )
        ),
        rx.table.body(rx.foreach(rows, _row)),
        variant="surface",
        width="100%",
        id=table_id,
    )
