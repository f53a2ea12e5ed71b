"""The data the database benchmarks run on: many customers on Team with months of stored usage.

:func:`build` migrates a fresh SQLite file, adds the demo catalog and
``customers`` customers on Team, each with 3 to 20 seats held by its users,
whose contracts started ``months`` months ago (on the 1st); every seat holder
makes 15 to 40 AI calls a month (two models) and half as many API requests,
stored as the portal stores usage (events and hourly rollups, through the
ingest writer's committer). The same seed gives the same data.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

from portal.config import get_settings
from portal.db.migrations import upgrade
from portal.db.models import Customer
from portal.db.uow import UnitOfWork
from portal.domain.metrics import UsageEvent
from portal.services.billing import open_contract, published_version
from portal.services.demo_catalog import REQUESTS_EVENT, TOKENS_EVENT, ensure_catalog, ensure_tiers
from portal.services.identity import operator_identity
from portal.services.ingest_writer import MAX_EVENTS_PER_COMMIT, Committer

MODELS = ("gpt-4o", "claude-sonnet")
STAFF = replace(operator_identity(), email="bench@portal.test")
"""Who the benchmarks act as (a staff operator)."""


def _months_ago(now: datetime, months: int) -> datetime:
    """The first of the month ``months`` before ``now``'s, 00:00 UTC."""
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(months):
        start = (start - timedelta(days=1)).replace(day=1)
    return start


def _customers(count: int, start: datetime, rnd: random.Random) -> dict[str, list[str]]:
    """``count`` customers on Team from ``start``; their seat holders by customer id."""
    holders: dict[str, list[str]] = {}
    batch = 100
    for first in range(0, count, batch):
        with UnitOfWork() as uow:
            team = published_version(uow.session, "team")
            for number in range(first, min(first + batch, count)):
                customer = Customer(name=f"Bench customer {number + 1:04d}")
                uow.session.add(customer)
                uow.session.flush()
                seats = rnd.randint(3, 20)
                users = [f"user-{number}-{i}" for i in range(seats)]
                open_contract(uow.session, customer, team, seats, users, start)
                holders[customer.id] = users
    return holders


def _usage(holders: dict[str, list[str]], start: datetime, months: int, rnd: random.Random) -> int:
    """Store each seat holder's calls month by month; the number of events stored."""
    committer = Committer()
    pending: list[UsageEvent] = []
    stored = 0
    month_starts = [start]
    for _ in range(months):
        month_starts.append((month_starts[-1] + timedelta(days=32)).replace(day=1))
    for customer_id, users in holders.items():
        for month, next_month in pairwise(month_starts):
            hours = int((next_month - month).total_seconds() // 3600)
            for user in users:
                calls = rnd.randint(15, 40)
                for n in range(calls):
                    at = month + timedelta(hours=rnd.randrange(hours), minutes=rnd.randrange(60))
                    key = f"{customer_id}-{user}-{month:%Y%m}-{n}"
                    properties = {"tokens": str(rnd.randint(500, 30_000)), "user_id": user, "model": rnd.choice(MODELS)}
                    pending.append(UsageEvent(f"tok-{key}", customer_id, TOKENS_EVENT, at, properties))
                    if n % 2 == 0:
                        pending.append(UsageEvent(f"req-{key}", customer_id, REQUESTS_EVENT, at, {"user_id": user}))
            if len(pending) >= MAX_EVENTS_PER_COMMIT:
                committer.commit([pending])
                stored += len(pending)
                pending = []
    if pending:
        committer.commit([pending])
        stored += len(pending)
    return stored


@dataclass(frozen=True)
class Dataset:
    """What :func:`build` made: seat holders by customer id, events stored, when the contracts started, the
    seconds it took."""

    holders: dict[str, list[str]]
    events: int
    start: datetime
    seconds: float

    def describe(self) -> str:
        """One line for a benchmark's report."""
        seats = sum(map(len, self.holders.values()))
        return (
            f"{len(self.holders):,} customers on Team, {seats:,} seats, {self.events:,} events from "
            f"{self.start:%Y-%m-%d} (built in {self.seconds:.1f} s)"
        )


def build(customers: int, months: int, seed: int, workdir: Path, now: datetime) -> Dataset:
    """Point the portal at a fresh SQLite file in ``workdir`` and fill it (see the module notes)."""
    os.environ["REFLEX_DB_URL"] = f"sqlite:///{workdir / 'bench.db'}"
    get_settings.cache_clear()
    upgrade()
    rnd = random.Random(seed)
    start = _months_ago(now, months)
    with UnitOfWork() as uow:
        ensure_catalog(uow.session)
        ensure_tiers(uow.session)
    began = time.perf_counter()
    holders = _customers(customers, start, rnd)
    events = _usage(holders, start, months, rnd)
    return Dataset(holders, events, start, time.perf_counter() - began)
