"""Customers and usage over HTTP: ``/api/v1/customers`` and ``/api/v1/customers/{id}/usage``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from portal.api.deps import ERRORS, Principal
from portal.services import customers, entitlements
from portal.services.api_keys import READ, STAFF

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])


class CustomerIn(BaseModel):
    """A new customer."""

    name: str = Field(min_length=1, max_length=200)
    currency: str = Field(default="USD", description="ISO 4217 code")
    parent_id: str | None = Field(default=None, description="make it a department of this customer")
    ingest_aliases: list[str] = Field(default_factory=list, description="ids usage events may use instead of ours")


@router.get("", response_model=list[customers.CustomerView], responses=ERRORS)
def list_customers(principal: Principal) -> list[customers.CustomerView]:
    """Customers this key may read: all for a staff key; its own (and its departments) otherwise."""
    principal.require(READ)
    return customers.list_customers(principal)


@router.post("", response_model=customers.CustomerView, status_code=201, responses=ERRORS)
def create_customer(body: CustomerIn, principal: Principal) -> customers.CustomerView:
    """Create a customer (staff keys only)."""
    principal.require(STAFF)
    return customers.create_customer(principal, body.name, body.currency, body.parent_id, tuple(body.ingest_aliases))


@router.get("/{customer_id}", response_model=customers.CustomerView, responses=ERRORS)
def get_customer(customer_id: str, principal: Principal) -> customers.CustomerView:
    """One customer."""
    principal.require(READ)
    return customers.get_customer(principal, customer_id)


@router.get("/{customer_id}/usage", response_model=list[customers.UsagePoint], responses=ERRORS)
def usage(
    customer_id: str,
    principal: Principal,
    metric_id: str,
    start: datetime,
    end: datetime,
    granularity: Annotated[Literal["hour", "day"], Query()] = "day",
    group_by: str | None = None,
) -> list[customers.UsagePoint]:
    """A metric's usage per hour or day in ``[start, end)``, optionally per value of one group key."""
    principal.require(READ)
    return customers.usage_series(principal, customer_id, metric_id, start, end, granularity, group_by)


@router.get("/{customer_id}/entitlements", response_model=entitlements.Entitlements, responses=ERRORS)
def get_entitlements(customer_id: str, principal: Principal) -> entitlements.Entitlements:
    """What the customer's tier grants right now: features, limits and remaining pooled credits.

    Safe to call on every request of your product: answers are kept in memory for up to a second.
    """
    principal.require(READ)
    return entitlements.entitlements(principal, customer_id)


@router.get("/{customer_id}/entitlements/{feature}", response_model=entitlements.FeatureCheck, responses=ERRORS)
def check_feature(customer_id: str, feature: str, principal: Principal) -> entitlements.FeatureCheck:
    """Whether the customer's tier grants one feature now, and its limit; 404 names the features it has."""
    principal.require(READ)
    return entitlements.check(principal, customer_id, feature)
