"""Staff's rate cards at ``/staff/rate-cards``: every card, each opening its rates over time and price changes."""

from __future__ import annotations

import reflex as rx

from portal.components.access import LOADING
from portal.components.layout import notice, page_header
from portal.components.staff_nav import staff_area
from portal.pages.products_panel import products_panel
from portal.pages.staff_routes import RATE_CARDS_ROUTE, rate_card_href
from portal.services import rate_changes
from portal.services.identity import Identity
from portal.state.access import load_guarded


def _rows(identity: Identity) -> list[dict[str, str]]:
    """Every rate card as a row: id, name and the address of its page (staff only)."""
    return [
        {"id": card_id, "name": name, "href": rate_card_href(card_id)}
        for card_id, name in rate_changes.list_rate_cards(identity)
    ]


class RateCardsState(rx.State):
    """The rate cards, as rows."""

    access: str = LOADING
    denied_reason: str = ""
    cards: list[dict[str, str]] = []

    @rx.event
    def load(self) -> None:
        """Load every rate card (staff only)."""
        rows = load_guarded(self, _rows)
        if rows is not None:
            self.cards = rows


def _card_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.link(rx.text(row["name"], weight="medium"), href=row["href"], class_name="rate-card-link"),
        ),
        rx.table.cell(rx.code(row["id"], variant="ghost")),
        rx.table.cell(
            rx.link(
                rx.button(rx.icon("arrow-right", size=14), "Open", size="1", variant="soft"),
                href=row["href"],
                class_name="open-rate-card",
            ),
            text_align="right",
        ),
        class_name="rate-card-row",
        data_card=row["id"],
    )


def rate_cards_page() -> rx.Component:
    """Every rate card, each linking to its page."""
    return staff_area(
        RateCardsState,
        RATE_CARDS_ROUTE,
        page_header(
            "Rate cards",
            "The prices of usage over time. Every customer billed by a card pays the rate in force at each hour, "
            "so a scheduled change reaches them all at its time: simulate it over real usage before scheduling it.",
        ),
        rx.cond(
            RateCardsState.cards.length() == 0,
            notice("tags", "No rate cards yet", "Seed the demo catalog or create a rate card."),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Rate card"),
                        rx.table.column_header_cell("Id"),
                        rx.table.column_header_cell(""),
                    )
                ),
                rx.table.body(rx.foreach(RateCardsState.cards, _card_row)),
                variant="surface",
                width="100%",
                id="rate-cards",
            ),
        ),
        products_panel(),
    )
