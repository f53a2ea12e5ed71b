"""Contracts, seats, balances and invoices over HTTP (all figures from the rating engine).

Money is sent as formatted strings and integer minor units; credit amounts as
formatted strings and exact decimal strings (``remaining_units``). Nothing
passes through a float.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from portal.api.deps import ERRORS, Principal
from portal.domain.seats import MAX_SEATS
from portal.services import billing, purchase
from portal.services.api_keys import READ, STAFF

router = APIRouter(prefix="/api/v1/customers/{customer_id}", tags=["contracts and invoices"])


class ProvisionIn(BaseModel):
    """Put a customer on a package."""

    package: str = Field(description="a package alias such as 'team' (its newest published version) or a version id")
    seats: int = Field(ge=0, le=MAX_SEATS, description="number of seats bought")
    seat_ids: list[str] = Field(default_factory=list, description="who holds the first seats (e.g. user ids)")


class SeatsIn(BaseModel):
    """A seat change: ids to add or remove, or a new number of seats."""

    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)
    quantity: int | None = Field(default=None, ge=0, le=MAX_SEATS)


class SwitchIn(BaseModel):
    """A tier switch (or its preview)."""

    package: str


class SeatsChanged(BaseModel):
    """The contract after a seat or tier change, and the invoice finalized for what became due (if anything)."""

    contract: billing.ContractView
    invoice: billing.InvoiceView | None


@router.get("/contract", response_model=billing.ContractView, responses=ERRORS)
def get_contract(customer_id: str, principal: Principal) -> billing.ContractView:
    """The customer's current contract: package, billing period and seats."""
    principal.require(READ)
    return billing.contract_view(principal, customer_id)


@router.post("/contract", response_model=billing.Provisioned, status_code=201, responses=ERRORS)
def provision(customer_id: str, body: ProvisionIn, principal: Principal) -> billing.Provisioned:
    """Provision a package version for the customer (staff keys); the first period's seats are invoiced at once."""
    principal.require(STAFF)
    return billing.provision(principal, customer_id, body.package, body.seats, body.seat_ids)


@router.post("/seats", response_model=SeatsChanged, responses=ERRORS)
def change_seats(customer_id: str, body: SeatsIn, principal: Principal) -> SeatsChanged:
    """Add or remove seat ids or set the number of seats (staff keys); an increase is invoiced at once, prorated."""
    principal.require(STAFF)
    contract, invoice = billing.change_seats(principal, customer_id, body.add, body.remove, body.quantity)
    return SeatsChanged(contract=contract, invoice=invoice)


@router.post("/seats/preview", response_model=billing.PreviewView, responses=ERRORS)
def preview_seats(customer_id: str, body: SeatsIn, principal: Principal) -> billing.PreviewView:
    """What a seat change would cost now, at period end and next period, without making it."""
    principal.require(READ)
    return billing.preview_seats(principal, customer_id, body.add, body.remove, body.quantity)


@router.post("/tier", response_model=SeatsChanged, responses=ERRORS)
def switch_tier(customer_id: str, body: SwitchIn, principal: Principal) -> SeatsChanged:
    """Move the customer to another package (staff keys): an upgrade at once, a downgrade from next period."""
    principal.require(STAFF)
    contract, invoice = purchase.switch_tier(principal, customer_id, body.package)
    return SeatsChanged(contract=contract, invoice=invoice)


@router.post("/tier/preview", response_model=billing.PreviewView, responses=ERRORS)
def preview_switch(customer_id: str, body: SwitchIn, principal: Principal) -> billing.PreviewView:
    """What moving to another package would cost (an upgrade at once, a downgrade from next period)."""
    principal.require(READ)
    return billing.preview_switch(principal, customer_id, body.package)


@router.get("/balances", response_model=billing.BalancesView, responses=ERRORS)
def balances(customer_id: str, principal: Principal) -> billing.BalancesView:
    """Balances now: per grant, pooled and per seat; includes every event acknowledged before this call."""
    principal.require(READ)
    return billing.balances(principal, customer_id)


@router.get("/invoices/draft", response_model=billing.InvoiceView, responses=ERRORS)
def draft_invoice(customer_id: str, principal: Principal) -> billing.InvoiceView:
    """The live draft of the current period (for a department billed to its parent: the parent's invoice)."""
    principal.require(READ)
    return billing.draft(principal, customer_id)


@router.get("/invoices", response_model=list[billing.InvoiceView], responses=ERRORS)
def list_invoices(customer_id: str, principal: Principal) -> list[billing.InvoiceView]:
    """Finalized invoices, newest first."""
    principal.require(READ)
    return billing.invoices(principal, customer_id)
