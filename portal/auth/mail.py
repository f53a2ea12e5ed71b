"""Outgoing email: a small protocol, and the default mailer that writes each message to the log.

No mail server is configured, so :class:`LogMailer` writes the whole message,
links included, to the ``portal.mail`` logger at WARNING level (visible with
the default logging set-up): whoever runs the portal can pass a verification or
reset link on. A mailer that talks to a mail server implements :class:`Mailer`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("portal.mail")


@dataclass(frozen=True, slots=True)
class Message:
    """A plain-text email to one recipient."""

    to: str
    subject: str
    body: str


class Mailer(Protocol):
    """Something that delivers a :class:`Message`."""

    def send(self, message: Message) -> None:
        """Deliver ``message`` (or record it where its recipient can be given it)."""


class LogMailer:
    """Writes messages to the ``portal.mail`` log instead of sending them."""

    def send(self, message: Message) -> None:
        """Write ``message`` to the log, saying that it was not sent."""
        log.warning(
            "No mail server is configured, so this message was written here instead of sent.\n"
            "To: %s\nSubject: %s\n\n%s",
            message.to,
            message.subject,
            message.body,
        )


def mailer() -> Mailer:
    """The mailer in use: :class:`LogMailer`, the only one so far."""
    return LogMailer()
