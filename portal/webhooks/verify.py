"""Signing and verifying the portal's outgoing webhooks (stdlib only: a receiver may copy this file as it is).

Every delivery is a ``POST`` of a JSON body with these headers::

    Portal-Event-Id: evt_5kq3h2m8x1vz0a7c9d2e      (unique per event: deduplicate on it)
    Portal-Event-Type: invoice.paid
    Portal-Signature: t=1795000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd

``v1`` is the hex HMAC-SHA256, keyed with the endpoint's signing secret (``whsec_...``), of the string
``f"{t}.{body}"``: the timestamp, a dot and the raw request body exactly as received (bytes, before any JSON
parsing). A receiver verifies with :func:`verify`::

    from portal.webhooks.verify import SignatureError, verify

    try:
        verify(secret, request_body_bytes, request.headers["Portal-Signature"])
    except SignatureError:
        return 400  # not from the portal, changed on the way, or replayed long after

then acknowledges with any 2xx status within 5 seconds, and ignores an event id it has processed before (a
delivery whose answer was lost is sent again with the same id). The timestamp check (``tolerance``, 5 minutes by
default) stops an old delivery captured on the way from being replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Portal-Signature"
EVENT_ID_HEADER = "Portal-Event-Id"
EVENT_TYPE_HEADER = "Portal-Event-Type"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The signature header is missing or malformed, does not match the body and secret, or is too old."""


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` keyed with ``secret``."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Portal-Signature`` value for ``body`` sent at ``timestamp`` (Unix seconds): ``t=...,v1=...``."""
    return f"t={timestamp},v1={signature(secret, body, timestamp)}"


def verify(
    secret: str,
    body: bytes,
    header: str | None,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check a ``Portal-Signature`` header against the raw ``body`` and the endpoint's ``secret``.

    Returns the signed timestamp; raises :class:`SignatureError` naming what is wrong when the header is missing or
    malformed, no ``v1`` signature matches, or the timestamp is more than ``tolerance`` seconds from ``now`` (the
    current time). Several ``v1`` entries are accepted (any one may match), so a secret can be rolled over.
    """
    if not header:
        raise SignatureError(f"The {SIGNATURE_HEADER} header is missing.")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError(f"The {SIGNATURE_HEADER} timestamp {value!r} is not a number.") from None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError(f"The {SIGNATURE_HEADER} header needs t=<unix time> and v1=<signature>.")
    expected = signature(secret, body, timestamp)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError("The signature does not match the body: wrong secret, or the body was changed.")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(f"The signature is {int(abs(current - timestamp))} seconds old: more than {tolerance}.")
    return timestamp
