"""API keys: who may create, see and revoke them; shown once, stored hashed; last used time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from portal.db.models import ApiKey, utcnow
from portal.db.uow import UnitOfWork
from portal.services.api_keys import authenticate, create_api_key, list_api_keys, revoke_api_key
from portal.services.demo import DEMO_PASSWORD, seed_demo
from portal.services.errors import Forbidden, InvalidInput, NotFound, NotSignedIn
from portal.services.identity import Identity, sign_in


@pytest.fixture(autouse=True)
def _demo(database: str) -> None:
    seed_demo()


def _who(email: str) -> Identity:
    return sign_in(email, DEMO_PASSWORD).identity


def test_an_admin_creates_a_key_for_their_customer_and_sees_it_once() -> None:
    admin = _who("admin@acme.test")
    created = create_api_key(admin, "  Production backend ", ["ingest", "read", "ingest"])
    assert created.key.name == "Production backend"
    assert created.key.scopes == ("ingest", "read")
    assert created.key.customer_id == admin.customer_id
    assert created.token.startswith(created.key.id + ".")
    with UnitOfWork() as uow:
        stored = uow.session.exec(select(ApiKey)).one()
    assert created.token.split(".", 1)[1] not in stored.secret_hash
    assert [k.name for k in list_api_keys(admin)] == ["Production backend"]
    principal = authenticate(f"Bearer {created.token}")
    assert (principal.customer_id, principal.scopes) == (admin.customer_id, ("ingest", "read"))


def test_members_cannot_manage_keys_and_admins_only_their_own() -> None:
    with pytest.raises(Forbidden, match="Only an admin"):
        create_api_key(_who("member@acme.test"), "x", ["ingest"])
    globex = _who("admin@globex.test")
    with pytest.raises(Forbidden, match="your own account"):
        create_api_key(_who("admin@acme.test"), "x", ["ingest"], customer_id=globex.customer_id)
    acme_key = create_api_key(_who("admin@acme.test"), "acme", ["read"])
    with pytest.raises(NotFound):
        revoke_api_key(globex, acme_key.key.id)
    assert list_api_keys(globex) == []


@pytest.mark.parametrize(
    ("scopes", "customer", "message"),
    [
        ([], True, "Choose at least one scope"),
        (["write"], True, "Unknown scope 'write'"),
        (["staff"], True, "cannot have the staff scope"),
        (["ingest"], False, "give it the staff scope only"),
    ],
)
def test_scope_rules_name_what_is_wrong(scopes: list[str], customer: bool, message: str) -> None:
    staff = _who("staff@portal.test")
    customer_id = _who("admin@acme.test").customer_id if customer else None
    with pytest.raises(InvalidInput, match=message):
        create_api_key(staff, "k", scopes, customer_id)


def test_a_key_needs_a_name() -> None:
    with pytest.raises(InvalidInput, match="Give the key a name"):
        create_api_key(_who("admin@acme.test"), "   ", ["ingest"])


def test_staff_create_staff_keys_and_see_every_key() -> None:
    staff = _who("staff@portal.test")
    create_api_key(staff, "ops", ["staff"])
    create_api_key(_who("admin@acme.test"), "acme", ["ingest"])
    assert {(k.name, k.customer_name) for k in list_api_keys(staff)} == {("ops", ""), ("acme", "Acme AI")}


def test_revoking_refuses_the_key_at_once_and_keeps_the_first_revocation_time() -> None:
    admin = _who("admin@acme.test")
    created = create_api_key(admin, "k", ["ingest"])
    first = revoke_api_key(admin, created.key.id)
    again = revoke_api_key(admin, created.key.id)
    assert first.revoked_at == again.revoked_at
    with pytest.raises(NotSignedIn, match="was revoked"):
        authenticate(f"Bearer {created.token}")


def test_last_used_is_recorded_at_most_once_a_minute() -> None:
    created = create_api_key(_who("admin@acme.test"), "k", ["ingest"])
    start = utcnow()
    authenticate(f"Bearer {created.token}", now=start)
    authenticate(f"Bearer {created.token}", now=start + timedelta(seconds=30))
    assert list_api_keys(_who("admin@acme.test"))[0].last_used_at == start
    authenticate(f"Bearer {created.token}", now=start + timedelta(minutes=2))
    assert list_api_keys(_who("admin@acme.test"))[0].last_used_at == start + timedelta(minutes=2)


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer nodot", "Bearer key_x.secret"])
def test_malformed_or_unknown_keys_are_not_signed_in(header: str | None) -> None:
    with pytest.raises(NotSignedIn):
        authenticate(header)
