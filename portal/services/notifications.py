"""The in-app notification centre: messages to one user, unread until they open them.

What raises a notification also mails it (:func:`notify_admins` returns the mail to send after the commit):
over SMTP when a mail server is configured, otherwise written to the ``portal.mail`` log (see
:mod:`portal.auth.mail`). The header's bell shows the signed-in user's unread count; the /notifications page
lists their latest notifications and marks them read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select, update

from portal.auth.mail import Message
from portal.db.models import NotificationRow, User, utcnow
from portal.db.uow import UnitOfWork
from portal.services.identity import Identity

RECENT = 50
"""How many notifications the centre lists."""


@dataclass(frozen=True, slots=True)
class NotificationView:
    """A notification as the centre shows it."""

    id: int
    title: str
    body: str
    created_at: datetime
    read: bool

    @property
    def when(self) -> str:
        """When it was raised, e.g. ``2026-11-24 10:58 UTC``."""
        return f"{self.created_at:%Y-%m-%d %H:%M} UTC"


def notify_admins(session: Session, customer_id: str, title: str, body: str) -> list[Message]:
    """Add a notification for every admin of ``customer_id`` to ``session`` (committed with it); returns the mail
    that tells them, for the caller to send once the notifications are committed."""
    admins = session.exec(select(User).where(User.customer_id == customer_id, User.role == "admin")).all()
    for admin in admins:
        session.add(NotificationRow(user_id=admin.id, customer_id=customer_id, title=title, body=body))
    return [Message(to=admin.email, subject=f"Portal: {title}", body=body) for admin in admins]


def notify_staff(
    session: Session, title: str, body: str, creator: str, customer_id: str | None = None
) -> list[Message]:
    """Add a notification for every staff user to ``session`` (committed with it); returns the mail that tells the
    staff user whose email is ``creator`` (e.g. who set the alert), for the caller to send once committed."""
    staff = session.exec(select(User).where(col(User.is_staff).is_(True))).all()
    for user in staff:
        session.add(NotificationRow(user_id=user.id, customer_id=customer_id, title=title, body=body))
    return [Message(to=user.email, subject=f"Portal: {title}", body=body) for user in staff if user.email == creator]


def unread_count(identity: Identity) -> int:
    """How many of the user's notifications are unread."""
    with UnitOfWork() as uow:
        query = select(func.count()).where(
            NotificationRow.user_id == identity.user_id, col(NotificationRow.read_at).is_(None)
        )
        return int(uow.session.exec(query).one())


def recent(identity: Identity, limit: int = RECENT) -> list[NotificationView]:
    """The user's latest notifications, newest first."""
    with UnitOfWork() as uow:
        query = (
            select(NotificationRow)
            .where(NotificationRow.user_id == identity.user_id)
            .order_by(col(NotificationRow.created_at).desc(), col(NotificationRow.id).desc())
            .limit(limit)
        )
        return [
            NotificationView(row.id or 0, row.title, row.body, row.created_at, row.read_at is not None)
            for row in uow.session.exec(query).all()
        ]


def mark_read(identity: Identity, notification_id: int | None = None) -> int:
    """Mark one of the user's notifications read (all of them when ``notification_id`` is None); returns how many
    changed. Another user's notification is never touched."""
    with UnitOfWork() as uow:
        query = update(NotificationRow).where(
            col(NotificationRow.user_id) == identity.user_id, col(NotificationRow.read_at).is_(None)
        )
        if notification_id is not None:
            query = query.where(col(NotificationRow.id) == notification_id)
        result = uow.session.exec(query.values(read_at=utcnow()))
        return int(result.rowcount)
