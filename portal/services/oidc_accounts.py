"""Sign-in through an external identity provider: match the person to a user, or create the user.

* Users are matched by the provider's issuer and subject, never by email alone.
  On a first sign-in, a user with the same email address who is not linked to
  a provider yet is linked, but only when the provider says it verified the
  address; otherwise a new user is created (verified when the provider says so).
* A user without a customer joins one as a member when the claim named by
  ``OIDC_CUSTOMER_CLAIM`` holds a customer id or ingest alias, or else when the
  domain of their verified email address is mapped in ``OIDC_EMAIL_DOMAINS``.
  A user who belongs to a customer keeps it.
* When ``OIDC_STAFF_GROUP`` is set, membership of that group (the ``groups``
  claim) makes the user staff and its absence takes staff away, at every sign-in.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session, select

from portal.auth.identity_provider import ExternalProfile
from portal.config import Settings, get_settings
from portal.db.models import Customer, IngestAlias, User, utcnow
from portal.db.uow import UnitOfWork
from portal.services.errors import InvalidInput
from portal.services.identity import PendingSignIn, normalize_email, open_pending_session

log = logging.getLogger(__name__)

NO_EMAIL, EMAIL_TAKEN = "no_email", "email_taken"
REFUSALS = {
    NO_EMAIL: "The provider did not share your email address, which Portal needs: allow that, then sign in again.",
    EMAIL_TAKEN: (
        "An account with your email address already exists and is not linked to this provider: "
        "sign in with its password instead."
    ),
}


class ProviderSignInRefused(InvalidInput):
    """The provider vouched for someone the portal cannot sign in; ``reason`` is a key of :data:`REFUSALS`."""

    def __init__(self, reason: str) -> None:
        super().__init__(REFUSALS[reason])
        self.reason = reason


def _linked_or_new_user(session: Session, profile: ExternalProfile, email: str, now: datetime) -> User:
    existing = session.exec(select(User).where(User.email == email)).first()
    if existing is None:
        return User(
            email=email,
            name=profile.name,
            email_verified_at=now if profile.email_verified else None,
            oidc_issuer=profile.issuer,
            oidc_subject=profile.subject,
        )
    if existing.oidc_subject is not None or not profile.email_verified:
        raise ProviderSignInRefused(EMAIL_TAKEN)
    existing.oidc_issuer, existing.oidc_subject = profile.issuer, profile.subject
    existing.email_verified_at = existing.email_verified_at or now
    return existing


def _customer_named(session: Session, name: str) -> str | None:
    """The id of the customer whose ingest alias or id is ``name``."""
    alias = session.get(IngestAlias, name)
    if alias is not None:
        return alias.customer_id
    customer = session.get(Customer, name)
    return customer.id if customer else None


def _customer_for(session: Session, profile: ExternalProfile, email: str, settings: Settings) -> str | None:
    claimed = profile.claims.get(settings.oidc_customer_claim) if settings.oidc_customer_claim else None
    if isinstance(claimed, str) and claimed.strip():
        name = claimed.strip()
    elif profile.email_verified:
        name = settings.oidc_domain_aliases.get(email.rpartition("@")[2], "")
    else:
        name = ""
    if not name:
        return None
    customer_id = _customer_named(session, name)
    if customer_id is None:
        log.warning("%s signed in through the provider naming customer %r, which does not exist", email, name)
    return customer_id


def sign_in_with_provider(profile: ExternalProfile, now: datetime | None = None) -> PendingSignIn:
    """Match or create the user ``profile`` describes, apply the customer and staff mapping, open a pending session.

    Raises :class:`ProviderSignInRefused` when the provider shared no email
    address, or when the address belongs to an account that cannot be linked.
    """
    now = now or utcnow()
    settings = get_settings()
    email = normalize_email(profile.email)
    with UnitOfWork() as uow:
        session = uow.session
        user = session.exec(
            select(User).where(User.oidc_issuer == profile.issuer, User.oidc_subject == profile.subject)
        ).first()
        if user is None:
            if not email:
                raise ProviderSignInRefused(NO_EMAIL)
            user = _linked_or_new_user(session, profile, email, now)
        if user.customer_id is None:
            customer_id = _customer_for(session, profile, email, settings)
            if customer_id is not None:
                user.customer_id, user.role = customer_id, "member"
        if settings.oidc_staff_group:
            user.is_staff = settings.oidc_staff_group in profile.groups
        session.add(user)
        session.flush()
        return open_pending_session(session, user, now)
