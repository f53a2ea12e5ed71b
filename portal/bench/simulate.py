"""``portal bench simulate``: how long the simulator that gates publishing takes over many customers.

On a fresh SQLite file it builds the demo catalog and ``--customers``
customers (1,000 by default) on Team, each with 3 to 20 seats held by its
users, whose contracts started ``--periods`` + 1 months ago; every seat holder
makes 15 to 40 AI calls a month (two models) and half as many API requests,
stored as the portal stores usage (events and hourly rollups, through the
ingest writer's committer). Then it clones Team into a draft with more
credits per seat and times one simulation of the draft over the last
``--periods`` closed periods (3 by default) of every customer: loading the
contracts and rollups, drafting each period under the current and the
proposed terms, and saving the result, as the staff page's "Run simulation"
does. It checks that every customer got a row over the asked periods and
reports the time, customers per second and peak memory.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

from sqlmodel import select

from portal.config import get_settings
from portal.db.migrations import upgrade
from portal.db.models import Customer, PackageVersion, utcnow
from portal.db.uow import UnitOfWork
from portal.domain.metrics import UsageEvent
from portal.services import packages, simulation
from portal.services.billing import open_contract, published_version
from portal.services.demo_catalog import REQUESTS_EVENT, TOKENS_EVENT, ensure_catalog, ensure_tiers
from portal.services.identity import operator_identity
from portal.services.ingest_writer import MAX_EVENTS_PER_COMMIT, Committer

MODELS = ("gpt-4o", "claude-sonnet")
STAFF = replace(operator_identity(), email="bench@portal.test")


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


def measure(customers: int, periods: int, seed: int, workdir: Path) -> int:
    """Build the data in ``workdir``, time the simulation, print the report; the exit status."""
    os.environ["REFLEX_DB_URL"] = f"sqlite:///{workdir / 'bench.db'}"
    get_settings.cache_clear()
    upgrade()
    rnd = random.Random(seed)
    now = utcnow()
    start = _months_ago(now, periods + 1)
    with UnitOfWork() as uow:
        ensure_catalog(uow.session)
        ensure_tiers(uow.session)
    began = time.perf_counter()
    holders = _customers(customers, start, rnd)
    events = _usage(holders, start, periods + 1, rnd)
    print(f"data                    {customers:,} customers on Team, {sum(map(len, holders.values())):,} seats, "
          f"{events:,} events from {start:%Y-%m-%d} (built in {time.perf_counter() - began:.1f} s)")  # fmt: skip
    with UnitOfWork() as uow:
        team = uow.session.exec(select(PackageVersion).where(PackageVersion.status == "published")).all()
    team_id = next(v.id for v in team if v.version == 1 and v.credits_per_seat == 2000)
    draft = packages.clone_version(STAFF, team_id)
    packages.update_draft(STAFF, draft.id, {"credits_per_seat": "2500"})
    started = simulation.start(STAFF, draft.id, periods, background=False)
    # ``start`` ran it to the end: time a second run of the same simulation alone (the first warmed nothing up
    # but the interpreter's imports, which a server has done long before).
    began = time.perf_counter()
    simulation.run(started.id)
    seconds = time.perf_counter() - began
    result = simulation.view(STAFF, started.id)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    full = sum(1 for row in result.rows if row["periods"] == periods)
    (total,) = result.totals
    rows = len(result.rows)
    print(f"simulated               {rows:,} customers × {periods} closed periods in {seconds:.2f} s "
          f"({rows / seconds:,.0f} customers/s, {2 * periods * rows / seconds:,.0f} drafts/s)")  # fmt: skip
    print(f"revenue change          {total['difference']} ({total['paying_less']} paying less, {total['paying_more']} "
          f"more, {total['paying_same']} the same; {total['newly_running_out']} newly run out)")  # fmt: skip
    print(f"peak memory             {peak:,.0f} MiB")
    consistent = result.status == simulation.DONE and len(result.rows) == customers and full == customers
    print(f"consistent              {'yes' if consistent else 'NO'}: every customer has a row over {periods} periods")
    return 0 if consistent else 1


def run(args: argparse.Namespace) -> int:
    """Run the benchmark on a temporary SQLite file."""
    if args.customers < 1 or not 1 <= args.periods <= simulation.MAX_PERIODS:
        print(f"Use at least one customer and 1 to {simulation.MAX_PERIODS} periods.", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as workdir:
        return measure(args.customers, args.periods, args.seed, Path(workdir))
