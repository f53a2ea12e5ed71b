"""The public pricing page: published tiers side by side, from the database."""

from __future__ import annotations

import reflex as rx

from portal.components.layout import notice, page_header, shell
from portal.components.tier_card import TierRow, choose_button, tier_card, tier_rows
from portal.services.catalog import published_tiers


class PricingState(rx.State):
    """The published tiers as preformatted view rows."""

    tiers: list[TierRow] = []
    loaded: bool = False

    @rx.event
    def load(self) -> None:
        """Read the published tiers; the middle one is marked as the recommended tier."""
        self.tiers = tier_rows(published_tiers())
        self.loaded = True


def _choose(tier: rx.Var) -> rx.Component:
    return tier_card(tier, rx.link(choose_button(tier), href="/checkout?tier=" + tier["key"].to(str), width="100%"))


def pricing_page() -> rx.Component:
    """Published tiers side by side, or an empty state when nothing is published yet."""
    return shell(
        page_header("Pricing", "Pick a tier and a number of seats. Every seat comes with credits for AI usage."),
        rx.cond(
            PricingState.loaded & (PricingState.tiers.length() == 0),
            notice("package-open", "No tiers published yet", "Staff have not published any packages yet."),
            rx.grid(
                rx.foreach(PricingState.tiers, _choose),
                columns=rx.breakpoints(initial="1", sm="2", lg="3"),
                spacing="5",
                width="100%",
            ),
        ),
    )
