"""Limits on failed sign-ins, per account and per client address, kept in the database.

Each failed password check is a row in ``sign_in_failure``; the rows live in the
database so that every process serving the portal counts the same failures.
An account (the email address typed, whether or not it has an account, so the
limit reveals nothing) is locked after :data:`ACCOUNT_LIMIT` failures within
:data:`WINDOW`; a client address after :data:`ADDRESS_LIMIT`. The lock lifts
by itself once enough of those failures are older than the window. A
successful sign-in clears the account's failures, not the address's.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, delete, select

from portal.db.models import SignInFailure
from portal.services.errors import InvalidInput

WINDOW = timedelta(minutes=15)
ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 20


class TooManyFailures(InvalidInput):
    """Sign-in is locked for a while; the message says until when."""


def _locked_until(session: Session, failures_of: ColumnElement[bool], limit: int, now: datetime) -> datetime | None:
    """When there are ``limit`` recent failures matching ``failures_of``: the time the oldest of them stops counting."""
    recent = session.exec(
        select(SignInFailure.at)
        .where(failures_of, col(SignInFailure.at) > now - WINDOW)
        .order_by(col(SignInFailure.at).desc())
        .limit(limit)
    ).all()
    return recent[-1] + WINDOW if len(recent) == limit else None


def _retry_message(subject: str, until: datetime, now: datetime) -> str:
    minutes = max(1, math.ceil((until - now).total_seconds() / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed sign-ins {subject}: try again in {minutes} {unit} (after {until:%H:%M} UTC)."


def check_not_locked(session: Session, email: str, client_address: str, now: datetime) -> None:
    """Raise :class:`TooManyFailures` when the account or the client address is locked at ``now``."""
    until = _locked_until(session, col(SignInFailure.email) == email, ACCOUNT_LIMIT, now)
    if until is not None:
        raise TooManyFailures(_retry_message("for this account", until, now))
    if client_address:
        until = _locked_until(session, col(SignInFailure.client_address) == client_address, ADDRESS_LIMIT, now)
        if until is not None:
            raise TooManyFailures(_retry_message("from your network address", until, now))


def record_failure(session: Session, email: str, client_address: str, now: datetime) -> None:
    """Count a failed sign-in, and forget failures too old to count any more."""
    session.exec(delete(SignInFailure).where(col(SignInFailure.at) <= now - WINDOW))
    session.add(SignInFailure(email=email, client_address=client_address, at=now))


def clear_account(session: Session, email: str) -> None:
    """Forget the account's failures (after it proved its password, or chose a new one)."""
    session.exec(delete(SignInFailure).where(col(SignInFailure.email) == email))
