"""A customer's members and their seats: who belongs to the account, who holds a seat, removing a member.

Only an admin of the customer (or staff) changes members. Removing a member
frees their seat (the seat count stays, so the admin can give it to someone
else or lower the count, which takes effect at the end of the period); the
person keeps their sign-in but no longer sees the account. Admins are not
removed this way, so an account always keeps its admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from portal.db.models import SeatChangeRow, SeatSubscriptionRow, User, utcnow
from portal.db.uow import UnitOfWork
from portal.services import billing
from portal.services.customers import Actor
from portal.services.errors import InvalidInput, NotFound


@dataclass(frozen=True, slots=True)
class MemberView:
    """A person of the account and whether they hold a seat."""

    email: str
    name: str
    role: str
    holds_seat: bool


def members(actor: Actor, customer_id: str, at: datetime | None = None) -> list[MemberView]:
    """The account's people (admins first) with their seats; admins and staff only."""
    at = at or utcnow()
    with UnitOfWork() as uow:
        billing.require_manager(uow.session, actor, customer_id)
        users = uow.session.exec(
            select(User).where(User.customer_id == customer_id).order_by(col(User.role), col(User.email))
        ).all()
    seat_ids = set(billing.contract_view(actor, customer_id, at).seat_ids)
    return [MemberView(u.email, u.name or u.email, u.role or "member", u.email in seat_ids) for u in users]


def remove_member(actor: Actor, customer_id: str, email: str, at: datetime | None = None) -> None:
    """Take the member ``email`` out of the account and free their seat (admins are not removed here)."""
    at = at or utcnow()
    email = email.strip().lower()
    with UnitOfWork() as uow:
        session = uow.session
        billing.require_manager(session, actor, customer_id)
        user = session.exec(select(User).where(User.email == email, User.customer_id == customer_id)).first()
        if user is None:
            raise NotFound(f"{email} is not a member of this account.")
        if user.role == "admin":
            raise InvalidInput(f"{email} is an admin of the account; only members can be removed.")
        user.customer_id, user.role = None, None
        session.add(user)
        contract = billing.active_contract(session, customer_id, at)
        subscription = session.exec(
            select(SeatSubscriptionRow).where(SeatSubscriptionRow.contract_id == contract.id)
        ).first()
        if subscription is not None and email in billing.contract_view(actor, customer_id, at).seat_ids:
            session.add(
                SeatChangeRow(subscription_id=subscription.id, at=at, kind="unassign_seat_ids", seat_ids=[email])
            )
