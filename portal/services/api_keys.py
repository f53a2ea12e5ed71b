"""API keys: created by customer admins (their customer only) and staff, shown once, stored hashed, revocable.

A key looks like ``key_<id>.<secret>``; the database keeps the id and the
SHA-256 of the secret, never the secret itself. Scopes:

* ``ingest``: send usage events for the key's customer;
* ``read``: read the key's customer (balances, invoices, usage);
* ``staff``: everything, for any customer (staff only; such a key belongs to no customer).

A missing, malformed, unknown or revoked key is refused as not signed in
(HTTP 401); a key used outside its scopes or for another customer is
forbidden (HTTP 403). Each message says what to do.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select

from portal.db.models import ApiKey, Customer, utcnow
from portal.db.session import get_engine
from portal.db.uow import UnitOfWork
from portal.services.audit import record_if_staff
from portal.services.errors import Forbidden, InvalidInput, NotFound, NotSignedIn
from portal.services.identity import Identity

INGEST, READ, STAFF = "ingest", "read", "staff"
CUSTOMER_SCOPES = (INGEST, READ)
ALL_SCOPES = (INGEST, READ, STAFF)
LAST_USED_RESOLUTION = timedelta(minutes=1)
_KEYS = ApiKey.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ApiKeyView:
    """A key as lists show it (never its secret)."""

    id: str
    name: str
    customer_id: str | None
    customer_name: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    """A new key: ``token`` is shown to its creator once and cannot be recovered."""

    key: ApiKeyView
    token: str


@dataclass(frozen=True, slots=True)
class ApiPrincipal:
    """Who an API request acts as: a key, its customer (None for a staff key) and scopes."""

    key_id: str
    customer_id: str | None
    scopes: tuple[str, ...]

    @property
    def is_staff(self) -> bool:
        """True for a staff key (any customer)."""
        return STAFF in self.scopes

    @property
    def audit_name(self) -> str:
        """How the audit log names a change made with this key."""
        return f"API key {self.key_id}"

    @property
    def is_customer_admin(self) -> bool:
        """Keys act as their scopes allow, never as a customer admin (seat and tier changes need staff)."""
        return False

    def require(self, scope: str, customer_id: str | None = None) -> None:
        """Refuse (403) unless the key has ``scope`` and, when given, may act for ``customer_id``."""
        if not self.is_staff and scope not in self.scopes:
            raise Forbidden(
                f"This API key has the scopes {', '.join(self.scopes)}; this request needs the {scope} scope."
            )
        if customer_id is not None and not self.is_staff and customer_id != self.customer_id:
            raise Forbidden("This API key belongs to another customer.")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _view(key: ApiKey, customer_name: str) -> ApiKeyView:
    return ApiKeyView(
        id=key.id,
        name=key.name,
        customer_id=key.customer_id,
        customer_name=customer_name,
        scopes=tuple(key.scopes),
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


def _check_scopes(scopes: Iterable[str], customer_id: str | None) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(s.strip().lower() for s in scopes if s.strip()))
    if not chosen:
        raise InvalidInput(f"Choose at least one scope: {', '.join(CUSTOMER_SCOPES if customer_id else ALL_SCOPES)}.")
    unknown = [s for s in chosen if s not in ALL_SCOPES]
    if unknown:
        raise InvalidInput(f"Unknown scope {unknown[0]!r}: use {', '.join(ALL_SCOPES)}.")
    if customer_id is not None and STAFF in chosen:
        raise InvalidInput("A customer's key cannot have the staff scope.")
    if customer_id is None and chosen != (STAFF,):
        raise InvalidInput("A key that belongs to no customer is a staff key: give it the staff scope only.")
    return chosen


def _allowed_customer(identity: Identity, customer_id: str | None) -> str | None:
    """The customer a key may be made or managed for by ``identity``."""
    if identity.is_staff:
        return customer_id
    if not identity.is_customer_admin:
        raise Forbidden("Only an admin of your account can manage API keys.")
    if customer_id not in (None, identity.customer_id):
        raise Forbidden("You can only manage your own account's API keys.")
    return identity.customer_id


def create_api_key(
    identity: Identity, name: str, scopes: Iterable[str], customer_id: str | None = None
) -> CreatedApiKey:
    """Create a key for ``customer_id`` (staff: any customer, or none for a staff key; admins: their own)."""
    customer_id = _allowed_customer(identity, customer_id)
    name = name.strip()
    if not name:
        raise InvalidInput("Give the key a name, such as the system that will use it.")
    if len(name) > 100:
        raise InvalidInput("A key's name is at most 100 characters.")
    chosen = _check_scopes(scopes, customer_id)
    secret = secrets.token_urlsafe(32)
    with UnitOfWork() as uow:
        customer = uow.session.get(Customer, customer_id) if customer_id else None
        if customer_id and customer is None:
            raise NotFound(f"There is no customer {customer_id}.")
        key = ApiKey(
            customer_id=customer_id,
            name=name,
            secret_hash=_digest(secret),
            scopes=list(chosen),
            created_by=identity.user_id or None,
        )
        uow.session.add(key)
        uow.session.flush()
        record_if_staff(
            uow.session,
            identity,
            "api_key.create",
            ("api_key", key.id),
            f"API key {name!r} created for {customer.name if customer else 'staff'}",
            after={"name": name, "customer_id": customer_id, "scopes": list(chosen)},
        )
        return CreatedApiKey(_view(key, customer.name if customer else ""), f"{key.id}.{secret}")


def list_api_keys(identity: Identity, customer_id: str | None = None) -> list[ApiKeyView]:
    """Keys the caller may see: an admin's own customer's; staff: one customer's, or all when none is given."""
    customer_id = _allowed_customer(identity, customer_id)
    with UnitOfWork() as uow:
        query = select(ApiKey, Customer).join(Customer, col(ApiKey.customer_id) == Customer.id, isouter=True)
        if customer_id is not None:
            query = query.where(ApiKey.customer_id == customer_id)
        rows = uow.session.exec(query.order_by(col(ApiKey.created_at).desc())).all()
        return [_view(key, customer.name if customer else "") for key, customer in rows]


def revoke_api_key(identity: Identity, key_id: str, now: datetime | None = None) -> ApiKeyView:
    """Revoke a key at once; later requests with it get 401. Revoking twice keeps the first time."""
    with UnitOfWork() as uow:
        key = uow.session.get(ApiKey, key_id)
        may_manage = key is not None and (
            identity.is_staff or (identity.is_customer_admin and key.customer_id == identity.customer_id)
        )
        if key is None or not may_manage:
            raise NotFound(f"There is no API key {key_id}.")
        if key.revoked_at is None:
            key.revoked_at = now or utcnow()
            uow.session.add(key)
            record_if_staff(
                uow.session, identity, "api_key.revoke", ("api_key", key.id), f"API key {key.name!r} revoked"
            )
        customer = uow.session.get(Customer, key.customer_id) if key.customer_id else None
        return _view(key, customer.name if customer else "")


def authenticate(authorization: str | None, now: datetime | None = None) -> ApiPrincipal:
    """Resolve an ``Authorization: Bearer <key>`` header into the key's principal, or refuse with 401."""
    if not authorization:
        raise NotSignedIn("This request needs an API key: send the header 'Authorization: Bearer <key>'.")
    scheme, _, token = authorization.partition(" ")
    key_id, _, secret = token.strip().partition(".")
    if scheme.lower() != "bearer" or not key_id or not secret:
        raise NotSignedIn("Send the API key as 'Authorization: Bearer <key>'; the key looks like key_….….")
    now = now or utcnow()
    # Every API request runs this, so it reads one row with a plain query rather than through the ORM.
    with get_engine().connect() as connection:
        key = connection.execute(_KEYS.select().where(_KEYS.c.id == key_id)).first()
        if key is None or not hmac.compare_digest(key.secret_hash, _digest(secret)):
            raise NotSignedIn("This API key is not valid: check that it was copied whole.")
        if key.revoked_at is not None:
            raise NotSignedIn(f"This API key was revoked on {key.revoked_at:%Y-%m-%d %H:%M} UTC: create a new one.")
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
            connection.execute(update(_KEYS).where(_KEYS.c.id == key_id).values(last_used_at=now))
            connection.commit()
    return ApiPrincipal(key_id=key_id, customer_id=key.customer_id, scopes=tuple(key.scopes))
