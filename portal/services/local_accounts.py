"""Email-and-password accounts: sign-up, email verification and password reset.

* :func:`sign_up` creates an unverified user without a customer (a purchase
  creates that), signs them in at once with the same one-time token as
  :func:`~portal.services.identity.sign_in`, and mails a verification link.
  Unverified users may use the portal; the UI asks them to verify.
* :func:`verify_email` marks the user verified, once per link, before it expires.
* :func:`request_password_reset` answers the same whether or not the account
  exists; :func:`reset_password` sets the new password, verifies the address
  (the link proved it), ends every session of the user and signs them in anew.
* :func:`send_invitation` mails a member an admin added a link to choose their
  password; :func:`reset_password` with that link works the same way.

Links point at ``PORTAL_PUBLIC_URL``, never at an address taken from a request,
so nobody can make the portal mail a link to their own site.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal.auth.mail import Message, mailer
from portal.auth.passwords import hash_password, password_problem
from portal.config import get_settings
from portal.db.models import User, utcnow
from portal.db.uow import UnitOfWork
from portal.services import account_tokens, sign_in_limits
from portal.services.account_tokens import ACCEPT_INVITATION, RESET_PASSWORD, VERIFY_EMAIL
from portal.services.errors import InvalidInput
from portal.services.identity import Identity, PendingSignIn, end_sessions, normalize_email, open_pending_session

VERIFICATION_LIFETIME = timedelta(hours=48)
RESET_LIFETIME = timedelta(hours=1)
INVITATION_LIFETIME = timedelta(days=7)
PASSWORD_LINKS = (RESET_PASSWORD, ACCEPT_INVITATION)
"""The links that let their holder choose a password."""
NAME_MAX_LENGTH = 200
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_EMAIL_MAX_LENGTH = 320


def checked_email(email: str) -> str:
    """``email`` normalized; :class:`InvalidInput` when it is not an email address."""
    email = normalize_email(email)
    if len(email) > _EMAIL_MAX_LENGTH or not _EMAIL.fullmatch(email):
        raise InvalidInput("Enter a valid email address, such as ann@example.com.")
    return email


def _hours(lifetime: timedelta) -> str:
    hours = round(lifetime / timedelta(hours=1))
    if hours > 48 and hours % 24 == 0:
        return f"{hours // 24} days"
    return "an hour" if hours == 1 else f"{hours} hours"


RESET_REQUESTED = (
    "If an account uses that address, we have sent it a link to choose a new password. "
    f"The link works once, within {_hours(RESET_LIFETIME)}."
)


def _send_link(user: User, subject: str, purpose_text: str, path: str, token: str, lifetime: timedelta) -> None:
    link = f"{get_settings().public_url.rstrip('/')}{path}?token={token}"
    body = (
        f"Hello {user.name or user.email},\n\n{purpose_text}, open this link within {_hours(lifetime)}:\n\n"
        f"{link}\n\nIf you did not ask for this, you can ignore this message.\n"
    )
    mailer().send(Message(to=user.email, subject=subject, body=body))


def _send_verification(user: User, token: str) -> None:
    _send_link(
        user,
        "Verify your email address for Portal",
        f"To confirm that {user.email} is your address",
        "/verify-email",
        token,
        VERIFICATION_LIFETIME,
    )


def sign_up(email: str, password: str, name: str, company_name: str = "", now: datetime | None = None) -> PendingSignIn:
    """Create an unverified account, mail its verification link, and open a pending session for it.

    The account belongs to no customer yet. :class:`InvalidInput` names what is
    wrong: the email address, the name, the password's strength, or an address
    that already has an account.
    """
    now = now or utcnow()
    email, name, company_name = checked_email(email), name.strip(), company_name.strip()
    if not name:
        raise InvalidInput("Enter your name.")
    if len(name) > NAME_MAX_LENGTH or len(company_name) > NAME_MAX_LENGTH:
        raise InvalidInput(f"Names can be at most {NAME_MAX_LENGTH} characters long.")
    problem = password_problem(password, email)
    if problem:
        raise InvalidInput(problem)
    taken = InvalidInput("An account already uses this email address: sign in, or reset its password.")
    password_hash = hash_password(password)
    try:
        with UnitOfWork() as uow:
            if uow.session.exec(select(User.id).where(User.email == email)).first() is not None:
                raise taken
            user = User(email=email, name=name, company_name=company_name, password_hash=password_hash)
            uow.session.add(user)
            uow.session.flush()
            token = account_tokens.issue(uow.session, user.id, VERIFY_EMAIL, now, VERIFICATION_LIFETIME)
            pending = open_pending_session(uow.session, user, now)
    except IntegrityError:
        raise taken from None  # the same address signed up at the same moment
    _send_verification(user, token)
    return pending


def resend_verification(identity: Identity, now: datetime | None = None) -> None:
    """Mail the signed-in user a new verification link (at most one a minute)."""
    now = now or utcnow()
    if identity.email_verified:
        raise InvalidInput("Your email address is already verified.")
    with UnitOfWork() as uow:
        user = uow.session.get(User, identity.user_id)
        if user is None:
            raise InvalidInput("Your account no longer exists.")
        if account_tokens.issued_recently(uow.session, user.id, VERIFY_EMAIL, now):
            raise InvalidInput("We sent a link less than a minute ago: look for it in your inbox and spam folder.")
        token = account_tokens.issue(uow.session, user.id, VERIFY_EMAIL, now, VERIFICATION_LIFETIME)
    _send_verification(user, token)


def verify_email(token: str, now: datetime | None = None) -> str:
    """Use a verification link: the address it verified. Each link works once, before it expires."""
    now = now or utcnow()
    with UnitOfWork() as uow:
        user = account_tokens.redeem(uow.session, token, VERIFY_EMAIL, now)
        user.email_verified_at = user.email_verified_at or now
        uow.session.add(user)
        return user.email


def request_password_reset(email: str, now: datetime | None = None) -> str:
    """Mail a reset link when ``email`` has an account; the answer to show is the same either way."""
    now = now or utcnow()
    email = checked_email(email)
    with UnitOfWork() as uow:
        user = uow.session.exec(select(User).where(User.email == email)).first()
        if user is None or account_tokens.issued_recently(uow.session, user.id, RESET_PASSWORD, now):
            return RESET_REQUESTED
        token = account_tokens.issue(uow.session, user.id, RESET_PASSWORD, now, RESET_LIFETIME)
    _send_link(
        user,
        "Reset your Portal password",
        f"To choose a new password for {user.email}",
        "/reset-password",
        token,
        RESET_LIFETIME,
    )
    return RESET_REQUESTED


def issue_invitation(session: Session, user: User, now: datetime) -> str | None:
    """The token of ``user``'s invitation link, in the caller's transaction; None when they already have a
    password (they sign in instead)."""
    if user.password_hash is not None:
        return None
    return account_tokens.issue(session, user.id, ACCEPT_INVITATION, now, INVITATION_LIFETIME)


def send_invitation(user: User, customer_name: str, inviter: str, token: str | None) -> None:
    """Mail ``user``, just added to ``customer_name`` by ``inviter``, the link with ``token`` to choose a
    password and join (see :func:`issue_invitation`), or, without a token, a note to sign in."""
    if token is None:
        link = f"{get_settings().public_url.rstrip('/')}/sign-in"
        greeting = f"Hello {user.name or user.email},"
        body = f"{greeting}\n\n{inviter} added you to {customer_name}. Sign in to see it:\n\n{link}\n"
        mailer().send(Message(to=user.email, subject=f"You have joined {customer_name} on Portal", body=body))
        return
    _send_link(
        user,
        f"{inviter} invited you to {customer_name} on Portal",
        f"{inviter} gave you a seat on {customer_name}. To choose your password and join",
        "/join",
        token,
        INVITATION_LIFETIME,
    )


def _password_purpose(purpose: str) -> str:
    if purpose not in PASSWORD_LINKS:
        raise ValueError(f"{purpose!r} links do not set passwords")
    return purpose


def reset_link_problem(token: str, purpose: str = RESET_PASSWORD, now: datetime | None = None) -> str | None:
    """Why the password link (reset or invitation) with ``token`` cannot be used (expired, used, not valid), or
    None when it can."""
    now = now or utcnow()
    with UnitOfWork() as uow:
        try:
            account_tokens.holder(uow.session, token, _password_purpose(purpose), now)
        except InvalidInput as exc:
            return str(exc)
    return None


def reset_password(
    token: str, new_password: str, purpose: str = RESET_PASSWORD, now: datetime | None = None
) -> PendingSignIn:
    """Set a new password with a reset link (or an invitation), end every session of the user, and open a new
    pending one.

    The link is spent only when the new password is accepted, so a too-weak
    password can be corrected and sent again with the same link.
    """
    now = now or utcnow()
    purpose = _password_purpose(purpose)
    with UnitOfWork() as uow:
        user = account_tokens.holder(uow.session, token, purpose, now)
        problem = password_problem(new_password, user.email)
        if problem:
            raise InvalidInput(problem)
        account_tokens.redeem(uow.session, token, purpose, now)
        user.password_hash = hash_password(new_password)
        user.email_verified_at = user.email_verified_at or now
        uow.session.add(user)
        end_sessions(uow.session, user.id)
        sign_in_limits.clear_account(uow.session, user.email)
        return open_pending_session(uow.session, user, now)
