"""The notification centre: the /notifications page listing the signed-in user's latest notifications (alerts that
fired or resolved), each marked read on its own or all at once. The header's bell is
:mod:`portal.components.notification_bell`.
"""

from __future__ import annotations

import reflex as rx

from portal.components.layout import notice, page_header, shell
from portal.state.notifications import ROUTE, NotificationsState

__all__ = ["ROUTE", "NotificationsState", "notifications_page"]


def _item(note: rx.Var) -> rx.Component:
    unread = note["read"] == ""
    return rx.card(
        rx.hstack(
            rx.vstack(
                rx.hstack(
                    rx.cond(unread, rx.badge("New", color_scheme="red", variant="soft")),
                    rx.text(note["title"], weight="bold"),
                    spacing="2",
                    align="center",
                ),
                rx.text(note["body"], size="2"),
                rx.text(note["when"], size="1", color_scheme="gray"),
                spacing="1",
                align="start",
            ),
            rx.spacer(),
            rx.cond(
                unread,
                rx.button(
                    "Mark read",
                    size="1",
                    variant="soft",
                    on_click=NotificationsState.mark_read(note["id"]),
                    class_name="mark-read",
                ),
            ),
            width="100%",
            align="start",
        ),
        width="100%",
        class_name=rx.cond(unread, "notification unread", "notification"),
    )


def notifications_page() -> rx.Component:
    """The signed-in user's notifications, newest first, with Mark read and Mark all read."""
    return shell(
        rx.vstack(
            rx.hstack(
                page_header("Notifications", "Alerts about your account, newest first."),
                rx.spacer(),
                rx.cond(
                    NotificationsState.unread > 0,
                    rx.button(
                        "Mark all read", variant="soft", on_click=NotificationsState.mark_all_read, id="mark-all-read"
                    ),
                ),
                width="100%",
                align="start",
            ),
            rx.cond(
                NotificationsState.items.length() == 0,
                notice("bell", "No notifications", "Alerts your account's admins set show here when they fire."),
                rx.vstack(rx.foreach(NotificationsState.items, _item), width="100%", spacing="3", id="notifications"),
            ),
            width="100%",
            spacing="4",
        )
    )
