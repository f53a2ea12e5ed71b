"""Tenant isolation of the HTTP API: every route, called with one customer's key and another customer's ids, is
refused and changes nothing; keys outside their scope are refused too.

:data:`ROUTES` says how to attack each route of :func:`portal.api.app.create_api`; the test walks the app's routes,
so a new route without an entry here fails until someone writes down how it is kept to its own tenant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.routing import _IncludedRouter
from starlette.routing import BaseRoute
from starlette.testclient import TestClient

from portal.api.app import create_api
from portal.db.models import utcnow
from portal.services.identity import SESSION_COOKIE
from tests.integration.security.conftest import World, changed_tables, snapshot

REFUSED = (403, 404)
CUSTOMER_KEYS = ("acme_read", "acme_ingest", "research_read", "globex_ingest")


@dataclass(frozen=True)
class Probe:
    """One request: which key sends it, where, with what body, and the statuses that mean it was refused."""

    key: str
    method: str
    url: str
    body: Any = None
    refused: tuple[int, ...] = REFUSED


@dataclass(frozen=True)
class Case:
    """How a route is attacked (``probes``), and requests by the rightful owner that must work (``controls``), so a
    refusal is not just a broken route."""

    probes: Callable[[World], list[Probe]]
    controls: Callable[[World], list[Probe]] = field(default=lambda _w: [])


def _foreign_customers(w: World) -> list[tuple[str, str]]:
    """(key, another tenant's customer id): a self-serve customer, a department against its parent and sibling, and
    an enterprise against a customer that is not one of its departments."""
    return [
        ("acme_read", w.globex),
        ("acme_read", w.research),
        ("research_read", w.globex),
        ("research_read", w.marketing),
        ("research_read", w.acme),
        ("globex_read", w.acme),
    ]


def customer_read(suffix: str, query: str = "") -> Case:
    """A read route under ``/api/v1/customers/{id}``: refused for other tenants' ids and for an ingest-only key; the
    owner's read key (and the enterprise's, for a department) gets it."""
    url = "/api/v1/customers/{}" + suffix + query

    def probes(w: World) -> list[Probe]:
        return [Probe(k, "GET", url.format(c)) for k, c in _foreign_customers(w)] + [
            Probe("acme_ingest", "GET", url.format(w.acme), refused=(403,))
        ]

    def controls(w: World) -> list[Probe]:
        return [Probe("acme_read", "GET", url.format(w.acme)), Probe("globex_read", "GET", url.format(w.research))]

    return Case(probes, controls)


def customer_post(suffix: str, body: dict[str, Any], staff_only: bool) -> Case:
    """A POST under ``/api/v1/customers/{id}``: refused for other tenants' ids (and, for a staff-only change, for the
    customer's own keys too)."""
    url = "/api/v1/customers/{}" + suffix

    def probes(w: World) -> list[Probe]:
        found = [Probe(k, "POST", url.format(c), body) for k, c in _foreign_customers(w)]
        found.append(Probe("acme_ingest", "POST", url.format(w.acme), body, refused=(403,)))
        if staff_only:
            found.append(Probe("acme_read", "POST", url.format(w.acme), body, refused=(403,)))
        return found

    def controls(w: World) -> list[Probe]:
        return [] if staff_only else [Probe("acme_read", "POST", url.format(w.acme), body)]

    return Case(probes, controls)


def staff_only(method: str, path: str, body: Any = None) -> Case:
    """A staff route (``path`` may name ``{version}``, ``{acme}`` and ``{invoice}``): every customer key gets 403."""
    return Case(lambda _w: [Probe(k, method, path, body, refused=(403,)) for k in CUSTOMER_KEYS])


def staff_read(path: str) -> Case:
    """A staff read route: 403 for customer keys, 200 for the staff key."""
    return Case(staff_only("GET", path).probes, lambda _w: [Probe("staff", "GET", path)])


def _ingest_foreign(w: World) -> list[Probe]:
    now = f"{utcnow():%Y-%m-%dT%H:%M:%SZ}"
    event = {"event_type": "ai_usage", "timestamp": now, "properties": {"tokens": "1", "user_id": "ann"}}
    batch = [
        {**event, "transaction_id": f"attack-{i}", "customer_id": target}
        for i, target in enumerate((w.globex, "globex-research", w.marketing))
    ]
    return [Probe("acme_read", "POST", "/api/v1/ingest", batch, refused=(403,))]


def _listed_customers(w: World) -> list[Probe]:
    return [Probe("acme_ingest", "GET", "/api/v1/customers", refused=(403,))]


PUBLIC: dict[str, str] = {
    "GET /api/openapi.json": "the API's description, no tenant data",
    "GET /api/docs": "the interactive docs page, no tenant data",
    "GET /docs/oauth2-redirect": "the docs page's sign-in helper, no tenant data",
    "GET /api/health": "database and provider status, no tenant data",
    "GET /api/v1/packages": "the public price list",
    "GET /api/auth/session": "activates a one-time sign-in ticket (tests/integration/test_session_protection.py)",
    "GET /api/auth/logout": "ends the caller's own session (tests/integration/test_session_protection.py)",
    "GET /api/auth/oidc/login": "starts a provider sign-in (tests/integration/test_oidc_sign_in.py)",
    "GET /api/auth/oidc/callback": "finishes a provider sign-in, bound to its state cookie (test_oidc_sign_in.py)",
    "POST /api/stripe/webhook": "Stripe's events, signed with STRIPE_WEBHOOK_SECRET (test_stripe_webhooks.py)",
}
"""Routes that take no API key: why each holds nothing of a tenant's, or where its own protection is tested."""

_SEATS = {"add": ["intruder@example.test"]}
_PRICE_CHANGE = {
    "product_id": "prd_ai_tokens",
    "starting_at": "2030-01-01T00:00:00Z",
    "price": {"model": "flat", "unit_price": "0"},
    "credit_type_id": "USD",
}
ROUTES: dict[str, Case] = {
    "POST /api/v1/ingest": Case(_ingest_foreign),
    "GET /api/v1/customers": Case(_listed_customers, lambda _w: [Probe("acme_read", "GET", "/api/v1/customers")]),
    "POST /api/v1/customers": Case(
        lambda w: [
            Probe(k, "POST", "/api/v1/customers", {"name": "Intruder", "parent_id": w.globex}, refused=(403,))
            for k in CUSTOMER_KEYS
        ]
    ),
    "GET /api/v1/customers/{customer_id}": customer_read(""),
    "GET /api/v1/customers/{customer_id}/usage": customer_read(
        "/usage", "?metric_id=met_ai_tokens&start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z"
    ),
    "GET /api/v1/customers/{customer_id}/entitlements": customer_read("/entitlements"),
    "GET /api/v1/customers/{customer_id}/entitlements/{feature}": Case(
        customer_read("/entitlements/api_access").probes,
        lambda w: [Probe("acme_read", "GET", f"/api/v1/customers/{w.acme}/entitlements/api_access")],
    ),
    "GET /api/v1/customers/{customer_id}/contract": customer_read("/contract"),
    "POST /api/v1/customers/{customer_id}/contract": customer_post("/contract", {"package": "team", "seats": 1}, True),
    "POST /api/v1/customers/{customer_id}/seats": customer_post("/seats", _SEATS, True),
    "POST /api/v1/customers/{customer_id}/seats/preview": customer_post("/seats/preview", _SEATS, False),
    "POST /api/v1/customers/{customer_id}/tier": customer_post("/tier", {"package": "business"}, True),
    "POST /api/v1/customers/{customer_id}/tier/preview": Case(
        customer_post("/tier/preview", {"package": "business"}, False).probes
    ),
    "GET /api/v1/customers/{customer_id}/balances": customer_read("/balances"),
    "GET /api/v1/customers/{customer_id}/invoices/draft": customer_read("/invoices/draft"),
    "GET /api/v1/customers/{customer_id}/invoices": customer_read("/invoices"),
    "GET /api/v1/staff/packages": staff_read("/api/v1/staff/packages"),
    "GET /api/v1/staff/packages/{version_id}": staff_read("/api/v1/staff/packages/{version}"),
    "POST /api/v1/staff/packages/{version_id}/clone": staff_only("POST", "/api/v1/staff/packages/{version}/clone", {}),
    "PATCH /api/v1/staff/packages/{version_id}": staff_only(
        "PATCH", "/api/v1/staff/packages/{version}", {"seat_price": "1"}
    ),
    "DELETE /api/v1/staff/packages/{version_id}": staff_only("DELETE", "/api/v1/staff/packages/{version}"),
    "POST /api/v1/staff/packages/{version_id}/publish": staff_only("POST", "/api/v1/staff/packages/{version}/publish"),
    "GET /api/v1/staff/packages/{version_id}/migration": staff_read("/api/v1/staff/packages/{version}/migration"),
    "POST /api/v1/staff/packages/{version_id}/migration": staff_only(
        "POST", "/api/v1/staff/packages/{version}/migration"
    ),
    "GET /api/v1/staff/packages/{version_id}/preview": staff_read("/api/v1/staff/packages/{version}/preview"),
    "POST /api/v1/staff/packages/{version_id}/simulations": staff_only(
        "POST", "/api/v1/staff/packages/{version}/simulations", {}
    ),
    "GET /api/v1/staff/simulations/{simulation_id}": staff_only("GET", "/api/v1/staff/simulations/sim_1"),
    "GET /api/v1/staff/simulations/{simulation_id}/csv": staff_only("GET", "/api/v1/staff/simulations/sim_1/csv"),
    "POST /api/v1/staff/simulations/{simulation_id}/acknowledge": staff_only(
        "POST", "/api/v1/staff/simulations/sim_1/acknowledge"
    ),
    "GET /api/v1/staff/products": staff_read("/api/v1/staff/products"),
    "POST /api/v1/staff/products": staff_only("POST", "/api/v1/staff/products", {"name": "x", "kind": "usage"}),
    "GET /api/v1/staff/rate-cards": staff_read("/api/v1/staff/rate-cards"),
    "GET /api/v1/staff/rate-cards/{rate_card_id}": staff_read("/api/v1/staff/rate-cards/rcd_standard"),
    "POST /api/v1/staff/rate-cards/{rate_card_id}/changes": staff_only(
        "POST", "/api/v1/staff/rate-cards/rcd_standard/changes", _PRICE_CHANGE
    ),
    "GET /api/v1/staff/rate-changes/{change_id}": staff_only("GET", "/api/v1/staff/rate-changes/rch_1"),
    "DELETE /api/v1/staff/rate-changes/{change_id}": staff_only("DELETE", "/api/v1/staff/rate-changes/rch_1"),
    "POST /api/v1/staff/rate-changes/{change_id}/simulations": staff_only(
        "POST", "/api/v1/staff/rate-changes/rch_1/simulations", {}
    ),
    "POST /api/v1/staff/rate-changes/{change_id}/schedule": staff_only(
        "POST", "/api/v1/staff/rate-changes/rch_1/schedule"
    ),
    "GET /api/v1/staff/metrics": staff_read("/api/v1/staff/metrics"),
    "POST /api/v1/staff/metrics/preview": staff_only(
        "POST", "/api/v1/staff/metrics/preview", {"event_type": "ai_usage"}
    ),
    "POST /api/v1/staff/metrics": staff_only("POST", "/api/v1/staff/metrics", {"name": "x"}),
    "POST /api/v1/staff/metrics/{metric_id}/archive": staff_only("POST", "/api/v1/staff/metrics/met_ai_tokens/archive"),
    "GET /api/v1/staff/customers": staff_read("/api/v1/staff/customers?search=globex"),
    "POST /api/v1/staff/customers/{customer_id}/grants": staff_only(
        "POST", "/api/v1/staff/customers/{acme}/grants", {"amount": "1", "credit_type_id": "USD", "reason": "x"}
    ),
    "POST /api/v1/staff/invoices/{invoice_id}/void": staff_only(
        "POST", "/api/v1/staff/invoices/{invoice}/void", {"reason": "x"}
    ),
    "GET /api/v1/staff/adoption": staff_read("/api/v1/staff/adoption"),
    "GET /api/v1/staff/audit": staff_read("/api/v1/staff/audit"),
}


def _walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[str]:
    """``METHOD /path`` of every route, also those of included routers (which FastAPI keeps as a tree)."""
    for route in routes:
        if isinstance(route, _IncludedRouter):
            yield from _walk(route.original_router.routes, prefix + route.include_context.prefix)
        else:
            for method in sorted(set(getattr(route, "methods", None) or ()) - {"HEAD"}):
                yield f"{method} {prefix}{getattr(route, 'path', '')}"


def app_routes(app: FastAPI) -> list[str]:
    """Every route the API serves, as ``METHOD /path``."""
    return list(_walk(app.routes))


def test_every_route_has_an_isolation_case_or_is_public() -> None:
    routes = app_routes(create_api())
    assert len(routes) > 50, "the walk found the routes of the included routers"
    missing = [r for r in routes if r not in ROUTES and r not in PUBLIC]
    assert not missing, (
        f"New API routes without a tenant-isolation case: {missing}. Add each to ROUTES in {__file__} (how another "
        "customer's key and ids are refused) or, if it serves no tenant data, to PUBLIC with the reason."
    )
    assert not (ROUTES.keys() | PUBLIC.keys()) - set(routes), "entries for routes that no longer exist"


def _send(client: TestClient, w: World, probe: Probe, version: str) -> Any:
    url = probe.url.format(version=version, acme=w.acme, invoice=w.acme_invoice)
    headers = {"Authorization": f"Bearer {w.keys[probe.key]}"}
    return client.request(probe.method, url, json=probe.body, headers=headers)


def test_keys_of_one_customer_are_refused_every_other_customers_data_and_change_nothing(world: World) -> None:
    client = TestClient(create_api())
    version = client.get("/api/v1/staff/packages", headers={"Authorization": f"Bearer {world.keys['staff']}"})
    version_id = version.json()[0]["id"]
    before = snapshot()
    leaks, broken = [], []
    for route, case in ROUTES.items():
        for probe in case.probes(world):
            response = _send(client, world, probe, version_id)
            if response.status_code not in probe.refused:
                leaks.append(f"{route}: {probe.key} {probe.method} {probe.url} -> {response.status_code}")
        for probe in case.controls(world):
            response = _send(client, world, probe, version_id)
            if not response.is_success:
                broken.append(f"{route}: {probe.key} {probe.url} -> {response.status_code} {response.text[:200]}")
    assert not leaks, "requests for another tenant (or outside the key's scope) were not refused:\n" + "\n".join(leaks)
    assert not broken, "the rightful owner's requests failed, so the refusals prove nothing:\n" + "\n".join(broken)
    assert changed_tables(before) == [], "a refused request changed data"


def test_an_ingest_key_cannot_record_usage_for_another_customer(world: World) -> None:
    client = TestClient(create_api())
    events = next(probe.body for probe in _ingest_foreign(world))
    before = snapshot()
    response = client.post(
        "/api/v1/ingest", json=events, headers={"Authorization": f"Bearer {world.keys['acme_ingest']}"}
    )
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == ["rejected"] * 3
    assert all("only send usage for its own customer" in r["reason"] for r in response.json()["results"]), (
        response.json()
    )
    assert changed_tables(before) == []


def test_a_customer_key_lists_only_its_own_customers(world: World) -> None:
    client = TestClient(create_api())
    listed = {
        owner: {
            c["id"]
            for c in client.get("/api/v1/customers", headers={"Authorization": f"Bearer {world.keys[owner]}"}).json()
        }
        for owner in ("acme_read", "research_read", "globex_read")
    }
    assert listed["acme_read"] == {world.acme}
    assert listed["research_read"] == {world.research}
    assert listed["globex_read"] == {world.globex, world.research, world.marketing}


def test_a_session_cookie_alone_opens_no_route_so_another_site_cannot_forge_requests(world: World) -> None:
    """The API authenticates by the ``Authorization`` header only, which a browser never adds to a request another
    site makes it send: a staff member's session cookie alone gets 401 on every route that needs a key."""
    client = TestClient(create_api(), cookies={SESSION_COOKIE: world.sessions["staff"]})
    before = snapshot()
    opened = []
    for route, case in ROUTES.items():
        probe = case.probes(world)[0]
        url = probe.url.format(version="pkv_any", acme=world.acme, invoice=world.acme_invoice)
        response = client.request(probe.method, url, json=probe.body, headers={"Origin": "https://evil.example"})
        if response.status_code != 401:
            opened.append(f"{route} -> {response.status_code}")
    assert not opened, "routes that answered a cookie without a key:\n" + "\n".join(opened)
    assert changed_tables(before) == []
