"""Text the database can store: no NUL character (PostgreSQL refuses it) and valid Unicode (no unpaired
surrogate, which JSON's ``\\ud800`` escapes can produce and no database can encode)."""

from __future__ import annotations

NUL = "\x00"


def unstorable(value: str) -> str | None:
    """Why ``value`` cannot be stored, phrased to follow a field's name; None when it can."""
    if NUL in value:
        return "contains a NUL character (\\u0000)"
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return "contains an unpaired surrogate (not valid Unicode text)"
    return None
