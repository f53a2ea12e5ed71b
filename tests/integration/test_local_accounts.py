"""Email-and-password accounts: sign-up, verification links, password reset (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from portal.db.models import utcnow
from portal.services.demo import DEMO_PASSWORD, seed_demo
from portal.services.errors import InvalidInput
from portal.services.identity import activate_session, resolve_session, sign_in
from portal.services.local_accounts import (
    RESET_REQUESTED,
    request_password_reset,
    resend_verification,
    reset_link_problem,
    reset_password,
    sign_up,
    verify_email,
)
from tests.support.mail import Outbox
from tests.support.settings import settings_env

PASSWORD = "correct horse 42"
NEW_PASSWORD = "battery staple 7!"


@pytest.fixture(autouse=True)
def _demo(database: str) -> Iterator[None]:
    seed_demo()
    with settings_env({"PORTAL_PUBLIC_URL": "https://portal.example"}):
        yield


def _token(outbox: Outbox, address: str, path: str) -> str:
    return parse_qs(urlsplit(outbox.last_link(address, path)).query)["token"][0]


def test_sign_up_creates_an_unverified_user_without_a_customer_and_signs_them_in(outbox: Outbox) -> None:
    pending = sign_up(" Nina@Initech.test ", PASSWORD, " Nina New ", "Initech")
    assert (pending.identity.email, pending.identity.name, pending.identity.company_name) == (
        "nina@initech.test",
        "Nina New",
        "Initech",
    )
    assert (pending.identity.customer_id, pending.identity.email_verified) == (None, False)
    activate_session(pending.token)
    assert resolve_session(pending.token) == pending.identity
    assert sign_in("nina@initech.test", PASSWORD).identity.user_id == pending.identity.user_id
    [message] = outbox.to("nina@initech.test")
    assert "Subject: Verify your email address for Portal" in message
    assert "https://portal.example/verify-email?token=" in message


@pytest.mark.parametrize(
    ("email", "password", "name", "problem"),
    [
        ("not-an-address", PASSWORD, "Nina", "Enter a valid email address"),
        ("nina@initech.test", PASSWORD, "  ", "Enter your name"),
        ("nina@initech.test", "short 1", "Nina", "too short: use at least 12 characters"),
        ("nina@initech.test", "onlylettersinhere", "Nina", "Mix letters with at least one digit or symbol"),
        ("nina@initech.test", "123456789012345", "Nina", "Mix letters with at least one digit or symbol"),
        ("nina@initech.test", "nina@initech.test1", "Nina", "must not contain your email address"),
        ("admin@acme.test", PASSWORD, "Ada Again", "An account already uses this email address"),
    ],
)
def test_sign_up_names_what_is_wrong(email: str, password: str, name: str, problem: str, outbox: Outbox) -> None:
    with pytest.raises(InvalidInput, match=problem):
        sign_up(email, password, name)
    assert outbox.messages == []


def test_a_verification_link_verifies_once(outbox: Outbox) -> None:
    pending = sign_up("nina@initech.test", PASSWORD, "Nina")
    token = _token(outbox, "nina@initech.test", "/verify-email")
    assert verify_email(token) == "nina@initech.test"
    activate_session(pending.token)
    identity = resolve_session(pending.token)
    assert identity is not None
    assert identity.email_verified
    with pytest.raises(InvalidInput, match="already used: your email address is verified"):
        verify_email(token)


def test_a_verification_link_expires_after_48_hours(outbox: Outbox) -> None:
    sign_up("nina@initech.test", PASSWORD, "Nina")
    token = _token(outbox, "nina@initech.test", "/verify-email")
    with pytest.raises(InvalidInput, match="has expired: sign in and ask for a new one"):
        verify_email(token, now=utcnow() + timedelta(hours=48, seconds=1))
    assert verify_email(token, now=utcnow() + timedelta(hours=47)) == "nina@initech.test"


@pytest.mark.parametrize("token", ["", "forged-token"])
def test_a_forged_verification_link_is_not_valid(token: str) -> None:
    with pytest.raises(InvalidInput, match="not valid"):
        verify_email(token)


def test_a_new_verification_link_at_most_once_a_minute(outbox: Outbox) -> None:
    identity = sign_up("nina@initech.test", PASSWORD, "Nina").identity
    with pytest.raises(InvalidInput, match="less than a minute ago"):
        resend_verification(identity)
    resend_verification(identity, now=utcnow() + timedelta(minutes=2))
    assert len(outbox.to("nina@initech.test")) == 2
    verify_email(_token(outbox, "nina@initech.test", "/verify-email"), now=utcnow() + timedelta(minutes=3))
    verified = sign_in("nina@initech.test", PASSWORD).identity
    with pytest.raises(InvalidInput, match="already verified"):
        resend_verification(verified)


def test_a_reset_request_answers_the_same_whether_or_not_the_account_exists(outbox: Outbox) -> None:
    assert request_password_reset("nobody@acme.test") == RESET_REQUESTED
    assert request_password_reset("Admin@Acme.test") == RESET_REQUESTED
    assert outbox.to("nobody@acme.test") == []
    [message] = outbox.to("admin@acme.test")
    assert "https://portal.example/reset-password?token=" in message


def test_a_reset_sets_the_password_ends_every_other_session_and_signs_in(outbox: Outbox) -> None:
    elsewhere = sign_in("admin@acme.test", DEMO_PASSWORD)
    activate_session(elsewhere.token)
    request_password_reset("admin@acme.test")
    token = _token(outbox, "admin@acme.test", "/reset-password")
    assert reset_link_problem(token) is None
    pending = reset_password(token, NEW_PASSWORD)
    assert resolve_session(elsewhere.token) is None, "the reset must end the sessions signed in before it"
    activate_session(pending.token)
    assert resolve_session(pending.token) is not None
    assert sign_in("admin@acme.test", NEW_PASSWORD).identity.email == "admin@acme.test"
    with pytest.raises(InvalidInput, match="do not match"):
        sign_in("admin@acme.test", DEMO_PASSWORD)


def test_a_reset_link_works_once(outbox: Outbox) -> None:
    request_password_reset("member@acme.test")
    token = _token(outbox, "member@acme.test", "/reset-password")
    reset_password(token, NEW_PASSWORD)
    with pytest.raises(InvalidInput, match="already used"):
        reset_password(token, "another passw0rd!")
    assert reset_link_problem(token) is not None


def test_a_reset_link_expires_after_an_hour(outbox: Outbox) -> None:
    request_password_reset("member@acme.test")
    token = _token(outbox, "member@acme.test", "/reset-password")
    later = utcnow() + timedelta(hours=1, seconds=1)
    assert reset_link_problem(token, now=later) == "This password reset link has expired: ask for a new one."
    with pytest.raises(InvalidInput, match="has expired"):
        reset_password(token, NEW_PASSWORD, now=later)


def test_a_weak_new_password_does_not_spend_the_link(outbox: Outbox) -> None:
    request_password_reset("member@acme.test")
    token = _token(outbox, "member@acme.test", "/reset-password")
    with pytest.raises(InvalidInput, match="too short"):
        reset_password(token, "short")
    reset_password(token, NEW_PASSWORD)


def test_a_newer_reset_link_is_not_sent_within_a_minute_and_using_one_spends_the_others(outbox: Outbox) -> None:
    request_password_reset("member@acme.test")
    request_password_reset("member@acme.test")
    assert len(outbox.to("member@acme.test")) == 1
    first = _token(outbox, "member@acme.test", "/reset-password")
    request_password_reset("member@acme.test", now=utcnow() + timedelta(minutes=2))
    second = _token(outbox, "member@acme.test", "/reset-password")
    assert first != second
    reset_password(second, NEW_PASSWORD, now=utcnow() + timedelta(minutes=3))
    with pytest.raises(InvalidInput, match="already used"):
        reset_password(first, "another passw0rd!", now=utcnow() + timedelta(minutes=4))


def test_a_reset_verifies_the_address(outbox: Outbox) -> None:
    sign_up("nina@initech.test", PASSWORD, "Nina")
    request_password_reset("nina@initech.test")
    pending = reset_password(_token(outbox, "nina@initech.test", "/reset-password"), NEW_PASSWORD)
    assert pending.identity.email_verified
