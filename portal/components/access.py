"""Access states of a protected page: still checking, signed out, not allowed, nothing there yet, or the content."""

from __future__ import annotations

import reflex as rx

from portal.components.layout import notice

LOADING, SIGNED_OUT, FORBIDDEN, MISSING, OK = "loading", "signed_out", "forbidden", "missing", "ok"


def guarded(access: rx.Var[str], denied_reason: rx.Var[str], content: rx.Component) -> rx.Component:
    """Show ``content`` when ``access`` is ``ok``; otherwise the matching notice."""
    return rx.match(
        access,
        (OK, content),
        (
            SIGNED_OUT,
            notice(
                "lock",
                "Sign in to continue",
                "This page shows account data, so you need to be signed in.",
                rx.link(rx.button("Sign in"), href="/sign-in"),
            ),
        ),
        (FORBIDDEN, notice("shield-x", "Not available to you", denied_reason)),
        (
            MISSING,
            notice("package-open", "Nothing here yet", denied_reason, rx.link(rx.button("See the plans"), href="/")),
        ),
        rx.center(rx.spinner(size="3"), padding_y="64px"),
    )
