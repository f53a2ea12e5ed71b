"""Account overviews for the three areas: a customer's team, an enterprise's departments, the staff catalog.

Every function takes the caller's :class:`~portal.services.identity.Identity`
and enforces who may see what: a customer's users only ever see their own
customer (and, for an enterprise admin, its child customers); the staff
overview is for staff only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlmodel import col, select

from portal.db.models import Customer, Package, PackageVersion, User
from portal.db.uow import UnitOfWork
from portal.domain.money import Money, currency
from portal.services.errors import Forbidden
from portal.services.identity import Identity


@dataclass(frozen=True, slots=True)
class Member:
    """A user of a customer."""

    name: str
    email: str
    role: str


@dataclass(frozen=True, slots=True)
class CustomerOverview:
    """A customer's own account as its users see it."""

    customer_id: str
    name: str
    currency: str
    parent_name: str
    members: tuple[Member, ...]


@dataclass(frozen=True, slots=True)
class Department:
    """A child customer of an enterprise."""

    customer_id: str
    name: str
    members: int


@dataclass(frozen=True, slots=True)
class PackageRow:
    """One package version in the staff catalog."""

    package: str
    key: str
    rank: int
    version: int
    status: str
    seat_price: str


@dataclass(frozen=True, slots=True)
class CustomerRow:
    """One customer in the staff list."""

    customer_id: str
    name: str
    parent: str
    users: int


@dataclass(frozen=True, slots=True)
class StaffOverview:
    """The catalog and the customers, for staff."""

    packages: tuple[PackageRow, ...]
    customers: tuple[CustomerRow, ...]


def _own_customer(identity: Identity) -> str:
    if identity.customer_id is None:
        raise Forbidden("Your account does not belong to a customer.")
    return identity.customer_id


def customer_overview(identity: Identity) -> CustomerOverview:
    """The caller's customer with its members (members see names and roles, not other customers)."""
    customer_id = _own_customer(identity)
    with UnitOfWork() as uow:
        customer = uow.session.get(Customer, customer_id)
        if customer is None:
            raise Forbidden("Your customer account no longer exists.")
        parent = uow.session.get(Customer, customer.parent_id) if customer.parent_id else None
        users = uow.session.exec(
            select(User).where(User.customer_id == customer_id).order_by(col(User.role), col(User.email))
        ).all()
        return CustomerOverview(
            customer_id=customer.id,
            name=customer.name,
            currency=customer.currency,
            parent_name=parent.name if parent else "",
            members=tuple(Member(u.name or u.email, u.email, u.role or "member") for u in users),
        )


def enterprise_overview(identity: Identity) -> tuple[Department, ...]:
    """The departments (child customers) of the caller's enterprise; admins of a parent only."""
    customer_id = _own_customer(identity)
    if not identity.is_enterprise_admin:
        raise Forbidden("Only an admin of an enterprise account with departments can see this.")
    with UnitOfWork() as uow:
        children = uow.session.exec(
            select(Customer).where(Customer.parent_id == customer_id).order_by(col(Customer.name))
        ).all()
        counts = Counter(
            uow.session.exec(select(User.customer_id).where(col(User.customer_id).in_([c.id for c in children]))).all()
        )
        return tuple(Department(c.id, c.name, counts.get(c.id, 0)) for c in children)


def customer_choices(identity: Identity) -> tuple[CustomerRow, ...]:
    """Every customer, by name, for staff pickers (staff only)."""
    return staff_overview(identity).customers


def staff_overview(identity: Identity) -> StaffOverview:
    """Every package version and every customer; staff only."""
    if not identity.is_staff:
        raise Forbidden("This area is for staff only.")
    with UnitOfWork() as uow:
        versions = uow.session.exec(
            select(Package, PackageVersion)
            .join(PackageVersion, col(PackageVersion.package_id) == Package.id)
            .order_by(col(Package.rank), col(PackageVersion.version))
        ).all()
        customers = uow.session.exec(select(Customer).order_by(col(Customer.name))).all()
        names = {c.id: c.name for c in customers}
        users = Counter(uow.session.exec(select(User.customer_id)).all())
        return StaffOverview(
            packages=tuple(
                PackageRow(
                    p.name, p.key, p.rank, v.version, v.status, Money(v.seat_price, currency(v.currency)).format()
                )
                for p, v in versions
            ),
            customers=tuple(
                CustomerRow(c.id, c.name, names.get(c.parent_id, "") if c.parent_id else "", users.get(c.id, 0))
                for c in customers
            ),
        )
