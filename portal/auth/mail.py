"""Outgoing email: a small protocol, a mailer that sends over SMTP, and one that writes each message to the log.

With ``SMTP_HOST`` set, :class:`SmtpMailer` sends each message to that server (``SMTP_PORT``, STARTTLS unless
``SMTP_STARTTLS=0``, signing in with ``SMTP_USERNAME``/``SMTP_PASSWORD`` when given, from ``MAIL_FROM``); a message
the server refuses is logged, never raised to the caller. Without a mail server, :class:`LogMailer` writes the
whole message, links included, to the ``portal.mail`` logger at WARNING level (visible with the default logging
set-up): whoever runs the portal can pass a verification or reset link on.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from portal.config import Settings, get_settings

log = logging.getLogger("portal.mail")
NOT_SENT_NOTICE = "No mail server is configured, so this message was written here instead of sent."
"""The line that starts each message :class:`LogMailer` writes to the log."""


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
            NOT_SENT_NOTICE + "\nTo: %s\nSubject: %s\n\n%s",
            message.to,
            message.subject,
            message.body,
        )


class SmtpMailer:
    """Sends messages through the configured mail server, one connection per message."""

    TIMEOUT_SECONDS = 10.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: Message) -> None:
        """Send ``message``; a failure is logged (with the message) and not raised."""
        settings = self.settings
        email = EmailMessage()
        email["From"], email["To"], email["Subject"] = settings.mail_from, message.to, message.subject
        email.set_content(message.body)
        try:
            with smtplib.SMTP(settings.smtp_host or "", settings.smtp_port, timeout=self.TIMEOUT_SECONDS) as smtp:
                if settings.smtp_starttls:
                    smtp.starttls()
                if settings.smtp_username:
                    smtp.login(settings.smtp_username, settings.smtp_password or "")
                smtp.send_message(email)
        except (OSError, smtplib.SMTPException) as exc:
            log.error("Sending mail to %s failed (%s): %s\n\n%s", message.to, exc, message.subject, message.body)


def mailer() -> Mailer:
    """The mailer in use: :class:`SmtpMailer` when ``SMTP_HOST`` is set, else :class:`LogMailer`."""
    settings = get_settings()
    return SmtpMailer(settings) if settings.smtp_host else LogMailer()
