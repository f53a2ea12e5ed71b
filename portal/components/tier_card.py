"""A tier of the good-better-best line-up as customers see it.

The public pricing page and the staff preview of a draft draw the same card
from the same view rows (:func:`tier_rows`), so the preview is exactly what
customers will see.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import reflex as rx

from portal.services.catalog import TierCard

TierRow = dict[str, str | int | list[str] | bool]
"""A tier card as a view row: the card's preformatted strings, its features, and two flags."""


def tier_rows(cards: Sequence[TierCard], highlight: str = "") -> list[TierRow]:
    """View rows of ``cards``: the middle of three or more is ``featured`` (the recommended tier), and the card
    whose key is ``highlight`` is ``highlighted`` (the draft staff are editing)."""
    featured = len(cards) // 2 if len(cards) >= 3 else -1
    return [
        {
            **dataclasses.asdict(card),
            "features": list(card.features),
            "featured": i == featured,
            "highlighted": card.key == highlight,
        }
        for i, card in enumerate(cards)
    ]


def _feature(text: rx.Var) -> rx.Component:
    return rx.hstack(rx.icon("check", size=16, color=rx.color("accent", 10)), rx.text(text, size="2"), align="start")


def _outline(tier: rx.Var) -> rx.Var:
    return rx.cond(
        tier["highlighted"],
        {"outline": f"2px dashed {rx.color('amber', 9)}", "outlineOffset": "2px"},
        rx.cond(tier["featured"], {"outline": f"2px solid {rx.color('accent', 9)}"}, {}),
    )


def tier_card(
    tier: rx.Var, action: rx.Component, compact: bool = False, highlight_label: str | rx.Var = "Your draft"
) -> rx.Component:
    """One tier (a :func:`tier_rows` row) with ``action`` (its call to action) under the price.

    ``compact`` draws a smaller card, for line-ups shown beside other content; a highlighted card is marked
    with ``highlight_label``.
    """
    return rx.card(
        rx.vstack(
            rx.cond(
                tier["highlighted"],
                rx.badge(rx.icon("pencil", size=12), highlight_label, color_scheme="amber", variant="solid"),
            ),
            rx.hstack(
                rx.heading(tier["name"], size="5" if compact else "6", class_name="tier-name"),
                rx.cond(tier["featured"], rx.badge("Most popular", variant="solid")),
                justify="between",
                width="100%",
                align="center",
                wrap="wrap",
            ),
            rx.text(tier["tagline"], color_scheme="gray", size="2", min_height="2.6em"),
            rx.hstack(
                rx.text(tier["seat_price"], size="6" if compact else "8", weight="bold", class_name="tier-price"),
                rx.text(tier["per"], color_scheme="gray", size="2"),
                align="baseline",
                spacing="2",
                wrap="wrap",
            ),
            rx.cond(
                tier["credits"] != "",
                rx.hstack(
                    rx.icon("coins", size=18, color=rx.color("accent", 11)),
                    rx.vstack(
                        rx.text(tier["credits"], weight="medium", size="2", class_name="tier-credits"),
                        rx.text(tier["allocation"], size="1", color_scheme="gray"),
                        spacing="0",
                    ),
                    background=rx.color("accent", 3),
                    border_radius="var(--radius-3)",
                    padding="12px",
                    width="100%",
                    align="center",
                ),
            ),
            rx.cond(
                tier["included"] != "",
                rx.hstack(
                    rx.icon("gift", size=16, color=rx.color("accent", 11)),
                    rx.text(tier["included"], size="2", class_name="tier-included"),
                    spacing="2",
                    align="center",
                ),
            ),
            rx.hstack(
                rx.badge(tier["seats"], variant="surface", color_scheme="gray"),
                rx.cond(tier["trial"] != "", rx.badge(tier["trial"], variant="surface", color_scheme="green")),
                spacing="2",
                wrap="wrap",
            ),
            action,
            rx.separator(size="4"),
            rx.vstack(rx.foreach(tier["features"].to(list[str]), _feature), spacing="2"),
            spacing="3" if compact else "4",
            align="start",
        ),
        size="2" if compact else "3",
        class_name="tier-card",
        data_tier=tier["key"],
        style=_outline(tier),
    )


def choose_button(tier: rx.Var, **props: Any) -> rx.Component:
    """The card's "Choose <tier>" button (the recommended tier's is solid)."""
    return rx.button(
        "Choose " + tier["name"].to(str),
        width="100%",
        size="3",
        variant=rx.cond(tier["featured"], "solid", "outline"),
        class_name="choose-tier",
        **props,
    )
