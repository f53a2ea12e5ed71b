"""The staff API: package versions, simulations and the audit log (staff keys only): ``/api/v1/staff``.

Everything the staff pages do is possible here too. Every route needs a staff
key; a customer's key gets 403 whatever it asks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from portal.api.deps import ERRORS, Principal
from portal.services import (
    metrics,
    package_migrations,
    packages,
    products,
    rate_changes,
    simulation,
    staff_customers,
)
from portal.services.adoption import AdoptionView, adoption
from portal.services.api_keys import STAFF
from portal.services.audit import AuditView, audit_log
from portal.services.catalog import TierCard, lineup_preview

router = APIRouter(prefix="/api/v1/staff", tags=["staff"], responses=ERRORS)


class CloneIn(BaseModel):
    """What to clone a version into: the next version of its package, or (with ``key``) a new tier."""

    key: str = Field(
        default="", description="a new package key (lower-case letters, digits, dashes); empty: next version"
    )
    name: str = Field(default="", max_length=100, description="the new tier's name (with key)")
    rank: int | None = Field(default=None, ge=0, le=1000, description="the new tier's place in the line-up (with key)")


class SimulateIn(BaseModel):
    """How many closed periods to replay."""

    periods: int = Field(default=simulation.DEFAULT_PERIODS, ge=1, le=simulation.MAX_PERIODS)


@router.get("/packages", response_model=list[packages.VersionView])
def list_versions(principal: Principal) -> list[packages.VersionView]:
    """Every version of every package, in good-better-best order."""
    principal.require(STAFF)
    return packages.list_versions(principal)


@router.get("/packages/{version_id}", response_model=packages.VersionView)
def get_version(version_id: str, principal: Principal) -> packages.VersionView:
    """One version, with why it cannot be published yet (``publish_blocker``)."""
    principal.require(STAFF)
    return packages.version_detail(principal, version_id)


@router.post("/packages/{version_id}/clone", response_model=packages.VersionView, status_code=201)
def clone(version_id: str, body: CloneIn, principal: Principal) -> packages.VersionView:
    """Clone a version into a new draft."""
    principal.require(STAFF)
    return packages.clone_version(principal, version_id, key=body.key, name=body.name, rank=body.rank)


@router.patch("/packages/{version_id}", response_model=packages.VersionView)
def edit(version_id: str, changes: dict[str, Any], principal: Principal) -> packages.VersionView:
    """Change fields of a draft; amounts as decimal strings. Nothing is saved unless every field is right."""
    principal.require(STAFF)
    return packages.update_draft(principal, version_id, changes)


@router.delete("/packages/{version_id}", status_code=204)
def discard(version_id: str, principal: Principal) -> Response:
    """Discard a draft (and its simulations)."""
    principal.require(STAFF)
    packages.discard_draft(principal, version_id)
    return Response(status_code=204)


@router.post("/packages/{version_id}/publish", response_model=packages.VersionView)
def publish(version_id: str, principal: Principal) -> packages.VersionView:
    """Publish a draft whose simulation was acknowledged; 422 with the reason otherwise."""
    principal.require(STAFF)
    return packages.publish(principal, version_id)


class MigrationPending(BaseModel):
    """How many contracts are on older versions of the package, and why they cannot move yet ('' if they can)."""

    pending: int
    blocker: str


@router.get("/packages/{version_id}/migration", response_model=MigrationPending)
def migration_pending(version_id: str, principal: Principal) -> MigrationPending:
    """Who a migration to this published version would move."""
    principal.require(STAFF)
    pending, blocker = package_migrations.pending_count(principal, version_id)
    return MigrationPending(pending=pending, blocker=blocker)


@router.post("/packages/{version_id}/migration", response_model=package_migrations.MigrationView)
def migrate(version_id: str, principal: Principal) -> package_migrations.MigrationView:
    """Move every contract on an older version to this one from its next billing period (after an acknowledged
    simulation of this version)."""
    principal.require(STAFF)
    return package_migrations.schedule(principal, version_id)


@router.get("/packages/{version_id}/preview", response_model=list[TierCard])
def preview(version_id: str, principal: Principal) -> list[TierCard]:
    """The pricing page's line-up as customers would see it with this version in its package's place."""
    principal.require(STAFF)
    return lineup_preview(principal, version_id)


@router.post("/packages/{version_id}/simulations", response_model=simulation.SimulationView, status_code=202)
async def simulate(version_id: str, body: SimulateIn, principal: Principal) -> simulation.SimulationView:
    """Start simulating a draft in the background; poll the simulation until its status is not ``running``."""
    principal.require(STAFF)
    return await run_in_threadpool(simulation.start, principal, version_id, body.periods)


@router.get("/simulations/{simulation_id}", response_model=simulation.SimulationView)
def get_simulation(simulation_id: str, principal: Principal) -> simulation.SimulationView:
    """A simulation: its progress, then its per-customer rows and totals."""
    principal.require(STAFF)
    return simulation.view(principal, simulation_id)


@router.get("/simulations/{simulation_id}/csv", response_class=Response)
def simulation_csv(simulation_id: str, principal: Principal) -> Response:
    """The per-customer rows as CSV."""
    principal.require(STAFF)
    body = simulation.as_csv(simulation.view(principal, simulation_id))
    headers = {"Content-Disposition": f'attachment; filename="{simulation_id}.csv"'}
    return Response(body, media_type="text/csv", headers=headers)


@router.post("/simulations/{simulation_id}/acknowledge", response_model=simulation.SimulationView)
def acknowledge(simulation_id: str, principal: Principal) -> simulation.SimulationView:
    """Acknowledge a finished simulation of the draft as it still is (publishing needs it)."""
    principal.require(STAFF)
    return simulation.acknowledge(principal, simulation_id)


class RateCardRef(BaseModel):
    """A rate card's id and name."""

    id: str
    name: str


class PriceChangeIn(BaseModel):
    """A new price for one product of the card from a future whole hour (UTC)."""

    product_id: str
    starting_at: datetime
    price: dict[str, Any] = Field(description='a price model, e.g. {"model": "flat", "unit_price": "12"}')
    credit_type_id: str = Field(description="the unit the price is in: an ISO currency code or a credit type id")


@router.get("/products", response_model=list[products.ProductView])
def list_products(principal: Principal) -> list[products.ProductView]:
    """Every product a rate card may price."""
    principal.require(STAFF)
    return products.list_products(principal)


@router.post("/products", response_model=products.ProductView, status_code=201)
def create_product(definition: dict[str, Any], principal: Principal) -> products.ProductView:
    """Add a usage or fixed product ({name, kind, metric_id, per, rounding, pricing_group_key,
    presentation_group_key}); give it a price with a price change on a rate card."""
    principal.require(STAFF)
    return products.create_product(principal, definition)


@router.get("/rate-cards", response_model=list[RateCardRef])
def list_rate_cards(principal: Principal) -> list[RateCardRef]:
    """Every rate card."""
    principal.require(STAFF)
    return [RateCardRef(id=i, name=n) for i, n in rate_changes.list_rate_cards(principal)]


@router.get("/rate-cards/{rate_card_id}", response_model=rate_changes.RateCardView)
def get_rate_card(rate_card_id: str, principal: Principal) -> rate_changes.RateCardView:
    """A rate card's rates over time and its price changes."""
    principal.require(STAFF)
    return rate_changes.rate_card(principal, rate_card_id)


@router.post("/rate-cards/{rate_card_id}/changes", response_model=rate_changes.RateChangeView, status_code=201)
def propose_change(rate_card_id: str, body: PriceChangeIn, principal: Principal) -> rate_changes.RateChangeView:
    """Propose a price change (a draft: simulate it, acknowledge the simulation, then schedule it)."""
    principal.require(STAFF)
    return rate_changes.propose(
        principal, rate_card_id, body.product_id, body.starting_at, body.price, body.credit_type_id
    )


@router.get("/rate-changes/{change_id}", response_model=rate_changes.RateChangeView)
def get_change(change_id: str, principal: Principal) -> rate_changes.RateChangeView:
    """One price change, with why it cannot be scheduled yet (``schedule_blocker``)."""
    principal.require(STAFF)
    return rate_changes.change_detail(principal, change_id)


@router.delete("/rate-changes/{change_id}", status_code=204)
def discard_change(change_id: str, principal: Principal) -> Response:
    """Discard a draft price change."""
    principal.require(STAFF)
    rate_changes.discard(principal, change_id)
    return Response(status_code=204)


@router.post("/rate-changes/{change_id}/simulations", response_model=simulation.SimulationView, status_code=202)
async def simulate_change(change_id: str, body: SimulateIn, principal: Principal) -> simulation.SimulationView:
    """Start simulating a price change over the card's customers' last closed periods."""
    principal.require(STAFF)
    return await run_in_threadpool(simulation.start_price_change, principal, change_id, body.periods)


@router.post("/rate-changes/{change_id}/schedule", response_model=rate_changes.RateChangeView)
def schedule_change(change_id: str, principal: Principal) -> rate_changes.RateChangeView:
    """Schedule a simulated, acknowledged change: every customer on the card gets it at its time."""
    principal.require(STAFF)
    return rate_changes.schedule(principal, change_id)


@router.get("/metrics", response_model=list[metrics.MetricView])
def list_metrics(principal: Principal) -> list[metrics.MetricView]:
    """Every billable metric, active ones first."""
    principal.require(STAFF)
    return metrics.list_metrics(principal)


@router.post("/metrics/preview", response_model=metrics.MetricPreview)
def preview_metric(definition: dict[str, Any], principal: Principal) -> metrics.MetricPreview:
    """What a definition ({name, event_type, aggregation, aggregation_key, group_keys, filters}) makes of the
    newest stored events of its type: how many match, and sample values per group."""
    principal.require(STAFF)
    return metrics.preview(principal, definition)


@router.post("/metrics", response_model=metrics.MetricView, status_code=201)
def create_metric(definition: dict[str, Any], principal: Principal) -> metrics.MetricView:
    """Save a metric; it counts events ingested from now on."""
    principal.require(STAFF)
    return metrics.create_metric(principal, definition)


@router.post("/metrics/{metric_id}/archive", response_model=metrics.MetricView)
def archive_metric(metric_id: str, principal: Principal) -> metrics.MetricView:
    """Stop counting new events for a metric."""
    principal.require(STAFF)
    return metrics.archive_metric(principal, metric_id)


class GrantIn(BaseModel):
    """A credit granted by hand: how much, in what, why, and optionally when it starts and expires."""

    amount: str = Field(description="a decimal, e.g. '500'")
    credit_type_id: str
    reason: str = Field(min_length=1, max_length=500)
    starting_at: datetime | None = None
    ending_before: datetime | None = None


class VoidIn(BaseModel):
    """Why an invoice is voided."""

    reason: str = Field(min_length=1, max_length=500)


@router.get("/customers", response_model=list[staff_customers.CustomerMatch])
def search_customers(principal: Principal, search: str = "") -> list[staff_customers.CustomerMatch]:
    """Customers whose name, id or ingest alias contains ``search``."""
    principal.require(STAFF)
    return staff_customers.search(principal, search)


@router.post("/customers/{customer_id}/grants", response_model=staff_customers.ManualGrant, status_code=201)
def grant_credits(customer_id: str, body: GrantIn, principal: Principal) -> staff_customers.ManualGrant:
    """Grant the customer's current contract a credit by hand, with the reason."""
    principal.require(STAFF)
    return staff_customers.grant_credits(
        principal,
        customer_id,
        body.amount,
        body.credit_type_id,
        body.reason,
        starting_at=body.starting_at,
        ending_before=body.ending_before,
    )


@router.post("/invoices/{invoice_id}/void")
def void_invoice(invoice_id: str, body: VoidIn, principal: Principal) -> dict[str, str]:
    """Void a finalized, unpaid invoice; what it billed is billed again by the period's next draft."""
    principal.require(STAFF)
    return {"id": invoice_id, "status": staff_customers.void_invoice(principal, invoice_id, body.reason)}


@router.get("/adoption", response_model=AdoptionView)
def get_adoption(principal: Principal, months: int = 12) -> AdoptionView:
    """Customers, seats and revenue per tier and version, for each of the last ``months`` months."""
    principal.require(STAFF)
    return adoption(principal, months)


@router.get("/audit", response_model=list[AuditView])
def audit(principal: Principal, search: str = "", action: str = "") -> list[AuditView]:
    """The audit log, newest first, filtered by action and by text in the actor, subject or summary."""
    principal.require(STAFF)
    return audit_log(principal, search=search, action=action)
