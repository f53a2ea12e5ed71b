"""A customer's members and their seats: who belongs to the account, inviting and removing members.

Only an admin of the customer (or staff) changes members. Inviting someone
gives them one of the account's free seats (the seat count does not change, so
nothing is charged; with no free seat the admin adds seats first) and mails them
a link to choose their password. Removing a member frees their seat (the seat
count stays, so the admin can give it to someone else or lower the count, which
takes effect at the end of the period); the person keeps their sign-in but no
longer sees the account. Admins are not removed this way, so an account always
keeps its admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from portal.db.models import Customer, SeatChangeRow, SeatSubscriptionRow, User, utcnow
from portal.db.uow import UnitOfWork
from portal.services import billing, local_accounts
from portal.services.customers import Actor
from portal.services.errors import InvalidInput, NotFound
from portal.services.identity import Identity


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
        subscription = _seat_subscription(session, customer_id, at)
        if subscription is not None and email in billing.contract_view(actor, customer_id, at).seat_ids:
            session.add(
                SeatChangeRow(subscription_id=subscription.id, at=at, kind="unassign_seat_ids", seat_ids=[email])
            )


def _seat_subscription(session: Session, customer_id: str, at: datetime) -> SeatSubscriptionRow | None:
    contract = billing.active_contract(session, customer_id, at)
    return session.exec(select(SeatSubscriptionRow).where(SeatSubscriptionRow.contract_id == contract.id)).first()


def invitee(session: Session, customer_id: str, email: str, name: str, role: str = "member") -> User:
    """The user ``email`` as a new ``role`` (member or admin) of the customer: a new account, or one that
    belongs to no customer."""
    user = session.exec(select(User).where(User.email == email)).first()
    if user is None:
        return User(email=email, name=name, customer_id=customer_id, role=role)
    if user.customer_id == customer_id:
        raise InvalidInput(f"{email} is already a member of this account.")
    if user.customer_id is not None or user.is_staff:
        raise InvalidInput(f"{email} already belongs to another account, so they cannot join this one.")
    user.customer_id, user.role, user.name = customer_id, role, user.name or name
    return user


def invite_member(
    inviter: Identity, customer_id: str, email: str, name: str = "", at: datetime | None = None
) -> MemberView:
    """Give ``email`` a free seat of the account and mail them a link to join (admins of the account and staff).

    :class:`InvalidInput` names what is wrong: the address, someone already in
    this or another account, or no free seat (add seats first: an invitation
    never changes what the account pays).
    """
    at = at or utcnow()
    email, name = local_accounts.checked_email(email), name.strip()
    if len(name) > local_accounts.NAME_MAX_LENGTH:
        raise InvalidInput(f"Names can be at most {local_accounts.NAME_MAX_LENGTH} characters long.")
    with UnitOfWork() as uow:
        session = uow.session
        billing.require_manager(session, inviter, customer_id)
        seats = billing.contract_view(inviter, customer_id, at)
        subscription = _seat_subscription(session, customer_id, at)
        if subscription is None:
            raise InvalidInput("This plan has no seats to give: choose a plan with seats first.")
        if seats.unassigned_seats < 1:
            raise InvalidInput(f"All {seats.seats} seats are taken: add a seat above, then invite {email}.")
        user = invitee(session, customer_id, email, name)
        session.add(user)
        session.add(SeatChangeRow(subscription_id=subscription.id, at=at, kind="add_seat_ids", seat_ids=[email]))
        session.flush()
        token = local_accounts.issue_invitation(session, user, at)
        customer = session.get(Customer, customer_id)
        customer_name = customer.name if customer else customer_id
        session.expunge(user)
    local_accounts.send_invitation(user, customer_name, inviter.name or inviter.email, token)
    return MemberView(user.email, user.name or user.email, "member", True)
