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

from sqlalchemy import JSON, Column, Text, UniqueConstraint
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
    card_reference: str | None = Field(default=None, max_length=100, description="the provider's payment method")
    card_brand: str = Field(default="", max_length=20, description="visa, mastercard, ... (as the provider says)")
    card_last4: str = Field(default="", max_length=4)
    card_expires: str = Field(default="", max_length=7, description="MM/YYYY")
    created_at: datetime = _created()


class IngestAlias(SQLModel, table=True):
    """An external id that usage events may use instead of the customer id."""

    __tablename__ = "ingest_alias"

    alias: str = Field(primary_key=True, max_length=200)
    customer_id: str = Field(foreign_key="customer.id", index=True, max_length=40)


class User(SQLModel, table=True):
    """A person who signs in: staff, or an admin or member of one customer.

    A user signs in with a password, through an OpenID Connect provider (matched by issuer and subject), or both.
    """

    __tablename__ = "app_user"
    __table_args__ = (UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_app_user_oidc_identity"),)

    id: str = _id("usr")
    email: str = Field(unique=True, max_length=320)
    name: str = Field(default="", max_length=200)
    password_hash: str | None = Field(default=None, max_length=200)
    is_staff: bool = Field(default=False)
    customer_id: str | None = Field(default=None, foreign_key="customer.id", index=True, max_length=40)
    role: str | None = Field(default=None, max_length=20, description="admin or member of the customer")
    company_name: str = Field(default="", max_length=200, description="the company named at sign-up, before a purchase")
    email_verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    oidc_issuer: str | None = Field(default=None, max_length=300)
    oidc_subject: str | None = Field(default=None, max_length=255)
    created_at: datetime = _created()


class UserSession(SQLModel, table=True):
    """A sign-in session; the browser holds the token, the table only its hash."""

    __tablename__ = "user_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="app_user.id", index=True, max_length=40)
    created_at: datetime = _created()
    activated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class AccountToken(SQLModel, table=True):
    """A one-time link sent by email (verify the address, reset the password); the table holds only its hash."""

    __tablename__ = "account_token"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="app_user.id", index=True, max_length=40)
    purpose: str = Field(max_length=20, description="verify_email, reset_password or accept_invitation")
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SignInFailure(SQLModel, table=True):
    """A failed sign-in, kept while it counts towards the limits per account (email typed) and per client address."""

    __tablename__ = "sign_in_failure"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, index=True)
    client_address: str = Field(default="", max_length=64, index=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)


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
    rate_card_id: str | None = Field(default=None, foreign_key="rate_card.id", max_length=40)
    seat_product_id: str | None = Field(default=None, foreign_key="product.id", max_length=40)
    overrides: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    pool_per_seat: Decimal = Field(default=Decimal(0), sa_type=DecimalText)
    seat_increases: str = Field(default="prorate_immediately", max_length=30)
    seat_decreases: str = Field(default="at_period_end", max_length=30)
    credit_proration: str = Field(default="prorated", max_length=20)
    entitlements: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    included_grants: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default="[]"),
        description="credits or commits included every period: {id, kind, credit_type_id, amount}",
    )
    cloned_from_id: str | None = Field(
        default=None, foreign_key="package_version.id", max_length=40, description="the version this draft copied"
    )
    created_at: datetime = _created()


class BillableMetricRow(SQLModel, table=True):
    """A billable metric: which events count and how; immutable once used (a change is a new metric)."""

    __tablename__ = "billable_metric"

    id: str = _id("met")
    name: str = Field(max_length=200)
    event_type: str = Field(max_length=200, index=True)
    aggregation: str = Field(max_length=20, description="count, sum, max, latest or unique")
    aggregation_key: str | None = Field(default=None, max_length=200)
    filters: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    group_keys: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    archived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = _created()


class ProductRow(SQLModel, table=True):
    """Something that appears on an invoice: usage (bound to a metric), a subscription, or a fixed fee."""

    __tablename__ = "product"

    id: str = _id("prd")
    name: str = Field(max_length=200)
    kind: str = Field(max_length=20, description="usage, subscription or fixed")
    metric_id: str | None = Field(default=None, foreign_key="billable_metric.id", max_length=40)
    conversion_factor: Decimal | None = Field(default=None, sa_type=DecimalText)
    conversion_operation: str | None = Field(default=None, max_length=20, description="multiply or divide")
    rounding_mode: str | None = Field(default=None, max_length=20, description="up, down or half_up")
    rounding_places: int | None = Field(default=None)
    pricing_group_key: str | None = Field(default=None, max_length=200)
    presentation_group_key: str | None = Field(default=None, max_length=200)
    created_at: datetime = _created()


class RateCardRow(SQLModel, table=True):
    """Prices for products over time."""

    __tablename__ = "rate_card"

    id: str = _id("rcd")
    name: str = Field(max_length=200)
    created_at: datetime = _created()


class RateRow(SQLModel, table=True):
    """One dated price of one product on a rate card; ``price`` is the price model as a document."""

    __tablename__ = "rate"

    id: str = _id("rte")
    rate_card_id: str = Field(foreign_key="rate_card.id", index=True, max_length=40)
    product_id: str = Field(foreign_key="product.id", max_length=40)
    starting_at: datetime = Field(sa_type=UTCDateTime)
    ending_before: datetime | None = Field(default=None, sa_type=UTCDateTime)
    price: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    credit_type_id: str = Field(max_length=40, description="an ISO currency code or a custom credit type id")
    entitled: bool = Field(default=True)
    created_at: datetime = _created()


class Contract(SQLModel, table=True):
    """One customer's agreement; what it is billed by over time is in :class:`ContractTerms`."""

    id: str = _id("con")
    customer_id: str = Field(foreign_key="customer.id", index=True, max_length=40)
    currency: str = Field(default="USD", max_length=3)
    starting_at: datetime = Field(sa_type=UTCDateTime)
    ending_before: datetime | None = Field(default=None, sa_type=UTCDateTime)
    billing_frequency: str = Field(default="MONTHLY", max_length=20)
    overrides: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    seat_key: str = Field(default="user_id", max_length=200, description="event property that names the seat")
    parent_contract_id: str | None = Field(default=None, foreign_key="contract.id", index=True, max_length=40)
    payer: str = Field(default="self", max_length=10, description="self or parent")
    statement: str = Field(default="consolidated", max_length=20, description="consolidated or separate")
    created_at: datetime = _created()


class ContractTerms(SQLModel, table=True):
    """The terms a contract is billed by from ``starting_at``: a package version, or a bare rate card."""

    __tablename__ = "contract_terms"
    __table_args__ = (UniqueConstraint("contract_id", "starting_at"),)

    id: int | None = Field(default=None, primary_key=True)
    contract_id: str = Field(foreign_key="contract.id", index=True, max_length=40)
    starting_at: datetime = Field(sa_type=UTCDateTime)
    package_version_id: str | None = Field(default=None, foreign_key="package_version.id", max_length=40)
    rate_card_id: str | None = Field(default=None, foreign_key="rate_card.id", max_length=40)
    reason: str = Field(default="", max_length=200, description="why: provisioned, upgrade, downgrade, migration")
    created_at: datetime = _created()


class SeatSubscriptionRow(SQLModel, table=True):
    """A contract's seats: a count, or named seats plus unassigned ones; changes are kept as a history."""

    __tablename__ = "seat_subscription"

    id: str = _id("sub")
    contract_id: str = Field(foreign_key="contract.id", unique=True, max_length=40)
    mode: str = Field(default="seat_based", max_length=20, description="quantity_only or seat_based")
    started_at: datetime = Field(sa_type=UTCDateTime)
    quantity: int
    seat_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _created()


class SeatChangeRow(SQLModel, table=True):
    """One dated change to a seat subscription."""

    __tablename__ = "seat_change"

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: str = Field(foreign_key="seat_subscription.id", index=True, max_length=40)
    at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(max_length=20)
    seat_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    quantity: int | None = Field(default=None)
    created_at: datetime = _created()


class GrantRow(SQLModel, table=True):
    """A prepaid commit or free credit a contract (or a seat, or a parent's children) can draw from."""

    __tablename__ = "credit_grant"

    id: str = _id("grt")
    contract_id: str = Field(foreign_key="contract.id", index=True, max_length=40)
    kind: str = Field(max_length=10, description="commit or credit")
    credit_type_id: str = Field(max_length=40)
    amount: Decimal = Field(sa_type=DecimalText)
    starting_at: datetime = Field(sa_type=UTCDateTime)
    ending_before: datetime | None = Field(default=None, sa_type=UTCDateTime)
    priority: int = Field(default=100)
    applicable_product_ids: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    scope: str = Field(default="contract", max_length=10, description="seat, contract or shared")
    seat_id: str | None = Field(default=None, max_length=200)
    child_access: list[str] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True), description='["*"] for all children, [] for none'
    )
    source: str = Field(default="manual", max_length=30)
    reason: str = Field(default="", max_length=500)
    created_at: datetime = _created()


class LedgerEntryRow(SQLModel, table=True):
    """An append-only movement on a grant (start, usage, expiry, manual adjustment).

    ``grant_id`` names a stored grant or a recurring one the rating engine derives each period (a seat
    credit), so it is not a foreign key; ``grant_contract_id`` is the contract that owns the grant.
    ``contract_id`` and ``seat_id`` say whose charge drew a usage entry.
    """

    __tablename__ = "ledger_entry"

    id: int | None = Field(default=None, primary_key=True)
    grant_id: str = Field(index=True, max_length=300)
    grant_contract_id: str = Field(foreign_key="contract.id", index=True, max_length=40)
    at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(max_length=20)
    amount: Decimal = Field(sa_type=DecimalText)
    reference: str = Field(sa_type=Text)
    contract_id: str | None = Field(default=None, max_length=40)
    seat_id: str | None = Field(default=None, max_length=200)
    created_at: datetime = _created()


class BudgetCapRow(SQLModel, table=True):
    """How much of its parent's shared commit a child contract may draw per period."""

    __tablename__ = "budget_cap"
    __table_args__ = (UniqueConstraint("child_contract_id", "credit_type_id"),)

    id: int | None = Field(default=None, primary_key=True)
    child_contract_id: str = Field(foreign_key="contract.id", max_length=40)
    credit_type_id: str = Field(max_length=40)
    amount: Decimal = Field(sa_type=DecimalText)
    behaviour: str = Field(default="overage", max_length=10, description="overage or block")
    created_at: datetime = _created()


class SpendCapRow(SQLModel, table=True):
    """A hard cap on what a customer's (or one of its seats') usage may cost per billing period.

    ``seat_id`` None caps the whole customer; ``unit`` is the currency code the cap is kept in (see
    :mod:`portal.services.spend_caps`).
    """

    __tablename__ = "spend_cap"
    __table_args__ = (UniqueConstraint("customer_id", "seat_id"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(foreign_key="customer.id", max_length=40)
    seat_id: str | None = Field(default=None, max_length=320, description="None: the whole customer")
    amount: Decimal = Field(sa_type=DecimalText)
    unit: str = Field(max_length=3, description="the ISO currency code of the cap")
    created_by: str = Field(max_length=320)
    created_at: datetime = _created()
    updated_by: str = Field(max_length=320)
    updated_at: datetime = _created()


class InvoiceRow(SQLModel, table=True):
    """A finalized (or paid, failed, voided) invoice; drafts are computed live and never stored.

    The invoice that closes a billing period has ``closes_period`` true; other invoices of the period (seats in
    advance, changes) have it NULL, never false, because the unique constraint on (contract, period start,
    ``closes_period``) treats NULLs as distinct: a period can be closed once, whoever tries at the same time.
    Likewise ``opens_period`` is true on the period's first invoice of what is due in advance (its seats), made
    once per period.
    """

    __tablename__ = "invoice"
    __table_args__ = (
        UniqueConstraint("contract_id", "period_start", "closes_period", name="uq_invoice_period_close"),
        UniqueConstraint("contract_id", "period_start", "opens_period", name="uq_invoice_period_open"),
    )

    id: str = _id("inv")
    contract_id: str = Field(foreign_key="contract.id", index=True, max_length=40)
    customer_id: str = Field(foreign_key="customer.id", index=True, max_length=40)
    period_start: datetime = Field(sa_type=UTCDateTime)
    period_end: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(max_length=20, description="finalized, paid, payment_failed or void")
    currency: str = Field(max_length=3)
    total_minor: int
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False), description="lines and grants applied")
    finalized_at: datetime = Field(sa_type=UTCDateTime)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    payment_provider: str | None = Field(default=None, max_length=20)
    payment_reference: str | None = Field(default=None, max_length=200)
    payment_note: str = Field(default="", max_length=500, description="what the last collection attempt said")
    payment_attempts: int = Field(default=0)
    payment_failed_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="when collection first failed; retries are counted from it"
    )
    next_payment_at: datetime | None = Field(
        default=None,
        sa_type=UTCDateTime,
        index=True,
        description="when the billing job collects it (again); None: no automatic attempt is due",
    )
    closes_period: bool | None = Field(default=None, description="true on the invoice that closes its period")
    opens_period: bool | None = Field(
        default=None, description="true on the period's first invoice of what is due in advance"
    )
    voided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = _created()


class UsageRollup(SQLModel, table=True):
    """A metric's aggregation state for one customer, group and hour, kept up to date as events arrive."""

    __tablename__ = "usage_rollup"

    customer_id: str = Field(primary_key=True, max_length=40)
    metric_id: str = Field(primary_key=True, max_length=40)
    group_values: str = Field(primary_key=True, max_length=1000, description="JSON array of the group key values")
    bucket_start: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    state: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class ApiKey(SQLModel, table=True):
    """A named API key; only a hash of its secret is stored."""

    __tablename__ = "api_key"

    id: str = _id("key")
    customer_id: str | None = Field(default=None, foreign_key="customer.id", index=True, max_length=40)
    name: str = Field(max_length=100)
    secret_hash: str = Field(max_length=64)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by: str | None = Field(default=None, foreign_key="app_user.id", max_length=40)
    created_at: datetime = _created()
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """One staff change: who, when, what, and the object before and after (append-only)."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=320, index=True, description="a staff email, an API key or the command line")
    action: str = Field(max_length=60, index=True)
    subject_type: str = Field(max_length=40)
    subject_id: str = Field(max_length=200, index=True)
    summary: str = Field(default="", max_length=500)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class RateChangeRow(SQLModel, table=True):
    """A proposed price for one product of a rate card from a future instant: a draft until it is scheduled."""

    __tablename__ = "rate_change"

    id: str = _id("rch")
    rate_card_id: str = Field(foreign_key="rate_card.id", index=True, max_length=40)
    product_id: str = Field(foreign_key="product.id", max_length=40)
    starting_at: datetime = Field(sa_type=UTCDateTime)
    price: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    credit_type_id: str = Field(max_length=40, description="an ISO currency code or a custom credit type id")
    status: str = Field(default="draft", max_length=20, description="draft or scheduled")
    created_by: str = Field(max_length=320)
    created_at: datetime = _created()
    scheduled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SimulationRow(SQLModel, table=True):
    """A simulation of a proposed price change over closed periods, its progress and its result."""

    __tablename__ = "simulation"

    id: str = _id("sim")
    package_version_id: str | None = Field(
        default=None, foreign_key="package_version.id", index=True, max_length=40, description="a draft version, or"
    )
    rate_change_id: str | None = Field(
        default=None, foreign_key="rate_change.id", index=True, max_length=40, description="a proposed price change"
    )
    fingerprint: str = Field(max_length=64, description="SHA-256 of the simulated draft's billing terms")
    periods: int
    status: str = Field(default="running", max_length=10, description="running, done or failed")
    done: int = Field(default=0)
    total: int = Field(default=0)
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    error: str = Field(default="", max_length=1000)
    created_by: str = Field(max_length=320)
    created_at: datetime = _created()
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=320)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class EnterpriseAlert(SQLModel, table=True):
    """An alert raised to an enterprise's admins: a department's budget at 80% or 100% in a period, or a shared
    commitment projected to run out before its term ends. Raised once per subject, kind and period."""

    __tablename__ = "enterprise_alert"
    __table_args__ = (UniqueConstraint("subject_id", "kind", "period_start", name="uq_enterprise_alert_once"),)

    id: int | None = Field(default=None, primary_key=True)
    enterprise_id: str = Field(foreign_key="customer.id", index=True, max_length=40, description="whose admins see it")
    subject_id: str = Field(max_length=300, description="the department's customer id, or the commitment's grant id")
    kind: str = Field(max_length=30, description="budget_80, budget_100 or commitment_runout")
    period_start: datetime = Field(sa_type=UTCDateTime)
    message: str = Field(max_length=500)
    raised_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class PaymentEventRow(SQLModel, table=True):
    """A payment provider's webhook event we acted on (or chose to ignore): stored once, in the same transaction
    as what it changed, so a replayed event id is acknowledged and does nothing."""

    __tablename__ = "payment_event"

    id: str = Field(primary_key=True, max_length=255, description="the provider's event id (evt_...)")
    provider: str = Field(max_length=20, description="stripe")
    type: str = Field(max_length=100, description="the event type, e.g. invoice.paid")
    object_id: str | None = Field(default=None, max_length=255, description="the provider object the event names")
    outcome: str = Field(default="", max_length=500, description="what the portal did with it")
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class CreditPurchaseRow(SQLModel, table=True):
    """Prepaid credits bought with money (by an admin, or by auto-recharge): the one-line invoice that charges for
    them, and the grant that gives them, made only once that invoice is paid (``grant_id`` is unique, and the grant's
    id is derived from the purchase's, so a purchase is granted at most once whoever grants it)."""

    __tablename__ = "credit_purchase"
    __table_args__ = (UniqueConstraint("customer_id", "request_key", name="uq_credit_purchase_request"),)

    id: str = _id("cpu")
    customer_id: str = Field(foreign_key="customer.id", index=True, max_length=40)
    contract_id: str = Field(foreign_key="contract.id", max_length=40)
    credit_type_id: str = Field(max_length=40)
    credits: Decimal = Field(sa_type=DecimalText)
    price_minor: int = Field(description="what the credits cost, in minor units of currency")
    currency: str = Field(max_length=3)
    invoice_id: str = Field(foreign_key="invoice.id", unique=True, max_length=40)
    grant_id: str | None = Field(default=None, foreign_key="credit_grant.id", unique=True, max_length=40)
    source: str = Field(default="manual", max_length=10, description="manual or auto (auto-recharge)")
    status: str = Field(default="pending", max_length=10, description="pending, paid, failed or void")
    note: str = Field(default="", max_length=500, description="what the last payment attempt said")
    request_key: str | None = Field(
        default=None, max_length=100, description="the buyer's key for one purchase: a repeated request buys nothing"
    )
    created_by: str = Field(max_length=320)
    created_at: datetime = _created()
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AutoRechargeRow(SQLModel, table=True):
    """A customer's auto-recharge: when its pooled balance falls below ``threshold`` credits, buy up to ``target``.

    ``recharging_since`` is set while one recharge is in flight (claimed with a conditional update, so two
    processes never recharge at once); ``turned_off_at`` is set when a failed payment turned auto-recharge off.
    """

    __tablename__ = "auto_recharge"

    customer_id: str = Field(primary_key=True, foreign_key="customer.id", max_length=40)
    enabled: bool = Field(default=False)
    threshold: Decimal = Field(sa_type=DecimalText)
    target: Decimal = Field(sa_type=DecimalText)
    last_outcome: str = Field(default="", max_length=500)
    turned_off_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    recharging_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = _created()
    updated_by: str = Field(max_length=320)


class WebhookEndpoint(SQLModel, table=True):
    """A customer's URL that receives signed system events (see :mod:`portal.services.outgoing_webhooks`)."""

    __tablename__ = "webhook_endpoint"

    id: str = _id("whe")
    customer_id: str = Field(foreign_key="customer.id", index=True, max_length=40)
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=100, description="signs each delivery (HMAC-SHA256); admins of the customer see it")
    event_types: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False), description="the types sent; [] for all"
    )
    enabled: bool = Field(default=True)
    created_by: str = Field(max_length=320)
    created_at: datetime = _created()


class WebhookEvent(SQLModel, table=True):
    """A system event (invoice paid, seat added, ...), written in the transaction of the change it reports (an
    outbox: it exists exactly when the change does)."""

    __tablename__ = "webhook_event"

    id: str = _id("evt")
    customer_id: str = Field(foreign_key="customer.id", index=True, max_length=40)
    type: str = Field(max_length=60)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = _created()


class WebhookDelivery(SQLModel, table=True):
    """One event sent (or to be sent) to one endpoint: pending until a 2xx answer (delivered) or the last retry
    (failed). A redelivery is a new row for the same event. Per endpoint, deliveries go out in ``id`` order."""

    __tablename__ = "webhook_delivery"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(foreign_key="webhook_event.id", index=True, max_length=40)
    endpoint_id: str = Field(foreign_key="webhook_endpoint.id", index=True, max_length=40)
    status: str = Field(default="pending", max_length=10, description="pending, delivered or failed")
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, index=True, description="when the sender tries (again); None once done"
    )
    last_status_code: int | None = Field(default=None, description="the HTTP status of the last answer")
    last_error: str = Field(default="", max_length=500, description="what went wrong on the last attempt")
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = _created()


class AlertRuleRow(SQLModel, table=True):
    """An alert a customer admin (or staff) set on one customer, or staff on every customer (no ``customer_id``;
    see :mod:`portal.services.alerts`).

    ``kind`` is ``balance_below`` (pooled credit, one seat's with ``seat_id``, one grant's with ``grant_id``),
    ``spend_above`` (the period's usage cost, the customer's or one seat's) or ``usage_above`` (a metric's quantity
    in the period, optionally of the events whose ``group_key`` is ``group_value``).
    """

    __tablename__ = "alert_rule"

    id: str = _id("alr")
    customer_id: str | None = Field(
        default=None, foreign_key="customer.id", index=True, max_length=40, description="None: every customer"
    )
    kind: str = Field(max_length=20)
    threshold: Decimal = Field(sa_type=DecimalText)
    seat_id: str | None = Field(default=None, max_length=320)
    grant_id: str | None = Field(default=None, max_length=40, description="balance_below: one grant's balance")
    metric_id: str | None = Field(default=None, max_length=40)
    group_key: str | None = Field(default=None, max_length=100)
    group_value: str | None = Field(default=None, max_length=320)
    created_by: str = Field(max_length=320)
    created_at: datetime = _created()


class AlertStateChange(SQLModel, table=True):
    """An alert rule going from ``ok`` to ``alarm`` or back, with the value and the event that caused it.

    ``cause`` is the transaction id of the usage event whose evaluation saw the change, or ``evaluation`` when
    none did (a rule created or a balance changed by something else). ``period_start`` is the billing period
    whose figures were judged. A rule's state is kept per customer judged (an all-customer rule's customers cross
    independently).
    """

    __tablename__ = "alert_state_change"
    __table_args__ = (UniqueConstraint("rule_id", "customer_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    rule_id: str = Field(foreign_key="alert_rule.id", index=True, max_length=40)
    customer_id: str = Field(foreign_key="customer.id", index=True, max_length=40)
    seq: int = Field(
        description="1, 2, ... per rule and customer: two processes cannot record the same next change twice"
    )
    period_start: datetime = Field(sa_type=UTCDateTime)
    from_state: str = Field(max_length=5)
    to_state: str = Field(max_length=5)
    value: Decimal = Field(sa_type=DecimalText)
    cause: str = Field(max_length=200)
    at: datetime = _created()


class NotificationRow(SQLModel, table=True):
    """A message in one user's in-app notification centre (unread until ``read_at``)."""

    __tablename__ = "notification"

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(foreign_key="app_user.id", index=True, max_length=40)
    customer_id: str | None = Field(default=None, foreign_key="customer.id", max_length=40)
    title: str = Field(max_length=200)
    body: str = Field(max_length=2000)
    created_at: datetime = _created()
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
