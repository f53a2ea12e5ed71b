"""Test data for usage: a customer with an alias, metrics, and API keys; a Team customer with closed months."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.db.models import BillableMetricRow, Customer, IngestAlias, utcnow
from portal.db.uow import UnitOfWork
from portal.domain.metrics import UsageEvent
from portal.services.api_keys import create_api_key
from portal.services.billing import provision
from portal.services.customers import create_customer
from portal.services.demo_catalog import TOKENS_EVENT
from portal.services.identity import operator_identity
from portal.services.ingest_writer import writer


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


def month_before_last() -> datetime:
    """The first of the month before last, 00:00 UTC: a contract from then has two closed monthly periods."""
    last_month = utcnow().replace(day=1, hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    return (last_month.replace(day=1) - timedelta(days=1)).replace(day=1)


def customer_with_closed_months(name: str) -> str:
    """A customer ``name`` on the demo's Team with 3 seats since the month before last, with 700,000 tokens
    (7,000 AI credits) of usage in its first month and none in the second; its id."""
    operator = operator_identity()
    customer = create_customer(operator, name)
    start = month_before_last()
    provision(operator, customer.id, "team", 3, ("ann", "bob"), at=start)
    used = [("ann", 500_000), ("bob", 200_000)]  # 10 credits per 1,000 tokens: 5,000 + 2,000 credits
    events = [
        UsageEvent(f"{customer.id}-{user}", customer.id, TOKENS_EVENT, start + timedelta(days=5),
                   {"tokens": str(tokens), "user_id": user})
        for user, tokens in used
    ]  # fmt: skip
    writer().refresh_metrics()
    writer().submit(events).result(timeout=30)
    return customer.id
