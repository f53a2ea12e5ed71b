"""Signing in through a real OpenID Connect provider (the local dev provider), driven with httpx.

The portal's API runs in-process on its own host name (``portal.test``); the
provider is the real one, on a loopback port. Each test runs once on SQLite
and once on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import select

from portal.api.app import create_api
from portal.auth.identity_provider import ExternalProfile
from portal.db.models import User
from portal.db.uow import UnitOfWork
from portal.services.demo import seed_demo
from portal.services.identity import SESSION_COOKIE, Identity, resolve_session
from portal.services.oidc_accounts import REFUSALS, ProviderSignInRefused, sign_in_with_provider
from tests.support.oidc_provider import STAFF_GROUP, DevProvider, running_provider, sign_in_at_provider
from tests.support.postgres import free_port
from tests.support.settings import settings_env

PORTAL = "http://portal.test"
CALLBACK = f"{PORTAL}/api/auth/oidc/callback"


@pytest.fixture(scope="module")
def provider() -> Iterator[DevProvider]:
    """The dev provider, accepting the portal's callback, for this module's tests."""
    with running_provider(free_port(), [CALLBACK]) as running:
        yield running


@pytest.fixture
def oidc(database: str, provider: DevProvider) -> Iterator[DevProvider]:
    """A demo database and a portal configured for the provider: groups asked for, Acme's domain mapped, staff group."""
    seed_demo()
    with settings_env(
        {
            **provider.settings(),
            "OIDC_SCOPES": "openid email profile groups",
            "OIDC_STAFF_GROUP": STAFF_GROUP,
            "OIDC_EMAIL_DOMAINS": "acme.test=acme",
            "PORTAL_PUBLIC_URL": PORTAL,
        }
    ):
        yield provider


@dataclass(frozen=True)
class Outcome:
    """Where the portal sent the browser after the provider, and who is signed in with the cookie it set."""

    location: str
    identity: Identity


async def _sign_in(login: str, next_url: str) -> Outcome:
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(mounts={PORTAL: transport}, timeout=10) as browser:
        start = await browser.get(f"{PORTAL}/api/auth/oidc/login", params={"next": next_url})
        assert start.status_code == 302, start.text
        back = await sign_in_at_provider(browser, start.headers["location"], login)
        assert back.headers["location"].startswith(CALLBACK)
        done = await browser.get(back.headers["location"])
        assert done.status_code == 303, done.text
        token = browser.cookies.get(SESSION_COOKIE, domain="portal.test")
        identity = await asyncio.to_thread(resolve_session, token)
        assert identity is not None, "the session cookie the portal set does not sign anyone in"
        return Outcome(done.headers["location"], identity)


def sign_in(login: str, next_url: str = f"{PORTAL}/") -> Outcome:
    """Sign in at the provider as ``login`` from the portal's login route, as a browser would."""
    return asyncio.run(_sign_in(login, next_url))


def test_the_login_route_asks_for_a_code_with_pkce(oidc: DevProvider) -> None:
    async def authorize_query() -> dict[str, list[str]]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_api())) as client:
            start = await client.get(f"{PORTAL}/api/auth/oidc/login")
        assert start.headers["location"].startswith(f"{oidc.issuer}/auth?")
        flow_cookie = start.headers["set-cookie"]
        assert "HttpOnly" in flow_cookie
        assert "Path=/api/auth/oidc" in flow_cookie
        return parse_qs(urlsplit(start.headers["location"]).query)

    query = asyncio.run(authorize_query())
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == [CALLBACK]
    assert query["scope"] == ["openid email profile groups"]


def test_first_sign_in_creates_the_user_and_the_next_one_finds_them_by_subject(oidc: DevProvider) -> None:
    first = sign_in("newcomer")
    assert first.location == f"{PORTAL}/"
    assert (first.identity.email, first.identity.customer_id, first.identity.is_staff) == (
        "newcomer@example.test",
        None,
        False,
    )
    assert first.identity.email_verified
    again = sign_in("newcomer")
    assert again.identity.user_id == first.identity.user_id
    with UnitOfWork() as uow:
        user = uow.session.exec(select(User).where(User.email == "newcomer@example.test")).one()
    assert (user.oidc_issuer, user.oidc_subject, user.password_hash) == (oidc.issuer, "newcomer", None)


def test_a_mapped_email_domain_makes_the_user_a_member_of_that_customer(oidc: DevProvider) -> None:
    outcome = sign_in("carol@acme.test")
    assert (outcome.identity.customer_name, outcome.identity.role) == ("Acme AI", "member")
    assert outcome.location == f"{PORTAL}/customer"


def test_the_customer_claim_names_the_customer_by_ingest_alias(oidc: DevProvider) -> None:
    with settings_env({"OIDC_CUSTOMER_CLAIM": "preferred_username"}):
        outcome = sign_in("globex-research")
    assert (outcome.identity.customer_name, outcome.identity.role) == ("Globex Research", "member")


def test_the_staff_group_grants_staff(oidc: DevProvider) -> None:
    alice, bob = sign_in("alice"), sign_in("bob")
    assert alice.identity.is_staff
    assert alice.location == f"{PORTAL}/staff"
    assert not bob.identity.is_staff


def test_an_existing_account_with_the_verified_address_is_linked_not_duplicated(oidc: DevProvider) -> None:
    with UnitOfWork() as uow:
        admin_id = uow.session.exec(select(User.id).where(User.email == "admin@acme.test")).one()
    outcome = sign_in("admin@acme.test")
    assert (outcome.identity.user_id, outcome.identity.role) == (admin_id, "admin")


def test_sign_in_goes_on_to_the_page_asked_for(oidc: DevProvider) -> None:
    outcome = sign_in("carol@acme.test", next_url=f"{PORTAL}/checkout?tier=team")
    assert outcome.location == f"{PORTAL}/checkout?tier=team"


def test_cancelling_at_the_provider_comes_back_to_the_sign_in_page(oidc: DevProvider) -> None:
    async def cancel() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_api())
        async with httpx.AsyncClient(mounts={PORTAL: transport}, timeout=10) as browser:
            start = await browser.get(f"{PORTAL}/api/auth/oidc/login", params={"next": PORTAL})
            back = await sign_in_at_provider(browser, start.headers["location"], "carol", cancel=True)
            return await browser.get(back.headers["location"])

    done = asyncio.run(cancel())
    assert done.headers["location"] == f"{PORTAL}/sign-in?provider_error=cancelled"
    assert SESSION_COOKIE not in done.headers.get("set-cookie", "")


def test_a_callback_from_another_browser_is_refused(oidc: DevProvider) -> None:
    async def replay() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_api())
        async with httpx.AsyncClient(mounts={PORTAL: transport}, timeout=10) as browser:
            start = await browser.get(f"{PORTAL}/api/auth/oidc/login", params={"next": PORTAL})
            back = await sign_in_at_provider(browser, start.headers["location"], "mallory")
        # An attacker's code, sent to a victim whose browser never started this flow (no flow cookie).
        async with httpx.AsyncClient(transport=transport) as victim:
            return await victim.get(back.headers["location"])

    done = asyncio.run(replay())
    assert done.status_code == 303
    assert done.headers["location"] == f"{PORTAL}/sign-in?provider_error=failed"
    assert SESSION_COOKIE not in done.headers.get("set-cookie", "")


def test_an_unreachable_provider_is_explained(database: str) -> None:
    with settings_env(
        {"OIDC_ISSUER": f"http://127.0.0.1:{free_port()}", "OIDC_CLIENT_ID": "x", "OIDC_CLIENT_SECRET": "y"}
    ):

        async def start() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_api())) as client:
                return await client.get(f"{PORTAL}/api/auth/oidc/login", params={"next": PORTAL})

        response = asyncio.run(start())
    assert response.headers["location"] == f"{PORTAL}/sign-in?provider_error=unavailable"


def test_without_a_provider_the_routes_say_so(database: str) -> None:
    async def start() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_api())) as client:
            return await client.get(f"{PORTAL}/api/auth/oidc/login")

    response = asyncio.run(start())
    assert response.status_code == 404
    assert "not configured" in response.json()["detail"]


# What the dev provider never sends (it verifies every address and has no customer claim): the service alone.


def _profile(
    subject: str, email: str, verified: bool = True, groups: tuple[str, ...] = (), **claims: str
) -> ExternalProfile:
    return ExternalProfile("https://idp.test", subject, email, verified, subject, groups, claims)


def test_an_unverified_address_that_belongs_to_an_account_is_refused(oidc: DevProvider) -> None:
    with pytest.raises(ProviderSignInRefused, match="already exists"):
        sign_in_with_provider(_profile("eve", "admin@acme.test", verified=False))


def test_an_account_linked_to_another_subject_is_not_taken_over(oidc: DevProvider) -> None:
    sign_in_with_provider(_profile("dana-1", "dana@example.test"))
    with pytest.raises(ProviderSignInRefused) as refused:
        sign_in_with_provider(_profile("dana-2", "dana@example.test"))
    assert refused.value.reason == "email_taken"


def test_a_profile_without_email_is_refused(oidc: DevProvider) -> None:
    with pytest.raises(ProviderSignInRefused, match=REFUSALS["no_email"][:30]):
        sign_in_with_provider(_profile("nomail", ""))


def test_an_unverified_address_does_not_map_by_domain(oidc: DevProvider) -> None:
    identity = sign_in_with_provider(_profile("sly", "sly@acme.test", verified=False)).identity
    assert (identity.customer_id, identity.email_verified) == (None, False)


def test_a_claim_naming_an_unknown_customer_is_logged_and_ignored(
    oidc: DevProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with settings_env({"OIDC_CUSTOMER_CLAIM": "customer"}), caplog.at_level(logging.WARNING):
        identity = sign_in_with_provider(_profile("zed", "zed@example.test", customer="no-such-alias")).identity
    assert identity.customer_id is None
    assert "no-such-alias" in caplog.text


def test_leaving_the_staff_group_takes_staff_away_and_the_customer_stays(oidc: DevProvider) -> None:
    assert sign_in_with_provider(_profile("sam", "sam@acme.test", groups=(STAFF_GROUP,))).identity.is_staff
    again = sign_in_with_provider(_profile("sam", "sam@acme.test", groups=())).identity
    assert not again.is_staff
    assert again.customer_name == "Acme AI"
