"""Demo data: three published tiers, a self-serve customer, an enterprise with departments, and their users.

:func:`seed_demo` is idempotent: everything is looked up by a natural key
(package key, user email, customer name) and only what is missing is added,
so running it again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session, select

from portal.auth.passwords import hash_password
from portal.db.models import CreditTypeRow, Customer, IngestAlias, Package, PackageVersion, User, utcnow
from portal.db.uow import UnitOfWork

DEMO_PASSWORD = "portal-demo"


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """A sign-in account the demo creates."""

    email: str
    role: str
    customer: str | None


@dataclass(frozen=True, slots=True)
class _Tier:
    key: str
    name: str
    rank: int
    tagline: str
    seat_price: str
    credits_per_seat: str
    allocation: str
    min_seats: int
    max_seats: int | None
    trial_days: int
    features: tuple[str, ...]


_TIERS = (
    _Tier(
        "starter",
        "Starter",
        1,
        "For individuals and small teams trying AI features.",
        "20",
        "500",
        "POOLED",
        1,
        5,
        14,
        ("Pooled AI credits", "Usage dashboard", "Email support"),
    ),
    _Tier(
        "team",
        "Team",
        2,
        "For teams that build with AI every day.",
        "40",
        "2000",
        "POOLED",
        3,
        50,
        14,
        ("Pooled AI credits", "Per-seat usage breakdown", "API keys for usage", "Priority support"),
    ),
    _Tier(
        "business",
        "Business",
        3,
        "Per-user allowances with a shared safety net.",
        "75",
        "5000",
        "HYBRID",
        10,
        None,
        0,
        ("Per-user credit allowance plus shared pool", "Spend alerts", "SSO sign-in", "Dedicated success manager"),
    ),
)

_CUSTOMERS = (
    # name, parent name, ingest alias
    ("Acme AI", None, "acme"),
    ("Globex Corporation", None, "globex"),
    ("Globex Research", "Globex Corporation", "globex-research"),
    ("Globex Marketing", "Globex Corporation", "globex-marketing"),
)

_USERS = (
    # email, name, customer, role, staff
    ("staff@portal.test", "Sam Staff", None, None, True),
    ("admin@acme.test", "Ada Admin", "Acme AI", "admin", False),
    ("member@acme.test", "Max Member", "Acme AI", "member", False),
    ("admin@globex.test", "Grace Globex", "Globex Corporation", "admin", False),
)


def demo_accounts() -> list[DemoAccount]:
    """The demo sign-in accounts (all use :data:`DEMO_PASSWORD`)."""
    return [
        DemoAccount(email, "staff" if staff else f"{role} of {customer}", customer)
        for email, _name, customer, role, staff in _USERS
    ]


def _ensure_credit_type(session: Session) -> CreditTypeRow:
    row = session.get(CreditTypeRow, "ai-credits")
    if row is None:
        row = CreditTypeRow(id="ai-credits", name="AI credits", currency="USD", unit_price=Decimal("0.01"), places=0)
        session.add(row)
    return row


def _ensure_tiers(session: Session, credit_type: CreditTypeRow) -> None:
    for tier in _TIERS:
        package = session.exec(select(Package).where(Package.key == tier.key)).first()
        if package is None:
            package = Package(key=tier.key, name=tier.name, rank=tier.rank)
            session.add(package)
            session.flush()
        has_version = session.exec(select(PackageVersion).where(PackageVersion.package_id == package.id)).first()
        if has_version is None:
            session.add(
                PackageVersion(
                    package_id=package.id,
                    version=1,
                    status="published",
                    published_at=utcnow(),
                    tagline=tier.tagline,
                    seat_price=Decimal(tier.seat_price),
                    credits_per_seat=Decimal(tier.credits_per_seat),
                    credit_type_id=credit_type.id,
                    credit_allocation=tier.allocation,
                    min_seats=tier.min_seats,
                    max_seats=tier.max_seats,
                    trial_days=tier.trial_days,
                    features=list(tier.features),
                )
            )


def _ensure_customers(session: Session) -> dict[str, Customer]:
    customers = {c.name: c for c in session.exec(select(Customer)).all()}
    for name, parent, alias in _CUSTOMERS:
        if name not in customers:
            customer = Customer(name=name, parent_id=customers[parent].id if parent else None)
            session.add(customer)
            session.flush()
            customers[name] = customer
        if session.get(IngestAlias, alias) is None:
            session.add(IngestAlias(alias=alias, customer_id=customers[name].id))
    return customers


def _ensure_users(session: Session, customers: dict[str, Customer]) -> None:
    password_hash: str | None = None
    for email, name, customer, role, staff in _USERS:
        if session.exec(select(User).where(User.email == email)).first() is not None:
            continue
        password_hash = password_hash or hash_password(DEMO_PASSWORD)
        session.add(
            User(
                email=email,
                name=name,
                password_hash=password_hash,
                is_staff=staff,
                customer_id=customers[customer].id if customer else None,
                role=role,
            )
        )


def seed_demo() -> list[DemoAccount]:
    """Add whatever demo data is missing, in one transaction; returns the demo accounts."""
    with UnitOfWork() as uow:
        credit_type = _ensure_credit_type(uow.session)
        _ensure_tiers(uow.session, credit_type)
        customers = _ensure_customers(uow.session)
        _ensure_users(uow.session, customers)
    return demo_accounts()
