"""One-time links sent by email: verify an address, reset a password, accept an invitation.

A link carries a random token; the table keeps only its SHA-256, the user it
is for, its purpose and its expiry. Using a link marks it used with a
conditional update, so two requests racing with the same link cannot both
succeed, and spends the user's other unused links of the same purpose.
These helpers work inside the caller's transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, col, select, update

from portal.db.models import AccountToken, User
from portal.services.errors import InvalidInput

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"
ACCEPT_INVITATION = "accept_invitation"
RESEND_INTERVAL = timedelta(minutes=1)

_KIND = {VERIFY_EMAIL: "verification link", RESET_PASSWORD: "password reset link", ACCEPT_INVITATION: "invitation"}
_WHEN_USED = {
    VERIFY_EMAIL: "your email address is verified",
    RESET_PASSWORD: "ask for a new one if you still need to reset your password",
    ACCEPT_INVITATION: "sign in with the password you chose, or reset it",
}
_WHEN_EXPIRED = {
    VERIFY_EMAIL: "sign in and ask for a new one",
    RESET_PASSWORD: "ask for a new one",
    ACCEPT_INVITATION: "ask your account's admin to invite you again",
}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _already_used(purpose: str) -> InvalidInput:
    return InvalidInput(f"This {_KIND[purpose]} was already used: {_WHEN_USED[purpose]}.")


def issue(session: Session, user_id: str, purpose: str, now: datetime, lifetime: timedelta) -> str:
    """A new token for ``user_id`` and ``purpose``, valid for ``lifetime`` from ``now``."""
    token = secrets.token_urlsafe(32)
    session.add(
        AccountToken(
            token_hash=_digest(token), user_id=user_id, purpose=purpose, created_at=now, expires_at=now + lifetime
        )
    )
    return token


def issued_recently(session: Session, user_id: str, purpose: str, now: datetime) -> bool:
    """True when a link for ``purpose`` went to ``user_id`` less than :data:`RESEND_INTERVAL` ago."""
    return (
        session.exec(
            select(AccountToken.token_hash).where(
                AccountToken.user_id == user_id,
                AccountToken.purpose == purpose,
                col(AccountToken.created_at) > now - RESEND_INTERVAL,
            )
        ).first()
        is not None
    )


def holder(session: Session, token: str, purpose: str, now: datetime) -> User:
    """The user a valid, unused ``token`` for ``purpose`` belongs to; :class:`InvalidInput` says what is wrong."""
    kind = _KIND[purpose]
    row = session.get(AccountToken, _digest(token)) if token else None
    user = session.get(User, row.user_id) if row is not None and row.purpose == purpose else None
    if row is None or user is None:
        raise InvalidInput(f"This {kind} is not valid: open the whole link from the newest message we sent.")
    if row.used_at is not None:
        raise _already_used(purpose)
    if row.expires_at <= now:
        raise InvalidInput(f"This {kind} has expired: {_WHEN_EXPIRED[purpose]}.")
    return user


def redeem(session: Session, token: str, purpose: str, now: datetime) -> User:
    """Use ``token`` once: the user it belongs to; the user's other unused links for ``purpose`` are spent too."""
    user = holder(session, token, purpose, now)
    claimed = session.exec(
        update(AccountToken)
        .where(col(AccountToken.token_hash) == _digest(token), col(AccountToken.used_at).is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:
        raise _already_used(purpose)
    session.exec(
        update(AccountToken)
        .where(
            col(AccountToken.user_id) == user.id,
            col(AccountToken.purpose) == purpose,
            col(AccountToken.used_at).is_(None),
        )
        .values(used_at=now)
    )
    return user
