"""The header's notification bell: the signed-in customer user's unread count, linking to the notification centre
(:mod:`portal.pages.notifications`)."""

from __future__ import annotations

import reflex as rx

from portal.state.notifications import ROUTE, NotificationsState
from portal.state.session import SessionState


def notification_bell() -> rx.Component:
    """The header's bell for signed-in customer users: a link to the centre, with the unread count."""
    return rx.cond(
        SessionState.is_customer_user,
        rx.link(
            rx.box(
                rx.icon("bell", size=20),
                rx.cond(
                    NotificationsState.unread > 0,
                    rx.badge(
                        NotificationsState.unread,
                        color_scheme="red",
                        variant="solid",
                        radius="full",
                        size="1",
                        position="absolute",
                        top="-8px",
                        right="-10px",
                        id="unread-count",
                    ),
                ),
                position="relative",
                on_mount=NotificationsState.load_count,
            ),
            href=ROUTE,
            color_scheme="gray",
            high_contrast=True,
            aria_label="Notifications",
            id="notification-bell",
        ),
    )
