"""The signed-in user's notifications as the header's bell and the /notifications page show them."""

from __future__ import annotations

import reflex as rx
from reflex.event import EventSpec

from portal.services import notifications
from portal.state.session import identity_of, session_ended

ROUTE = "/notifications"
"""The notification centre's page."""


def _row(note: notifications.NotificationView) -> dict[str, str]:
    return {
        "id": str(note.id),
        "title": note.title,
        "body": note.body,
        "when": note.when,
        "read": "yes" if note.read else "",
    }


class NotificationsState(rx.State):
    """The signed-in user's unread count (for the bell) and latest notifications (for the page)."""

    unread: int = 0
    items: list[dict[str, str]] = []
    loaded: bool = False

    @rx.event
    def load_count(self) -> None:
        """Read the unread count (the bell, on every page)."""
        identity = identity_of(self)
        self.unread = notifications.unread_count(identity) if identity is not None else 0

    @rx.event
    def load(self) -> None:
        """Read the user's latest notifications and the unread count."""
        identity = identity_of(self)
        self.loaded = True
        if identity is None:
            self.items, self.unread = [], 0
            return
        self.items = [_row(n) for n in notifications.recent(identity)]
        self.unread = notifications.unread_count(identity)

    @rx.event
    def mark_read(self, notification_id: str) -> EventSpec | None:
        """Mark one notification read."""
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        notifications.mark_read(identity, int(notification_id))
        self.load()
        return None

    @rx.event
    def mark_all_read(self) -> EventSpec | None:
        """Mark every notification read."""
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        notifications.mark_read(identity)
        self.load()
        return None
