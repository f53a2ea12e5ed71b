"""The public pricing page: published tiers side by side, from the database."""

from __future__ import annotations

import dataclasses

import reflex as rx

from portal.components.layout import notice, page_header, shell
from portal.services.catalog import published_tiers


class PricingState(rx.State):
    """The published tiers as preformatted view rows."""

    tiers: list[dict[str, str | list[str] | bool]] = []
    loaded: bool = False

    @rx.event
    def load(self) -> None:
        """Read the published tiers; the middle one is marked as the recommended tier."""
        cards = published_tiers()
        featured = len(cards) // 2 if len(cards) >= 3 else -1
        self.tiers = [
            {**dataclasses.asdict(card), "features": list(card.features), "featured": i == featured}
            for i, card in enumerate(cards)
        ]
        self.loaded = True


def _feature(text: rx.Var) -> rx.Component:
    return rx.hstack(rx.icon("check", size=16, color=rx.color("accent", 10)), rx.text(text, size="2"), align="start")


def _tier_card(tier: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(tier["name"], size="6", class_name="tier-name"),
                rx.cond(tier["featured"], rx.badge("Most popular", variant="solid")),
                justify="between",
                width="100%",
                align="center",
            ),
            rx.text(tier["tagline"], color_scheme="gray", size="2", min_height="2.6em"),
            rx.hstack(
                rx.text(tier["seat_price"], size="8", weight="bold", class_name="tier-price"),
                rx.text(tier["per"], color_scheme="gray", size="2"),
                align="baseline",
                spacing="2",
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
            rx.hstack(
                rx.badge(tier["seats"], variant="surface", color_scheme="gray"),
                rx.cond(tier["trial"] != "", rx.badge(tier["trial"], variant="surface", color_scheme="green")),
                spacing="2",
                wrap="wrap",
            ),
            rx.link(
                rx.button(
                    "Choose " + tier["name"].to(str),
                    width="100%",
                    size="3",
                    variant=rx.cond(tier["featured"], "solid", "outline"),
                    class_name="choose-tier",
                ),
                href="/checkout?tier=" + tier["key"].to(str),
                width="100%",
            ),
            rx.separator(size="4"),
            rx.vstack(rx.foreach(tier["features"].to(list[str]), _feature), spacing="2"),
            spacing="4",
            align="start",
        ),
        size="3",
        class_name="tier-card",
        data_tier=tier["key"],
        style=rx.cond(tier["featured"], {"outline": f"2px solid {rx.color('accent', 9)}"}, {}),
    )


def pricing_page() -> rx.Component:
    """Published tiers side by side, or an empty state when nothing is published yet."""
    return shell(
        page_header("Pricing", "Pick a tier and a number of seats. Every seat comes with credits for AI usage."),
        rx.cond(
            PricingState.loaded & (PricingState.tiers.length() == 0),
            notice("package-open", "No tiers published yet", "Staff have not published any packages yet."),
            rx.grid(
                rx.foreach(PricingState.tiers, _tier_card),
                columns=rx.breakpoints(initial="1", sm="2", lg="3"),
                spacing="5",
                width="100%",
            ),
        ),
    )
