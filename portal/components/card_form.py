"""A card field: the box Stripe.js mounts its card input in, and the scripts that mount it and confirm a card.

The scripts call ``assets/cards.js`` (loaded on first use); their results come
back to a state's callback as ``{"ok": true}`` or ``{"error": "..."}``.
"""

from __future__ import annotations

import json

import reflex as rx

_LOADER = (
    "(window.portalCards ? Promise.resolve() : new Promise(function (ok, fail) {"
    " const s = document.createElement('script'); s.src = '/cards.js'; s.onload = ok;"
    " s.onerror = function () { fail(new Error('The card form could not be loaded: reload the page.')); };"
    " document.head.appendChild(s); }))"
)


def _call(method: str, *args: str) -> str:
    arguments = ", ".join(json.dumps(arg) for arg in args)
    return (
        f"{_LOADER}.then(function () {{ return window.portalCards.{method}({arguments}); }})"
        ".catch(function (e) { return {error: e.message || String(e)}; })"
    )


def mount_card_script(publishable_key: str, stripe_js_url: str, box_id: str) -> str:
    """JavaScript that loads Stripe.js and mounts a card field in the element with id ``box_id``."""
    return _call("mount", publishable_key, stripe_js_url, f"#{box_id}")


def confirm_card_script(client_secret: str) -> str:
    """JavaScript that confirms the SetupIntent of ``client_secret`` with the card typed in the mounted field."""
    return _call("confirm", client_secret)


def card_box(box_id: str) -> rx.Component:
    """Where the card field appears (Stripe.js fills it), with its label."""
    return rx.vstack(
        rx.text("Card", as_="label", html_for=box_id, weight="medium", size="2"),
        rx.box(
            rx.text("Loading the card form…", size="1", color_scheme="gray"),
            id=box_id,
            width="100%",
            padding="10px",
            border="1px solid var(--gray-a7)",
            border_radius="var(--radius-2)",
            min_height="42px",
        ),
        rx.text(
            "Your card number goes straight to our payment provider, Stripe; we keep only its brand, last four "
            "digits and expiry.",
            size="1",
            color_scheme="gray",
        ),
        spacing="1",
        width="100%",
    )
