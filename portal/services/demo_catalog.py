"""The demo catalog: AI credits, two billable metrics, their products, one rate card, and three tiers.

Rows have fixed ids (``met_ai_tokens``, ``rcd_standard``, ...) so the seed can
find what it made before and add only what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlmodel import Session, select

from portal.db.codecs import override_to_doc, price_to_doc
from portal.db.models import (
    BillableMetricRow,
    CreditTypeRow,
    Package,
    PackageVersion,
    ProductRow,
    RateCardRow,
    RateRow,
    utcnow,
)
from portal.domain.pricing import Flat, Override

CREDITS = "ai-credits"
TOKENS_METRIC, REQUESTS_METRIC = "met_ai_tokens", "met_api_requests"
TOKENS_PRODUCT, REQUESTS_PRODUCT, SEATS_PRODUCT = "prd_ai_tokens", "prd_api_requests", "prd_seats"
RATE_CARD = "rcd_standard"
CATALOG_START = datetime(2026, 1, 1, tzinfo=UTC)
TOKENS_EVENT, REQUESTS_EVENT = "ai_usage", "api_request"


@dataclass(frozen=True, slots=True)
class _Tier:
    key: str
    name: str
    rank: int
    tagline: str
    seat_price: str
    credits_per_seat: str
    allocation: str
    pool_per_seat: str
    min_seats: int
    max_seats: int | None
    trial_days: int
    token_discount: str | None
    features: tuple[str, ...]
    entitlements: tuple[tuple[str, bool | int], ...]


TIERS = (
    _Tier(
        "starter",
        "Starter",
        1,
        "For individuals and small teams trying AI features.",
        "20",
        "500",
        "POOLED",
        "0",
        1,
        5,
        14,
        None,
        ("Pooled AI credits", "Usage dashboard", "Email support"),
        (("usage_dashboard", True), ("api_access", False), ("spend_alerts", False), ("projects", 3)),
    ),
    _Tier(
        "team",
        "Team",
        2,
        "For teams that build with AI every day.",
        "40",
        "2000",
        "POOLED",
        "0",
        3,
        50,
        14,
        None,
        ("Pooled AI credits", "Per-seat usage breakdown", "API keys for usage", "Priority support"),
        (("usage_dashboard", True), ("api_access", True), ("spend_alerts", False), ("projects", 25)),
    ),
    _Tier(
        "business",
        "Business",
        3,
        "Per-user allowances with a shared safety net.",
        "75",
        "4000",
        "HYBRID",
        "1000",
        5,
        None,
        0,
        "0.8",
        (
            "Per-user credit allowance plus shared pool",
            "20% off AI tokens",
            "Spend alerts",
            "Dedicated success manager",
        ),
        (("usage_dashboard", True), ("api_access", True), ("spend_alerts", True), ("projects", 100)),
    ),
)


def _add_missing(session: Session, *rows: object) -> None:
    for row in rows:
        if session.get(type(row), row.id) is None:  # type: ignore[attr-defined]
            session.add(row)


def ensure_catalog(session: Session) -> None:
    """Add the demo credit type, metrics, products and rate card where missing."""
    _add_missing(
        session,
        CreditTypeRow(id=CREDITS, name="AI credits", currency="USD", unit_price=Decimal("0.01"), places=0),
        BillableMetricRow(
            id=TOKENS_METRIC,
            name="AI tokens",
            event_type=TOKENS_EVENT,
            aggregation="sum",
            aggregation_key="tokens",
            group_keys=["user_id", "model"],
            created_at=CATALOG_START,
        ),
        BillableMetricRow(
            id=REQUESTS_METRIC,
            name="API requests",
            event_type=REQUESTS_EVENT,
            aggregation="count",
            group_keys=["user_id"],
            created_at=CATALOG_START,
        ),
    )
    session.flush()
    _add_missing(
        session,
        ProductRow(
            id=TOKENS_PRODUCT,
            name="AI tokens (per 1,000)",
            kind="usage",
            metric_id=TOKENS_METRIC,
            conversion_factor=Decimal(1000),
            conversion_operation="divide",
            rounding_mode="up",
            rounding_places=0,
            presentation_group_key="model",
        ),
        ProductRow(id=REQUESTS_PRODUCT, name="API requests", kind="usage", metric_id=REQUESTS_METRIC),
        ProductRow(id=SEATS_PRODUCT, name="Seats", kind="subscription"),
        RateCardRow(id=RATE_CARD, name="Standard AI usage"),
    )
    session.flush()
    _add_missing(
        session,
        RateRow(
            id="rte_tokens",
            rate_card_id=RATE_CARD,
            product_id=TOKENS_PRODUCT,
            starting_at=CATALOG_START,
            price=price_to_doc(Flat(Decimal(10))),
            credit_type_id=CREDITS,
        ),
        RateRow(
            id="rte_requests",
            rate_card_id=RATE_CARD,
            product_id=REQUESTS_PRODUCT,
            starting_at=CATALOG_START,
            price=price_to_doc(Flat(Decimal("0.5"))),
            credit_type_id=CREDITS,
        ),
    )


def ensure_tiers(session: Session) -> None:
    """Add the three demo tiers (version 1, published) where missing."""
    for tier in TIERS:
        package = session.exec(select(Package).where(Package.key == tier.key)).first()
        if package is None:
            package = Package(key=tier.key, name=tier.name, rank=tier.rank)
            session.add(package)
            session.flush()
        if session.exec(select(PackageVersion).where(PackageVersion.package_id == package.id)).first() is not None:
            continue
        overrides = (
            [override_to_doc(Override.multiply(TOKENS_PRODUCT, CATALOG_START, None, tier.token_discount))]
            if tier.token_discount
            else []
        )
        session.add(
            PackageVersion(
                package_id=package.id,
                version=1,
                status="published",
                published_at=utcnow(),
                tagline=tier.tagline,
                seat_price=Decimal(tier.seat_price),
                credits_per_seat=Decimal(tier.credits_per_seat),
                credit_type_id=CREDITS,
                credit_allocation=tier.allocation,
                pool_per_seat=Decimal(tier.pool_per_seat),
                min_seats=tier.min_seats,
                max_seats=tier.max_seats,
                trial_days=tier.trial_days,
                features=list(tier.features),
                entitlements=dict(tier.entitlements),
                rate_card_id=RATE_CARD,
                seat_product_id=SEATS_PRODUCT,
                overrides=overrides,
            )
        )
