"""Members of an account: an admin invites people onto free seats and removes them again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.auth.passwords import hash_password
from portal.db.models import User, utcnow
from portal.db.uow import UnitOfWork
from portal.services import billing
from portal.services.account_tokens import ACCEPT_INVITATION
from portal.services.demo import DEMO_PASSWORD, seed_demo
from portal.services.errors import Forbidden, InvalidInput, NotFound
from portal.services.identity import Identity, sign_in
from portal.services.local_accounts import reset_link_problem, reset_password
from portal.services.members import invite_member, members, remove_member
from portal.services.purchase import purchase
from tests.support.mail import Outbox

PASSWORD = "pw-123456"
NEW_PASSWORD = "a long new passw0rd"


@pytest.fixture
def admin(database: str) -> Identity:
    """The admin of Initech, on the Team tier with 3 seats (the admin holds one)."""
    seed_demo()
    with UnitOfWork() as uow:
        uow.session.add(User(email="nina@initech.test", name="Nina", password_hash=hash_password(PASSWORD)))
    purchase(sign_in("nina@initech.test", PASSWORD).identity, "team", 3, "Initech")
    return sign_in("nina@initech.test", PASSWORD).identity


def _token(link: str) -> str:
    return link.split("token=", 1)[1]


def test_an_invitation_gives_a_free_seat_and_mails_a_link_to_join(admin: Identity, outbox: Outbox) -> None:
    customer = admin.customer_id or ""
    invited = invite_member(admin, customer, " Omar@Initech.test ", "Omar")
    assert (invited.email, invited.name, invited.role, invited.holds_seat) == (
        "omar@initech.test",
        "Omar",
        "member",
        True,
    )
    contract = billing.contract_view(admin, customer)
    # The seat count stays 3: the invitation used a free seat, so nothing is charged.
    assert (contract.seats, contract.seat_ids) == (3, ("nina@initech.test", "omar@initech.test"))
    assert len(billing.invoices(admin, customer)) == 1
    [message] = outbox.to("omar@initech.test")
    assert "Subject: Nina invited you to Initech on Portal" in message
    assert "within 7 days" in message
    pending = reset_password(_token(outbox.last_link("omar@initech.test", "/join")), NEW_PASSWORD, ACCEPT_INVITATION)
    assert (pending.identity.customer_name, pending.identity.role) == ("Initech", "member")
    assert pending.identity.email_verified
    assert sign_in("omar@initech.test", NEW_PASSWORD).identity.customer_id == customer


def test_an_invitation_link_works_once_and_not_as_a_reset_link(admin: Identity, outbox: Outbox) -> None:
    invite_member(admin, admin.customer_id or "", "omar@initech.test")
    token = _token(outbox.last_link("omar@initech.test", "/join"))
    assert reset_link_problem(token) is not None  # not a password reset link
    assert reset_link_problem(token, ACCEPT_INVITATION) is None
    reset_password(token, NEW_PASSWORD, ACCEPT_INVITATION)
    assert reset_link_problem(token, ACCEPT_INVITATION) == (
        "This invitation was already used: sign in with the password you chose, or reset it."
    )


def test_an_invitation_expires_after_seven_days(admin: Identity, outbox: Outbox) -> None:
    invite_member(admin, admin.customer_id or "", "omar@initech.test")
    token = _token(outbox.last_link("omar@initech.test", "/join"))
    later = utcnow() + timedelta(days=7, minutes=1)
    assert reset_link_problem(token, ACCEPT_INVITATION, now=later) == (
        "This invitation has expired: ask your account's admin to invite you again."
    )


def test_with_every_seat_taken_the_admin_is_asked_to_add_seats(admin: Identity, outbox: Outbox) -> None:
    customer = admin.customer_id or ""
    invite_member(admin, customer, "omar@initech.test")
    invite_member(admin, customer, "paula@initech.test")
    with pytest.raises(InvalidInput, match=r"All 3 seats are taken: add a seat above, then invite quinn@initech.test"):
        invite_member(admin, customer, "quinn@initech.test")
    assert outbox.to("quinn@initech.test") == []
    assert [m.email for m in members(admin, customer)] == [
        "nina@initech.test",
        "omar@initech.test",
        "paula@initech.test",
    ]


@pytest.mark.parametrize(
    ("email", "problem"),
    [
        ("not-an-address", "Enter a valid email address"),
        ("nina@initech.test", "nina@initech.test is already a member of this account."),
        ("admin@acme.test", "admin@acme.test already belongs to another account"),
        ("staff@portal.test", "staff@portal.test already belongs to another account"),
    ],
)
def test_an_invitation_names_what_is_wrong(admin: Identity, email: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        invite_member(admin, admin.customer_id or "", email)
    assert len(billing.contract_view(admin, admin.customer_id or "").seat_ids) == 1


def test_only_admins_invite(admin: Identity, outbox: Outbox) -> None:
    member = sign_in("member@acme.test", DEMO_PASSWORD).identity
    with pytest.raises(Forbidden):
        invite_member(member, member.customer_id or "", "someone@acme.test")
    with pytest.raises(NotFound):  # another customer's account is not even revealed
        invite_member(admin, member.customer_id or "", "someone@acme.test")


def test_someone_with_an_account_but_no_team_joins_and_is_told_to_sign_in(admin: Identity, outbox: Outbox) -> None:
    with UnitOfWork() as uow:
        uow.session.add(User(email="rita@initech.test", name="Rita", password_hash=hash_password(PASSWORD)))
    invite_member(admin, admin.customer_id or "", "rita@initech.test")
    [message] = outbox.to("rita@initech.test")
    assert "Nina added you to Initech. Sign in to see it" in message
    assert sign_in("rita@initech.test", PASSWORD).identity.customer_name == "Initech"


def test_a_removed_member_frees_the_seat_for_the_next_invitation(admin: Identity, outbox: Outbox) -> None:
    customer = admin.customer_id or ""
    invite_member(admin, customer, "omar@initech.test")
    invite_member(admin, customer, "paula@initech.test")
    remove_member(admin, customer, "omar@initech.test")
    invite_member(admin, customer, "quinn@initech.test")
    contract = billing.contract_view(admin, customer)
    assert (contract.seats, set(contract.seat_ids)) == (
        3,
        {"nina@initech.test", "paula@initech.test", "quinn@initech.test"},
    )
    # Omar keeps his sign-in but is no longer in the account; he can be invited again once a seat is free.
    with pytest.raises(InvalidInput, match="All 3 seats are taken"):
        invite_member(admin, customer, "omar@initech.test")
