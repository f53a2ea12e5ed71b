"""The shared page shell: header with navigation by role, sign-in state, notices about the account, content, footer."""

from __future__ import annotations

from typing import Any

import reflex as rx

from portal.components.notification_bell import notification_bell
from portal.services.identity import SESSION_ENDED
from portal.state.session import SessionState


def _nav_link(label: str, href: str, test_id: str) -> rx.Component:
    return rx.link(label, href=href, weight="medium", color_scheme="gray", high_contrast=True, id=test_id)


def _brand() -> rx.Component:
    return rx.link(
        rx.hstack(
            rx.icon("gauge", size=22, color=rx.color("accent", 10)),
            rx.heading("Portal", size="5", weight="bold"),
            align="center",
            spacing="2",
        ),
        href="/",
        underline="none",
        color_scheme="gray",
        high_contrast=True,
    )


def _navigation() -> rx.Component:
    return rx.hstack(
        _nav_link("Pricing", "/", "nav-pricing"),
        rx.cond(SessionState.is_customer_user, _nav_link("Customer", "/customer", "nav-customer")),
        rx.cond(
            SessionState.is_enterprise_admin | SessionState.is_department_admin,
            _nav_link("Enterprise", "/enterprise", "nav-enterprise"),
        ),
        rx.cond(SessionState.is_staff, _nav_link("Staff", "/staff", "nav-staff")),
        rx.cond(SessionState.can_manage_keys, _nav_link("API keys", "/api-keys", "nav-api-keys")),
        rx.cond(
            SessionState.can_manage_keys & SessionState.is_customer_user,
            _nav_link("Webhooks", "/customer/webhooks", "nav-webhooks"),
        ),
        spacing="5",
        align="center",
    )


def _account_menu() -> rx.Component:
    return rx.cond(
        SessionState.signed_in,
        rx.menu.root(
            rx.menu.trigger(
                rx.button(
                    rx.icon("circle-user", size=16),
                    SessionState.user_name,
                    rx.icon("chevron-down", size=14),
                    variant="soft",
                    id="account-menu",
                )
            ),
            rx.menu.content(
                rx.box(
                    rx.text(SessionState.user_email, size="2", weight="medium"),
                    rx.text(SessionState.customer_name, size="1", color_scheme="gray"),
                    padding_x="12px",
                    padding_y="4px",
                ),
                rx.menu.separator(),
                rx.menu.item("Sign out", on_click=SessionState.sign_out, id="sign-out"),
            ),
        ),
        rx.link(rx.button("Sign in", id="sign-in-link"), href="/sign-in"),
    )


def _verification_banner() -> rx.Component:
    """Asks a user whose email address is not verified yet to open the link we mailed."""
    return rx.cond(
        SessionState.needs_verification,
        rx.callout.root(
            rx.callout.icon(rx.icon("mail-warning")),
            rx.callout.text(
                "Please verify your email address: open the link we sent to ",
                rx.text.strong(SessionState.user_email),
                ". ",
            ),
            rx.button(
                "Send a new link",
                on_click=SessionState.resend_verification,
                size="1",
                variant="soft",
                color_scheme="amber",
                id="resend-verification",
            ),
            color_scheme="amber",
            id="verify-banner",
            max_width="1200px",
            margin_x="auto",
            margin_top="16px",
        ),
    )


def _session_ended_notice() -> rx.Component:
    """Shown when a handler needed the user and the session had expired or was signed out elsewhere."""
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Signed out"),
            rx.alert_dialog.description(SESSION_ENDED, id="session-ended"),
            rx.flex(
                rx.link(rx.button("Sign in", id="sign-in-again"), href=SessionState.sign_in_again_url),
                justify="end",
                margin_top="16px",
            ),
        ),
        open=SessionState.ended,
    )


def _hydration_marker() -> rx.Component:
    """An invisible element present once the page is hydrated and events reach the server (tests wait for it)."""
    return rx.cond(
        rx.State.is_hydrated & SessionState.checked,
        rx.el.span(id="hydrated", style={"display": "none"}),
    )


def shell(*content: rx.Component) -> rx.Component:
    """Wrap page content in the portal's header and footer."""
    return rx.box(
        rx.box(
            rx.hstack(
                _brand(),
                _navigation(),
                rx.spacer(),
                notification_bell(),
                _account_menu(),
                align="center",
                spacing="6",
                max_width="1200px",
                margin_x="auto",
                padding_x="24px",
                padding_y="12px",
            ),
            border_bottom=f"1px solid {rx.color('gray', 5)}",
            background=rx.color("gray", 1),
            position="sticky",
            top="0",
            z_index="10",
        ),
        _verification_banner(),
        rx.box(*content, max_width="1200px", margin_x="auto", padding_x="24px", padding_y="40px", min_height="75vh"),
        rx.box(
            rx.text(
                "Portal: open-source pricing and customer portal for usage-based software.",
                size="1",
                color_scheme="gray",
            ),
            max_width="1200px",
            margin_x="auto",
            padding="24px",
        ),
        _session_ended_notice(),
        _hydration_marker(),
    )


def page_header(title: str | rx.Var, subtitle: str | rx.Var) -> rx.Component:
    """A page's title with a subtitle."""
    return rx.vstack(
        rx.heading(title, size="7"),
        rx.text(subtitle, color_scheme="gray", size="3"),
        spacing="1",
        margin_bottom="24px",
    )


def notice(icon: str, title: str, body: rx.Var | str, action: rx.Component | None = None) -> rx.Component:
    """A centred empty or error state: an icon, a title, a sentence and an optional action."""
    return rx.center(
        rx.vstack(
            rx.icon(icon, size=36, color=rx.color("gray", 9)),
            rx.heading(title, size="5"),
            rx.text(body, color_scheme="gray", text_align="center"),
            action or rx.fragment(),
            align="center",
            spacing="3",
            max_width="480px",
        ),
        padding_y="64px",
    )


def labelled(label: str, control: rx.Component, hint: str = "") -> rx.Component:
    """A form control under its label, with an optional hint below it."""
    return rx.vstack(
        rx.text(label, as_="label", weight="medium", size="2"),
        control,
        rx.text(hint, size="1", color_scheme="gray") if hint else rx.fragment(),
        spacing="1",
        width="100%",
    )


def panel(
    title: str, subtitle: str | rx.Var, *content: rx.Component, action: rx.Component | None = None, **props: Any
) -> rx.Component:
    """A titled card holding one part of the dashboard."""
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.vstack(rx.heading(title, size="4"), rx.text(subtitle, size="2", color_scheme="gray"), spacing="1"),
                rx.spacer(),
                action or rx.fragment(),
                width="100%",
                align="start",
            ),
            *content,
            spacing="4",
            width="100%",
        ),
        size="3",
        width="100%",
        **props,
    )
