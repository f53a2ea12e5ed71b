"""Sign-in sessions: who is signed in, and what they may see.

How the signed-in identity reaches the UI:

1. The sign-in form's handler checks the password and opens a *pending*
   session (:func:`sign_in`), whose random token is handed to the browser
   once, in a redirect to ``/api/auth/session``.
2. That HTTP route activates the session (:func:`activate_session`; a token
   works for this only once and only for a minute) and sets it as an
   HTTP-only cookie.
3. Every page load and every handler that needs a user resolves the cookie
   that came with the websocket connection (:func:`resolve_session`), so a
   forged, expired or signed-out token yields nobody.

Only the SHA-256 of a token is stored. Password sign-ins are rate-limited per
account and per client address (:mod:`portal.services.sign_in_limits`); sign-up,
email verification and password reset live in :mod:`portal.services.local_accounts`,
sign-in through an OpenID Connect provider in :mod:`portal.services.oidc_accounts`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, select

from portal.auth.passwords import verify_password
from portal.config import get_settings
from portal.db.models import Customer, User, UserSession, utcnow
from portal.db.uow import UnitOfWork
from portal.services import sign_in_limits
from portal.services.customers import is_enterprise
from portal.services.errors import InvalidInput, NotSignedIn

SESSION_COOKIE = "portal_session"
ACTIVATION_WINDOW = timedelta(minutes=1)
SESSION_ENDED = "Your session has ended: sign in again."


@dataclass(frozen=True, slots=True)
class Identity:
    """The signed-in user as the UI and API see them."""

    user_id: str
    email: str
    name: str
    is_staff: bool
    customer_id: str | None
    customer_name: str
    role: str | None
    is_enterprise_admin: bool
    email_verified: bool
    company_name: str
    """The company named at sign-up (a purchase can start from it); empty when none was given."""
    is_department_admin: bool = False
    """An admin of a department (a customer under an enterprise): sees their department's budget."""

    @property
    def is_customer_admin(self) -> bool:
        """True for an admin of a customer."""
        return self.customer_id is not None and self.role == "admin"

    @property
    def audit_name(self) -> str:
        """How the audit log names this user: their email (the command line has none)."""
        return self.email or "command line"

    @property
    def home_path(self) -> str:
        """Where the user lands after signing in: their own area."""
        if self.is_staff:
            return "/staff"
        if self.is_enterprise_admin:
            return "/enterprise"
        return "/customer" if self.customer_id else "/"


def operator_identity() -> Identity:
    """Whoever runs the ``portal`` command on the server: staff rights, no user account."""
    return Identity(
        user_id="",
        email="",
        name="command line",
        is_staff=True,
        customer_id=None,
        customer_name="",
        role=None,
        is_enterprise_admin=False,
        email_verified=True,
        company_name="",
    )


def normalize_email(email: str) -> str:
    """An email address as accounts store it: without surrounding space, in lower case."""
    return email.strip().lower()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """A checked sign-in: the one-time token to activate, and who it is for."""

    token: str
    identity: Identity


def _identity(session: Session, user: User) -> Identity:
    customer = session.get(Customer, user.customer_id) if user.customer_id else None
    admin = customer is not None and user.role == "admin"
    enterprise = admin and customer is not None and is_enterprise(session, customer)
    return Identity(
        user_id=user.id,
        email=user.email,
        name=user.name or user.email,
        is_staff=user.is_staff,
        customer_id=user.customer_id,
        customer_name=customer.name if customer else "",
        role=user.role,
        is_enterprise_admin=enterprise,
        is_department_admin=admin and customer is not None and customer.parent_id is not None,
        email_verified=user.email_verified_at is not None,
        company_name=user.company_name,
    )


def open_pending_session(session: Session, user: User, now: datetime) -> PendingSignIn:
    """Add a pending session for ``user`` to ``session``; the caller's transaction commits it."""
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=_digest(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(days=get_settings().session_days),
        )
    )
    return PendingSignIn(token, _identity(session, user))


def end_sessions(session: Session, user_id: str) -> None:
    """End every session of ``user_id`` (after a password reset), pending or active."""
    session.exec(delete(UserSession).where(col(UserSession.user_id) == user_id))


def sign_in(email: str, password: str, now: datetime | None = None, client_address: str = "") -> PendingSignIn:
    """Check ``email`` and ``password`` and open a pending session with a one-time token.

    Raises :class:`InvalidInput` with the same message whether the account is
    unknown or the password wrong, so the form does not reveal which accounts
    exist, and :class:`~portal.services.sign_in_limits.TooManyFailures` while the
    account or ``client_address`` (the browser's address, when known) is locked
    after too many failures.
    """
    now = now or utcnow()
    email = normalize_email(email)
    if not email or not password:
        raise InvalidInput("Enter your email address and password.")
    with UnitOfWork() as uow:
        sign_in_limits.check_not_locked(uow.session, email, client_address, now)
        user = uow.session.exec(select(User).where(User.email == email)).first()
        password_ok = verify_password(password, user.password_hash if user else None)
        if user is not None and password_ok:
            sign_in_limits.clear_account(uow.session, email)
            return open_pending_session(uow.session, user, now)
        sign_in_limits.record_failure(uow.session, email, client_address, now)
    raise InvalidInput("That email address and password do not match an account.")


def activate_session(token: str, now: datetime | None = None) -> None:
    """Turn a pending session into an active one; a token can be activated once, within a minute."""
    now = now or utcnow()
    with UnitOfWork() as uow:
        session = uow.session.get(UserSession, _digest(token))
        if session is None or session.activated_at is not None or now - session.created_at > ACTIVATION_WINDOW:
            raise NotSignedIn("This sign-in link has expired or was already used: sign in again.")
        session.activated_at = now
        uow.session.add(session)


def resolve_session(token: str | None, now: datetime | None = None) -> Identity | None:
    """The identity behind an active, unexpired session token, or None."""
    if not token:
        return None
    now = now or utcnow()
    with UnitOfWork() as uow:
        session = uow.session.get(UserSession, _digest(token))
        if session is None or session.activated_at is None or session.expires_at <= now:
            return None
        user = uow.session.get(User, session.user_id)
        return _identity(uow.session, user) if user else None


def sign_out(token: str | None) -> None:
    """End the session server-side; the token is worthless afterwards."""
    if not token:
        return
    with UnitOfWork() as uow:
        session = uow.session.get(UserSession, _digest(token))
        if session is not None:
            uow.session.delete(session)


def require_identity(token: str | None) -> Identity:
    """The identity behind ``token``; raises :class:`NotSignedIn` when there is none."""
    identity = resolve_session(token)
    if identity is None:
        raise NotSignedIn(SESSION_ENDED)
    return identity
