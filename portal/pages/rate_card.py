"""A rate card's page at ``/staff/rate-cards/<id>``: its rates over time by product, its price changes (drafts
with what they still need, scheduled ones), and the form proposing a new change."""

from __future__ import annotations

import reflex as rx

from portal.components.rate_timeline import rate_timeline
from portal.components.staff_nav import change_status_badge, staff_area
from portal.pages.rate_card_state import RateCardState
from portal.pages.rate_change_form import propose_form
from portal.pages.staff_routes import RATE_CARDS_ROUTE


def _header() -> rx.Component:
    return rx.vstack(
        rx.link(
            rx.hstack(rx.icon("arrow-left", size=14), rx.text("All rate cards"), spacing="1", align="center"),
            href=RATE_CARDS_ROUTE,
            size="2",
            color_scheme="gray",
        ),
        rx.heading(RateCardState.name, size="7", id="rate-card-title"),
        rx.text("Id ", rx.code(RateCardState.card_id), size="2", color_scheme="gray"),
        spacing="2",
        margin_bottom="12px",
    )


def _section(title: str, subtitle: str, *children: rx.Component, **props: object) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.vstack(
                rx.heading(title, size="4"),
                rx.text(subtitle, size="2", color_scheme="gray"),
                spacing="1",
            ),
            *children,
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
        **props,
    )


def _timeline() -> rx.Component:
    return _section(
        "Rates over time",
        "What each product costs from when until when. Customers billed by this card pay the rate in force at "
        "each hour of their usage.",
        rx.cond(
            RateCardState.timeline.length() == 0,
            rx.text("This card prices no product yet.", size="2", color_scheme="gray"),
            rate_timeline(RateCardState.timeline, "rate-timeline"),
        ),
    )


def _note(icon: str, color: str, text: rx.Var | str) -> rx.Component:
    return rx.hstack(
        rx.icon(icon, size=13, color=rx.color(color, 10), flex_shrink="0"),
        rx.text(text, size="1"),
        spacing="1",
        align="center",
    )


def _change_note(row: rx.Var) -> rx.Component:
    """What a draft still needs before it can be scheduled; for a scheduled change, that it is coming."""
    return rx.box(
        rx.cond(
            row["status"] == "draft",
            rx.cond(
                row["blocker"] != "",
                _note("lock", "amber", row["blocker"]),
                _note("circle-check", "grass", "Simulated and reviewed: ready to schedule."),
            ),
            _note("calendar-clock", "blue", "Every subscriber pays it from its time."),
        ),
        class_name="change-note",
    )


def _change_row(row: rx.Var) -> rx.Component:
    draft = row["status"] == "draft"
    return rx.card(
        rx.hstack(
            rx.vstack(
                rx.hstack(
                    rx.text(row["product"], weight="bold", size="2", class_name="change-product"),
                    change_status_badge(row["status"]),
                    spacing="2",
                    align="center",
                    wrap="wrap",
                ),
                rx.text(
                    rx.text.span(row["price"], weight="medium", class_name="change-price"),
                    " from ",
                    rx.text.span(row["starts"], class_name="change-starts"),
                    size="2",
                ),
                _change_note(row),
                spacing="1",
                align="start",
            ),
            rx.spacer(),
            rx.link(
                rx.button(
                    rx.cond(draft, rx.icon("flask-conical", size=14), rx.icon("eye", size=14)),
                    rx.cond(draft, "Simulate", "View"),
                    size="1",
                    variant=rx.cond(draft, "soft", "ghost"),
                ),
                href=row["href"],
                class_name="open-change",
                flex_shrink="0",
            ),
            align="center",
            spacing="3",
            width="100%",
        ),
        variant="surface",
        width="100%",
        class_name="change-row",
        data_change=row["id"],
        data_product=row["product_id"],
        data_status=row["status"],
    )


def _changes() -> rx.Component:
    return _section(
        "Price changes",
        "Drafts need a simulation over real usage, reviewed and acknowledged, before they can be scheduled.",
        rx.cond(
            RateCardState.changes.length() == 0,
            rx.text("No price change proposed yet.", size="2", color_scheme="gray", id="no-changes"),
            rx.vstack(rx.foreach(RateCardState.changes, _change_row), spacing="2", width="100%", id="rate-changes"),
        ),
        id="changes-section",
    )


def rate_card_page() -> rx.Component:
    """One rate card: its timeline and price changes beside the form proposing a new one."""
    return staff_area(
        RateCardState,
        RATE_CARDS_ROUTE,
        _header(),
        rx.grid(
            rx.vstack(_timeline(), _changes(), spacing="4", width="100%"),
            propose_form(),
            grid_template_columns=rx.breakpoints(initial="1fr", lg="minmax(0, 7fr) minmax(0, 5fr)"),
            gap="24px",
            width="100%",
            align_items="start",
        ),
        spacing="4",
    )
