"""Demo data: the catalog and three tiers, a self-serve customer on Team, an enterprise with two departments
sharing a commitment, their users, and a month of usage so far.

:func:`seed_demo` is idempotent: everything is looked up by a natural key
(package key, user email, customer name, fixed ids, deterministic
transaction ids) and only what is missing is added, so running it again
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlmodel import Session, select

from portal.auth.passwords import hash_password
from portal.db.models import (
    BudgetCapRow,
    Contract,
    ContractTerms,
    Customer,
    GrantRow,
    IngestAlias,
    User,
    utcnow,
)
from portal.db.uow import UnitOfWork
from portal.domain.metrics import UsageEvent
from portal.services import billing
from portal.services.demo_catalog import CREDITS, RATE_CARD, REQUESTS_EVENT, TOKENS_EVENT, ensure_catalog, ensure_tiers
from portal.services.identity import operator_identity
from portal.services.ingest_writer import writer

DEMO_PASSWORD = "portal-demo"


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """A sign-in account the demo creates."""

    email: str
    role: str
    customer: str | None


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
                email_verified_at=utcnow(),
            )
        )


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _ensure_enterprise(session: Session, customers: dict[str, Customer], start: datetime) -> None:
    """Globex: a parent contract with a shared commit of 2,000,000 AI credits, and two capped departments."""
    parent = customers["Globex Corporation"]
    if session.exec(select(Contract).where(Contract.customer_id == parent.id)).first() is not None:
        return
    parent_contract = Contract(customer_id=parent.id, starting_at=start)
    session.add(parent_contract)
    session.flush()
    session.add(
        ContractTerms(
            contract_id=parent_contract.id, starting_at=start, rate_card_id=RATE_CARD, reason="enterprise agreement"
        )
    )
    session.add(
        GrantRow(
            contract_id=parent_contract.id,
            kind="commit",
            credit_type_id=CREDITS,
            amount=Decimal(2_000_000),
            starting_at=start,
            ending_before=start.replace(year=start.year + 1),
            scope="shared",
            child_access=["*"],
            source="purchase",
            reason="Annual AI commitment",
        )
    )
    for name, payer, cap, behaviour in (
        ("Globex Research", "self", "500000", "overage"),
        ("Globex Marketing", "parent", "100000", "block"),
    ):
        child = Contract(
            customer_id=customers[name].id, starting_at=start, parent_contract_id=parent_contract.id, payer=payer
        )
        session.add(child)
        session.flush()
        session.add(ContractTerms(contract_id=child.id, starting_at=start, rate_card_id=RATE_CARD, reason="department"))
        session.add(
            BudgetCapRow(child_contract_id=child.id, credit_type_id=CREDITS, amount=Decimal(cap), behaviour=behaviour)
        )


def _demo_events(
    alias: str, users: tuple[str, ...], count: int, tokens: int, start: datetime, now: datetime
) -> list[UsageEvent]:
    """``count`` AI usage events and half as many API requests, spread evenly from ``start`` to ``now``."""
    span = now - start
    models = ("gpt-4o", "claude-sonnet")
    events = [
        UsageEvent(
            f"demo-{alias}-tokens-{i}",
            alias,
            TOKENS_EVENT,
            start + span * i / count,
            {
                "tokens": str(tokens + (i * 37) % tokens),
                "user_id": users[i % len(users)],
                "model": models[(i // 3) % 2],
            },
        )
        for i in range(count)
    ]
    events += [
        UsageEvent(
            f"demo-{alias}-requests-{i}",
            alias,
            REQUESTS_EVENT,
            start + span * (2 * i + 1) / count,
            {"user_id": users[i % len(users)]},
        )
        for i in range(count // 2)
    ]
    return events


def _ensure_usage(customers: dict[str, Customer], start: datetime, now: datetime) -> None:
    if now - start < timedelta(hours=1):
        return
    events = [
        *_demo_events("acme", ("admin@acme.test", "member@acme.test"), 240, 1200, start, now),
        *_demo_events("globex-research", ("r1", "r2", "r3"), 200, 15000, start, now),
        *_demo_events("globex-marketing", ("m1",), 120, 8000, start, now),
    ]
    aliases = {"acme": "Acme AI", "globex-research": "Globex Research", "globex-marketing": "Globex Marketing"}
    resolved = [
        UsageEvent(e.transaction_id, customers[aliases[e.customer_id]].id, e.event_type, e.timestamp, e.properties)
        for e in events
    ]
    writer().refresh_metrics()
    writer().submit(resolved).result()


def seed_demo(now: datetime | None = None) -> list[DemoAccount]:
    """Add whatever demo data is missing; returns the demo accounts.

    Contracts start at the beginning of the current month (UTC), and the
    demo usage is spread from then until ``now``.
    """
    now = now or utcnow()
    start = _month_start(now)
    with UnitOfWork() as uow:
        ensure_catalog(uow.session)
        ensure_tiers(uow.session)
        customers = _ensure_customers(uow.session)
        _ensure_users(uow.session, customers)
        _ensure_enterprise(uow.session, customers, start)
        acme = customers["Acme AI"]
        acme_has_contract = uow.session.exec(select(Contract).where(Contract.customer_id == acme.id)).first()
    if acme_has_contract is None:
        billing.provision(operator_identity(), acme.id, "team", 3, ("admin@acme.test", "member@acme.test"), at=start)
    _ensure_usage(customers, start, now)
    return demo_accounts()
