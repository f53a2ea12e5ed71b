"""The HTTP API: health, docs, the public catalog, and the sign-in cookie routes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from portal.api.app import create_api
from portal.services.demo import DEMO_PASSWORD, seed_demo
from portal.services.identity import SESSION_COOKIE, resolve_session, sign_in
from tests.support.database import new_sqlite_url, use_database


@pytest.fixture
def client(database: str) -> Iterator[TestClient]:
    seed_demo()
    with TestClient(create_api(), base_url="http://127.0.0.1:3000") as test_client:
        yield test_client


def test_health_reports_database_and_integrations(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["payments"] == "not configured"
    assert body["sign_in"] == ["password"]


def test_health_is_503_when_the_schema_is_missing(tmp_path: Path) -> None:
    with use_database(new_sqlite_url(tmp_path)), TestClient(create_api()) as test_client:
        response = test_client.get("/api/health")
    assert response.status_code == 503
    assert "run `portal migrate`" in response.json()["database"]


def test_interactive_docs_and_openapi_are_served(client: TestClient) -> None:
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"/api/health", "/api/v1/packages"} <= set(paths)


def test_packages_lists_published_tiers(client: TestClient) -> None:
    tiers = client.get("/api/v1/packages").json()
    assert [(t["key"], t["seat_price"]) for t in tiers] == [
        ("starter", "$20.00"),
        ("team", "$40.00"),
        ("business", "$75.00"),
    ]


def test_session_route_sets_an_http_only_cookie_and_redirects_locally(client: TestClient) -> None:
    pending = sign_in("member@acme.test", DEMO_PASSWORD)
    response = client.get(
        "/api/auth/session",
        params={"ticket": pending.token, "next": "http://127.0.0.1:3001/customer"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "http://127.0.0.1:3001/customer"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert resolve_session(pending.token) is not None


@pytest.mark.parametrize("target", ["https://evil.example/steal", "//evil.example/x", "javascript:alert(1)"])
def test_session_route_never_redirects_off_site(client: TestClient, target: str) -> None:
    pending = sign_in("member@acme.test", DEMO_PASSWORD)
    response = client.get("/api/auth/session", params={"ticket": pending.token, "next": target}, follow_redirects=False)
    assert response.headers["location"] == "/"


def test_a_used_or_forged_ticket_is_refused_with_401(client: TestClient) -> None:
    response = client.get("/api/auth/session", params={"ticket": "forged"}, follow_redirects=False)
    assert response.status_code == 401
    assert "sign in again" in response.json()["detail"]


def test_logout_ends_the_session_and_clears_the_cookie(client: TestClient) -> None:
    pending = sign_in("member@acme.test", DEMO_PASSWORD)
    client.get("/api/auth/session", params={"ticket": pending.token}, follow_redirects=False)
    response = client.get("/api/auth/logout", params={"next": "/"}, follow_redirects=False)
    assert response.status_code == 303
    assert f'{SESSION_COOKIE}=""' in response.headers["set-cookie"]
    assert resolve_session(pending.token) is None
