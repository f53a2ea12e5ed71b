"""Signing in and out: pending sessions, one-time activation, expiry, and server-side sign-out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.db.models import utcnow
from portal.services.demo import DEMO_PASSWORD, seed_demo
from portal.services.errors import InvalidInput, NotSignedIn
from portal.services.identity import activate_session, resolve_session, sign_in, sign_out

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture(autouse=True)
def _demo(database: str) -> None:
    seed_demo()


def test_sign_in_activate_and_resolve() -> None:
    pending = sign_in("  Admin@Acme.test ", DEMO_PASSWORD)
    assert pending.identity.email == "admin@acme.test"
    assert resolve_session(pending.token) is None, "a pending session grants nothing before activation"
    activate_session(pending.token)
    identity = resolve_session(pending.token)
    assert identity is not None
    assert (identity.customer_name, identity.role, identity.is_staff) == ("Acme AI", "admin", False)
    assert identity.is_customer_admin
    assert not identity.is_enterprise_admin


def test_enterprise_admin_and_staff_are_recognised() -> None:
    assert sign_in("admin@globex.test", DEMO_PASSWORD).identity.is_enterprise_admin
    assert sign_in("staff@portal.test", DEMO_PASSWORD).identity.is_staff


@pytest.mark.parametrize(("email", "password"), [("admin@acme.test", "wrong"), ("nobody@acme.test", DEMO_PASSWORD)])
def test_wrong_password_and_unknown_account_get_the_same_message(email: str, password: str) -> None:
    with pytest.raises(InvalidInput, match="do not match an account"):
        sign_in(email, password)


def test_empty_form_names_what_is_missing() -> None:
    with pytest.raises(InvalidInput, match="Enter your email address and password"):
        sign_in("", "")


def test_a_sign_in_token_activates_once_and_only_within_a_minute() -> None:
    pending = sign_in("member@acme.test", DEMO_PASSWORD)
    activate_session(pending.token)
    with pytest.raises(NotSignedIn, match="expired or was already used"):
        activate_session(pending.token)
    late = sign_in("member@acme.test", DEMO_PASSWORD)
    with pytest.raises(NotSignedIn):
        activate_session(late.token, now=utcnow() + timedelta(minutes=2))


def test_expired_and_forged_sessions_resolve_to_nobody() -> None:
    pending = sign_in("member@acme.test", DEMO_PASSWORD)
    activate_session(pending.token)
    assert resolve_session(pending.token, now=utcnow() + timedelta(days=15)) is None
    assert resolve_session("forged-token") is None
    assert resolve_session(None) is None


def test_sign_out_ends_the_session_server_side() -> None:
    pending = sign_in("member@acme.test", DEMO_PASSWORD)
    activate_session(pending.token)
    sign_out(pending.token)
    assert resolve_session(pending.token) is None
