"""``portal bench simulate``: how long the simulator that gates publishing takes over many customers.

On a fresh SQLite file it builds ``--customers`` customers (1,000 by
default) on Team with ``--periods`` + 1 months of usage
(:mod:`portal.bench.dataset`). Then it clones Team into a draft with more
credits per seat and times one simulation of the draft over the last
``--periods`` closed periods (3 by default) of every customer: loading the
contracts and rollups, drafting each period under the current and the
proposed terms, and saving the result, as the staff page's "Run simulation"
does. It checks that every customer got a row over the asked periods and
reports the time, customers per second and peak memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from sqlmodel import select

from portal.bench.dataset import STAFF, build
from portal.db.models import PackageVersion, utcnow
from portal.db.uow import UnitOfWork
from portal.services import packages, simulation


def measure(customers: int, periods: int, seed: int, workdir: Path) -> int:
    """Build the data in ``workdir``, time the simulation, print the report; the exit status."""
    data = build(customers, periods + 1, seed, workdir, utcnow())
    print(f"data                    {data.describe()}")
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
