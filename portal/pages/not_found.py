"""The page shown for an address that matches no page."""

from __future__ import annotations

import reflex as rx

from portal.components.layout import notice, shell


def not_found_page() -> rx.Component:
    """A friendly not-found page with a way back."""
    return shell(
        notice(
            "map-pin-off",
            "Page not found",
            "There is no page at this address. It may have moved, or the link may be mistyped.",
            rx.link(rx.button("Go to pricing"), href="/"),
        )
    )
