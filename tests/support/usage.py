"""Test data for usage: a customer with an alias, metrics, and API keys."""

from __future__ import annotations

from dataclasses import dataclass

from portal.db.models import BillableMetricRow, Customer, IngestAlias
from portal.db.uow import UnitOfWork
from portal.services.api_keys import create_api_key
from portal.services.identity import operator_identity


@dataclass(frozen=True)
class UsageSetup:
    """What :func:`usage_setup` created."""

    customer_id: str
    other_customer_id: str
    tokens_metric_id: str
    requests_metric_id: str
    ingest_key: str
    read_key: str
    other_key: str
    staff_key: str


def usage_setup() -> UsageSetup:
    """Two customers (one with the alias ``acme``), a SUM and a COUNT metric, and keys of each kind."""
    with UnitOfWork() as uow:
        acme, other = Customer(name="Acme"), Customer(name="Other")
        tokens = BillableMetricRow(
            name="AI tokens",
            event_type="ai_usage",
            aggregation="sum",
            aggregation_key="tokens",
            group_keys=["user_id"],
        )
        requests = BillableMetricRow(name="Requests", event_type="ai_usage", aggregation="count")
        uow.session.add_all([acme, other, tokens, requests])
        uow.session.flush()
        uow.session.add(IngestAlias(alias="acme", customer_id=acme.id))
        ids = (acme.id, other.id, tokens.id, requests.id)
    operator = operator_identity()
    return UsageSetup(
        *ids,
        ingest_key=create_api_key(operator, "ingest", ["ingest"], ids[0]).token,
        read_key=create_api_key(operator, "read", ["read"], ids[0]).token,
        other_key=create_api_key(operator, "other", ["ingest", "read"], ids[1]).token,
        staff_key=create_api_key(operator, "staff", ["staff"]).token,
    )
