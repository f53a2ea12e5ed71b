"""The tables (plain ``SQLModel, table=True``); Alembic owns the schema.

Ids are short prefixed strings (``cus_…``, ``usr_…``, ``pkg_…``) so they read
well in URLs, the API and logs. Money and prices are exact decimals stored as
text (:class:`~portal.db.types.DecimalText`); instants are aware UTC.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.db.types import DecimalText, UTCDateTime


def new_id(prefix: str) -> str:
    """A new random id such as ``cus_5kq3h2m8x1vz0a7c`` (80 bits of randomness)."""
    return f"{prefix}_{secrets.token_hex(10)}"


def utcnow() -> datetime:
    """The current instant in UTC (the shell's clock; the domain never reads it)."""
    return datetime.now(UTC)


def _id(prefix: str) -> Any:
    return Field(default_factory=lambda: new_id(prefix), primary_key=True, max_length=40)


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime)


class Customer(SQLModel, table=True):
    """A paying organisation, optionally the child of a parent customer."""

    id: str = _id("cus")
    name: str = Field(max_length=200)
    currency: str = Field(default="USD", max_length=3)
    parent_id: str | None = Field(default=None, foreign_key="customer.id", index=True, max_length=40)
    payment_customer_id: str | None = Field(default=None, max_length=100)
    created_at: datetime = _created()


class IngestAlias(SQLModel, table=True):
    """An external id that usage events may use instead of the customer id."""

    __tablename__ = "ingest_alias"

    alias: str = Field(primary_key=True, max_length=200)
    customer_id: str = Field(foreign_key="customer.id", index=True, max_length=40)


class User(SQLModel, table=True):
    """A person who signs in: staff, or an admin or member of one customer."""

    __tablename__ = "app_user"

    id: str = _id("usr")
    email: str = Field(unique=True, max_length=320)
    name: str = Field(default="", max_length=200)
    password_hash: str | None = Field(default=None, max_length=200)
    is_staff: bool = Field(default=False)
    customer_id: str | None = Field(default=None, foreign_key="customer.id", index=True, max_length=40)
    role: str | None = Field(default=None, max_length=20, description="admin or member of the customer")
    created_at: datetime = _created()


class UserSession(SQLModel, table=True):
    """A sign-in session; the browser holds the token, the table only its hash."""

    __tablename__ = "user_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="app_user.id", index=True, max_length=40)
    created_at: datetime = _created()
    activated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class UsageEvent(SQLModel, table=True):
    """A raw usage event, stored once; ``transaction_id`` is its idempotency key."""

    __tablename__ = "usage_event"

    id: int | None = Field(default=None, primary_key=True)
    transaction_id: str = Field(unique=True, max_length=200)
    customer_id: str = Field(max_length=40)
    event_type: str = Field(max_length=200)
    timestamp: datetime = Field(sa_type=UTCDateTime)
    properties: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime = _created()


class CreditTypeRow(SQLModel, table=True):
    """A custom credit unit (such as "AI credits") priced in a currency."""

    __tablename__ = "credit_type"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=100)
    currency: str = Field(default="USD", max_length=3)
    unit_price: Decimal = Field(sa_type=DecimalText)
    places: int = Field(default=0)


class Package(SQLModel, table=True):
    """A tier customers can buy; its versions carry the terms, ``key`` is its alias."""

    id: str = _id("pkg")
    key: str = Field(
        unique=True, max_length=60, description="alias such as 'team', points at the newest published version"
    )
    name: str = Field(max_length=100)
    rank: int = Field(default=0, description="good-better-best order, lowest first")
    created_at: datetime = _created()


class PackageVersion(SQLModel, table=True):
    """One version of a package's terms; immutable once published."""

    __tablename__ = "package_version"
    __table_args__ = (UniqueConstraint("package_id", "version"),)

    id: str = _id("pkv")
    package_id: str = Field(foreign_key="package.id", index=True, max_length=40)
    version: int
    status: str = Field(default="draft", max_length=20, description="draft, published or archived")
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    tagline: str = Field(default="", max_length=200)
    currency: str = Field(default="USD", max_length=3)
    seat_price: Decimal = Field(sa_type=DecimalText)
    billing_frequency: str = Field(default="MONTHLY", max_length=20)
    min_seats: int = Field(default=1)
    max_seats: int | None = Field(default=None)
    credits_per_seat: Decimal = Field(default=Decimal(0), sa_type=DecimalText)
    credit_type_id: str | None = Field(default=None, foreign_key="credit_type.id", max_length=40)
    credit_allocation: str = Field(default="POOLED", max_length=20, description="POOLED, INDIVIDUAL or HYBRID")
    trial_days: int = Field(default=0)
    features: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _created()
