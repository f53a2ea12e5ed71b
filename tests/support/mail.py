"""Reading the messages the portal "sent": without a mail server they are written to the ``portal.mail`` log."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from portal.auth.mail import NOT_SENT_NOTICE

_LINK = re.compile(r"https?://\S+")


class Outbox(logging.Handler):
    """Collects what the ``portal.mail`` logger writes, one entry per message."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def to(self, address: str) -> list[str]:
        """The messages sent to ``address``, oldest first."""
        return [m for m in self.messages if f"To: {address}\n" in m]

    def last_link(self, address: str, path: str) -> str:
        """The link to ``path`` in the newest message to ``address`` (path and query, ready to open)."""
        for message in reversed(self.to(address)):
            for link in _LINK.findall(message):
                parts = urlsplit(link)
                if parts.path == path:
                    return f"{parts.path}?{parts.query}"
        raise AssertionError(f"no message to {address} with a link to {path}; messages: {self.messages}")


def attach_outbox() -> Outbox:
    """An :class:`Outbox` listening to the ``portal.mail`` logger (detach it with :func:`detach_outbox`)."""
    outbox = Outbox()
    logging.getLogger("portal.mail").addHandler(outbox)
    return outbox


def outbox_from_log(output: str) -> Outbox:
    """An :class:`Outbox` holding the messages a portal process wrote to its output ``output`` (no mail server)."""
    outbox = Outbox()
    outbox.messages.extend(output.split(NOT_SENT_NOTICE)[1:])
    return outbox


def detach_outbox(outbox: Outbox) -> None:
    """Stop collecting into ``outbox``."""
    logging.getLogger("portal.mail").removeHandler(outbox)
