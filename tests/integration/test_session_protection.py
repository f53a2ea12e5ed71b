"""The session cookie and where requests come from: cross-site request forgery and websocket hijacking.

HTTP routes run through Starlette's test client; the websocket check runs on
the same function Reflex state calls (:func:`identity_of`) with the headers of
a websocket handshake. The e2e tier repeats the websocket check against the
running app.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from starlette.testclient import TestClient

from portal.api.app import create_api
from portal.services.demo import DEMO_PASSWORD, seed_demo
from portal.services.identity import SESSION_COOKIE, activate_session, resolve_session, sign_in
from portal.state.session import identity_of

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture(autouse=True)
def _demo(database: str) -> None:
    seed_demo()


def _ticket() -> str:
    return sign_in("admin@acme.test", DEMO_PASSWORD).token


def _session() -> str:
    token = _ticket()
    activate_session(token)
    return token


CROSS_SITE = [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}, {"Origin": "null"}]


def test_the_session_route_sets_an_http_only_lax_cookie_secure_on_https() -> None:
    client = TestClient(create_api(), base_url="https://portal.test")
    ticket = _ticket()
    response = client.get(
        "/api/auth/session",
        params={"ticket": ticket, "next": "/customer"},
        headers={"Sec-Fetch-Site": "same-site", "Origin": "https://portal.test:3000"},
        follow_redirects=False,
    )
    assert (response.status_code, response.headers["location"]) == (303, "/customer")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}={ticket};")
    for attribute in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"):
        assert attribute in cookie
    assert resolve_session(ticket) is not None


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_another_site_cannot_sign_a_browser_in(headers: dict[str, str]) -> None:
    client = TestClient(create_api(), base_url="https://portal.test")
    ticket = _ticket()
    response = client.get("/api/auth/session", params={"ticket": ticket}, headers=headers, follow_redirects=False)
    assert response.status_code == 403
    assert "came from another site" in response.json()["detail"]
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_another_site_cannot_sign_a_browser_out(headers: dict[str, str]) -> None:
    token = _session()
    client = TestClient(create_api(), base_url="https://portal.test", cookies={SESSION_COOKIE: token})
    response = client.get("/api/auth/logout", headers=headers, follow_redirects=False)
    assert response.status_code == 403
    assert resolve_session(token) is not None


def test_logout_from_the_portal_ends_the_session() -> None:
    token = _session()
    client = TestClient(create_api(), base_url="https://portal.test", cookies={SESSION_COOKIE: token})
    response = client.get("/api/auth/logout", headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False)
    assert response.status_code == 303
    assert resolve_session(token) is None


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/", "/\\evil.example/", "/\\/evil.example", "javascript:1"]
)
def test_redirects_never_leave_the_site(next_url: str) -> None:
    client = TestClient(create_api(), base_url="https://portal.test")
    response = client.get("/api/auth/session", params={"ticket": _ticket(), "next": next_url}, follow_redirects=False)
    assert response.headers["location"] == "/"


def _websocket(cookie: str | None, origin: str | None, host: str = "portal.test:8000") -> Any:
    """A stand-in for a Reflex state: only the websocket handshake's headers, as ``identity_of`` reads them."""
    return SimpleNamespace(router=SimpleNamespace(headers=SimpleNamespace(cookie=cookie, origin=origin, host=host)))


def test_a_websocket_opened_by_the_portals_own_pages_carries_the_identity() -> None:
    cookie = f"theme=dark; {SESSION_COOKIE}={_session()}"
    identity = identity_of(_websocket(cookie, "http://portal.test:3000"))
    assert identity is not None
    assert identity.email == "admin@acme.test"
    assert identity_of(_websocket(cookie, "https://PORTAL.test")) is not None


@pytest.mark.parametrize("origin", ["https://evil.example", "http://portal.test.evil.example", "null", None])
def test_a_websocket_opened_from_another_site_gets_nobody(origin: str | None) -> None:
    cookie = f"{SESSION_COOKIE}={_session()}"
    assert identity_of(_websocket(cookie, origin)) is None


def test_a_websocket_with_a_forged_or_no_cookie_gets_nobody() -> None:
    assert identity_of(_websocket(f"{SESSION_COOKIE}=forged", "http://portal.test:3000")) is None
    assert identity_of(_websocket(None, "http://portal.test:3000")) is None
