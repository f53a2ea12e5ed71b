"""Two tenants with something of every kind, signed-in users of every role, API keys of every scope, and a snapshot
of the database to prove a refused request changed nothing.

The demo data gives Acme AI (a self-serve customer with an admin and a member) and Globex (an enterprise with two
departments, Research and Marketing). Added here: an admin of the Research department, API keys, and on Acme a
webhook endpoint with a delivery, an alert rule, a spend cap, a notification and its finalized invoice, which the
users and keys of the other tenants then try to reach. One database for the package (on SQLite and PostgreSQL): the
attempts are refused, so they cannot disturb each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select
from sqlmodel import select as model_select

from portal.auth.passwords import hash_password
from portal.db.models import Customer, NotificationRow, User, WebhookDelivery, utcnow
from portal.db.session import get_engine
from portal.db.uow import UnitOfWork
from portal.services import alerts, api_keys, billing, spend_caps
from portal.services import outgoing_webhooks as hooks
from portal.services.demo import DEMO_PASSWORD, seed_demo
from portal.services.identity import Identity, activate_session, operator_identity, sign_in
from portal.services.notifications import notify_admins
from tests.conftest import BACKENDS
from tests.support.database import migrated, new_postgres_database, new_sqlite_url
from tests.support.postgres import PostgresServer

RESEARCH_ADMIN = "lead@globex-research.test"
VOLATILE_TABLES = {"user_session", "sign_in_failure"}
"""Tables a refused request may touch: sessions and failed sign-ins are not tenant data."""
VOLATILE_COLUMNS = {"api_key": {"last_used_at"}}
"""Columns a refused request may touch: a key's last use is recorded before its scope is checked."""


@dataclass(frozen=True)
class World:
    """The tenants' ids, their people (identities and session tokens), API keys, and Acme's objects."""

    acme: str
    globex: str
    research: str
    marketing: str
    people: dict[str, Identity]
    sessions: dict[str, str]
    keys: dict[str, str]
    acme_key_id: str
    acme_endpoint: str
    acme_delivery: int
    acme_rule: str
    acme_notification: int
    acme_invoice: str
    acme_seat: str

    def who(self, person: str) -> Identity:
        """The identity of ``person`` (acme_admin, acme_member, globex_admin, research_admin, staff)."""
        return self.people[person]


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table holding tenant data, in a stable order."""
    metadata = MetaData()
    metadata.reflect(get_engine())
    with get_engine().connect() as connection:
        found = {}
        for name, table in metadata.tables.items():
            if name in VOLATILE_TABLES:
                continue
            columns = [c for c in table.columns if c.name not in VOLATILE_COLUMNS.get(name, ())]
            found[name] = sorted((tuple(map(repr, row)) for row in connection.execute(select(*columns))), key=repr)
        return found


def changed_tables(before: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    """The tables whose rows differ from ``before``."""
    after = snapshot()
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


def _customer_ids() -> dict[str, str]:
    with UnitOfWork() as uow:
        return {c.name: c.id for c in uow.session.exec(model_select(Customer)).all()}


def _session_of(email: str, password: str) -> tuple[Identity, str]:
    pending = sign_in(email, password)
    activate_session(pending.token)
    return pending.identity, pending.token


def _build() -> World:
    seed_demo()
    ids = _customer_ids()
    acme, globex = ids["Acme AI"], ids["Globex Corporation"]
    research, marketing = ids["Globex Research"], ids["Globex Marketing"]
    with UnitOfWork() as uow:
        uow.session.add(
            User(
                email=RESEARCH_ADMIN,
                name="Rita Research",
                password_hash=hash_password(DEMO_PASSWORD),
                customer_id=research,
                role="admin",
                email_verified_at=utcnow(),
            )
        )
    emails = {
        "acme_admin": "admin@acme.test",
        "acme_member": "member@acme.test",
        "globex_admin": "admin@globex.test",
        "research_admin": RESEARCH_ADMIN,
        "staff": "staff@portal.test",
    }
    people, sessions = {}, {}
    for person, email in emails.items():
        people[person], sessions[person] = _session_of(email, DEMO_PASSWORD)
    operator = operator_identity()
    keys = {"staff": api_keys.create_api_key(operator, "staff", ["staff"]).token}
    for owner, customer in (("acme", acme), ("globex", globex), ("research", research)):
        for scope in ("read", "ingest"):
            keys[f"{owner}_{scope}"] = api_keys.create_api_key(operator, f"{owner} {scope}", [scope], customer).token
    admin = people["acme_admin"]
    endpoint = hooks.create_endpoint(admin, acme, "https://93.184.216.34/hook")
    billing.change_seats(admin, acme, add=["ann@acme.test"])
    with UnitOfWork() as uow:
        delivery = uow.session.exec(model_select(WebhookDelivery)).one()
        notify_admins(uow.session, acme, "Acme only", "for the admins of Acme")
        uow.session.flush()
        notification = uow.session.exec(model_select(NotificationRow)).first()
        assert notification is not None
        delivery_id, notification_id = delivery.id or 0, notification.id or 0
    rule = alerts.create_rule(admin, acme, alerts.BALANCE_BELOW, "100")
    spend_caps.set_cap(admin, acme, "40", "admin@acme.test")
    invoice = billing.invoices(admin, acme)[0]
    return World(
        acme=acme,
        globex=globex,
        research=research,
        marketing=marketing,
        people=people,
        sessions=sessions,
        keys=keys,
        acme_key_id=keys["acme_read"].split(".", 1)[0],
        acme_endpoint=endpoint.id,
        acme_delivery=delivery_id,
        acme_rule=rule.id,
        acme_notification=notification_id,
        acme_invoice=invoice.id,
        acme_seat="admin@acme.test",
    )


@pytest.fixture(scope="package", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The two tenants in a new database for the security tests: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        with migrated(new_sqlite_url(Path(tmp_path_factory.mktemp("security")))):
            yield _build()
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    with new_postgres_database(server) as url, migrated(url):
        yield _build()
