"""A price change's page at ``/staff/rate-changes/<id>``: what it sets from when, its product's rates over time,
then for a draft the simulation panel that gates scheduling, and discarding it."""

from __future__ import annotations

import reflex as rx

from portal.components.rate_timeline import rate_timeline
from portal.components.staff_nav import change_status_badge, staff_area
from portal.pages.rate_change_state import RateChangeState
from portal.pages.simulation_panel import PanelWords, simulation_panel
from portal.pages.staff_routes import RATE_CARDS_ROUTE

SCHEDULE_WORDS = PanelWords(
    intro="Replays the last closed billing periods of every customer billed by this rate card as if the new price "
    "had been in force, so you see who pays more or less before anyone is billed by it.",
    none_yet="No simulation yet. Scheduling needs a simulation of this change, reviewed and acknowledged.",
    stale="The rate card changed since this simulation: run it again, then review the new results.",
    nobody="No customer is billed by this rate card today, so scheduling changes no existing customer's bill.",
    results_note="Amounts are what each customer was billed over the closed periods, and what they would have been "
    "billed at the new price.",
    action="Schedule",
    action_icon="calendar-check",
    ready="Simulated and reviewed: ready to schedule.",
    confirm_title="Schedule this price change?",
    confirm_body="Every customer billed by this rate card pays the new price for usage from its effective time on; "
    "the rate in force until then ends there. Scheduled changes are not undone here.",
)
"""What the simulation panel says about a price change."""


def _fact(label: str, value: rx.Component) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", weight="bold", color_scheme="gray", text_transform="uppercase"),
        value,
        spacing="1",
    )


def _header() -> rx.Component:
    return rx.vstack(
        rx.link(
            rx.hstack(rx.icon("arrow-left", size=14), rx.text(RateChangeState.card_name), spacing="1", align="center"),
            href=RateChangeState.card_href,
            size="2",
            color_scheme="gray",
            id="back-to-card",
        ),
        rx.hstack(
            rx.heading("New price of ", RateChangeState.product, size="7", id="change-title"),
            change_status_badge(RateChangeState.status),
            align="center",
            spacing="3",
            wrap="wrap",
        ),
        spacing="2",
        margin_bottom="12px",
    )


def _summary() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.grid(
                _fact("New price", rx.text(RateChangeState.price, weight="medium", id="change-price")),
                _fact("From", rx.text(RateChangeState.starts, weight="medium", id="change-starts")),
                _fact("Unit", rx.code(RateChangeState.unit, variant="ghost")),
                columns=rx.breakpoints(initial="1", sm="3"),
                spacing="4",
                width="100%",
            ),
            rx.separator(size="4"),
            rx.text("Rates of this product over time", size="2", weight="medium"),
            rate_timeline(RateChangeState.timeline, "product-timeline"),
            spacing="4",
            width="100%",
        ),
        size="3",
        width="100%",
    )


def _scheduled_note() -> rx.Component:
    return rx.callout.root(
        rx.callout.icon(rx.icon("calendar-check")),
        rx.callout.text(
            "Scheduled: every customer billed by this card pays the new price from ",
            RateChangeState.starts,
            ". To set another price, propose a new change on the ",
            rx.link("rate card", href=RateChangeState.card_href),
            ".",
        ),
        id="scheduled-note",
        width="100%",
    )


def _discard() -> rx.Component:
    return rx.hstack(
        rx.spacer(),
        rx.button(
            rx.icon("trash-2", size=14),
            "Discard change",
            variant="soft",
            color_scheme="red",
            on_click=RateChangeState.set_discard_open(True),
            id="discard-change",
        ),
        rx.alert_dialog.root(
            rx.alert_dialog.content(
                rx.alert_dialog.title("Discard this price change?"),
                rx.alert_dialog.description(
                    "The draft and its simulations are deleted; the rate card stays as it is. This cannot be undone."
                ),
                rx.hstack(
                    rx.alert_dialog.cancel(rx.button("Keep it", variant="soft", color_scheme="gray")),
                    rx.alert_dialog.action(
                        rx.button("Discard", color_scheme="red", on_click=RateChangeState.discard, id="confirm-discard")
                    ),
                    justify="end",
                    spacing="3",
                    margin_top="16px",
                ),
            ),
            open=RateChangeState.discard_open,
            on_open_change=RateChangeState.set_discard_open,
        ),
        width="100%",
    )


def rate_change_page() -> rx.Component:
    """One price change: a draft to simulate, then schedule or discard; a scheduled one read-only."""
    return staff_area(
        RateChangeState,
        RATE_CARDS_ROUTE,
        _header(),
        _summary(),
        rx.cond(
            RateChangeState.is_draft,
            rx.vstack(simulation_panel(SCHEDULE_WORDS), _discard(), spacing="4", width="100%"),
            _scheduled_note(),
        ),
        spacing="4",
    )
