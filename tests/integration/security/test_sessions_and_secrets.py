"""Sessions (fixation, signing out from the UI), secrets at rest, and production mode's refusal to start without its
secrets.

Cookie flags, cross-site sign-in and sign-out and the websocket's origin check are in
tests/integration/test_session_protection.py; sign-in limits in tests/integration/test_sign_in_limits.py.

Outgoing webhooks' signing secrets are stored as they are, by design: the portal computes each delivery's HMAC with
the secret, so it must be able to read it (a hash would not do), and the customer's admins may look it up at any
time, as with Stripe's. Who may see them is covered by the isolation and role tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError
from sqlmodel import select
from starlette.testclient import TestClient

from portal.api.app import create_api
from portal.cli import prepare_to_serve
from portal.config import get_settings
from portal.db.models import User
from portal.db.uow import UnitOfWork
from portal.services import api_keys
from portal.services.demo import DEMO_PASSWORD
from portal.services.identity import SESSION_COOKIE, activate_session, resolve_session, sign_in
from portal.services.local_accounts import request_password_reset
from portal.state.session import SessionState
from tests.integration.security.conftest import World, snapshot
from tests.support.database import migrated, new_sqlite_url
from tests.support.mail import Outbox
from tests.support.postgres import free_port
from tests.support.processes import stop
from tests.support.settings import settings_env
from tests.support.ui_state import fire, substate, tab

PORTAL = str(Path(sys.executable).with_name("portal"))
SAME_SITE = {"Sec-Fetch-Site": "same-origin"}


def _ticket() -> str:
    return sign_in("admin@acme.test", DEMO_PASSWORD).token


def test_a_session_id_planted_before_sign_in_is_not_the_one_after(world: World) -> None:
    planted = "attacker-chosen-session-id"
    client = TestClient(create_api(), base_url="https://portal.test", cookies={SESSION_COOKIE: planted})
    ticket = _ticket()
    response = client.get("/api/auth/session", params={"ticket": ticket}, headers=SAME_SITE, follow_redirects=False)
    assert response.headers["set-cookie"].startswith(f"{SESSION_COOKIE}={ticket};")
    assert ticket != planted
    assert resolve_session(planted) is None
    assert resolve_session(ticket) is not None
    with pytest.raises(Exception, match="expired or was already used"):
        activate_session(planted)


def test_signing_in_again_ends_the_session_the_browser_had(world: World) -> None:
    earlier = _ticket()
    activate_session(earlier)
    client = TestClient(create_api(), base_url="https://portal.test", cookies={SESSION_COOKIE: earlier})
    client.get("/api/auth/session", params={"ticket": _ticket()}, headers=SAME_SITE, follow_redirects=False)
    assert resolve_session(earlier) is None, "the replaced session still works"


def test_signing_out_in_the_ui_ends_the_session_on_the_server(world: World) -> None:
    token = _ticket()
    activate_session(token)
    signed_in = tab(token, "/customer")
    fire(signed_in, SessionState.load)
    assert substate(signed_in, SessionState).user_email == "admin@acme.test"
    fire(signed_in, SessionState.sign_out)
    assert resolve_session(token) is None
    old_cookie = tab(token, "/customer")
    fire(old_cookie, SessionState.load)
    assert substate(old_cookie, SessionState).user_email == "", "the old cookie still signs a tab in"


def _stored_text() -> str:
    """Every value of every row of the database, as one text."""
    return repr(snapshot())


def test_keys_sessions_and_reset_links_are_stored_only_as_hashes(world: World, outbox: Outbox) -> None:
    key = api_keys.create_api_key(world.who("acme_admin"), "hashed", ["read"]).token
    session = _ticket()
    activate_session(session)
    request_password_reset("member@acme.test")
    reset_link = outbox.last_link("member@acme.test", "/reset-password")
    reset_token = parse_qs(urlsplit(reset_link).query)["token"][0]
    stored = _stored_text()
    secret = key.split(".", 1)[1]
    assert all(len(plaintext) >= 32 for plaintext in (secret, session, reset_token))
    for plaintext in (key, secret, session, reset_token):
        assert plaintext not in stored
    assert api_keys.authenticate(f"Bearer {key}").customer_id == world.acme, "the key works from its hash"


PRODUCTION = {"PORTAL_PRODUCTION": "true"}
SECRETS = {"PORTAL_SECRET_KEY": "s" * 40, "PORTAL_PUBLIC_URL": "https://portal.example.com"}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, ["PORTAL_SECRET_KEY", "PORTAL_PUBLIC_URL"]),
        ({**SECRETS, "PORTAL_SECRET_KEY": "short"}, ["PORTAL_SECRET_KEY is set to a random string of at least 32"]),
        ({**SECRETS, "PORTAL_PUBLIC_URL": "http://portal.example.com"}, ["PORTAL_PUBLIC_URL is set to the https://"]),
        (
            {**SECRETS, "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_PUBLISHABLE_KEY": "pk_live_x"},
            ["STRIPE_WEBHOOK_SECRET"],
        ),
    ],
)
def test_production_mode_refuses_settings_without_its_secrets(env: dict[str, str], named: list[str]) -> None:
    with pytest.raises(ValidationError) as refused, settings_env({**PRODUCTION, **env}):
        get_settings()
    for text in named:
        assert text in str(refused.value)


def test_production_mode_starts_with_its_secrets_and_without_demo_accounts(tmp_path: Path) -> None:
    with migrated(new_sqlite_url(tmp_path)), settings_env({**PRODUCTION, **SECRETS}):
        assert get_settings().production
        prepare_to_serve()
        with UnitOfWork() as uow:
            assert uow.session.exec(select(User)).all() == [], "no demo accounts (their password is public)"


def test_production_mode_marks_the_session_cookie_secure_behind_a_plain_http_proxy(world: World) -> None:
    client = TestClient(create_api(), base_url="http://portal.test")
    with settings_env({**PRODUCTION, **SECRETS}):
        response = client.get(
            "/api/auth/session", params={"ticket": _ticket()}, headers=SAME_SITE, follow_redirects=False
        )
    assert "Secure" in response.headers["set-cookie"]


def test_portal_run_refuses_to_start_in_production_mode_without_its_secrets(tmp_path: Path) -> None:
    env = {**os.environ, "REFLEX_DB_URL": new_sqlite_url(tmp_path), **PRODUCTION}
    for name in ("PORTAL_SECRET_KEY", "PORTAL_PUBLIC_URL", "STRIPE_SECRET_KEY"):
        env.pop(name, None)
    process = subprocess.Popen(
        [PORTAL, "run", "--port", str(free_port())],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # should it start serving after all, its whole group is stopped below
    )
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        stop(process, signal.SIGTERM, 10, group=True)
        pytest.fail("portal run started serving in production mode without its secrets")
    assert process.returncode == 2, (out + err).decode()
    message = err.decode()
    assert "portal run: the settings are not valid: PORTAL_PRODUCTION is on" in message
    assert "PORTAL_SECRET_KEY" in message
    assert "PORTAL_PUBLIC_URL" in message
    assert "Traceback" not in message
    assert b"Demo sign-in accounts" not in out
