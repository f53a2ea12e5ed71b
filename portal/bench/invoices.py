"""``portal bench invoices``: the invoice run, closing billing periods for many customers.

On a fresh SQLite file it builds ``--customers`` customers (1,000 by
default) on Team whose contracts started ``--periods`` months ago, with usage
in each closed month (:mod:`portal.bench.dataset`). Then it times one run of what the billing
job does when periods end (:func:`portal.services.period_close.close_periods`):
for every customer and closed period, rate the period from its stored
rollups, finalize the invoice, store it with its ledger entries and ask for
payment (without Stripe configured, invoices stay open for payment by other
means). It checks that every closed period got exactly one closing invoice
and nothing failed, and reports invoices per second.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from sqlmodel import col, func, select

from portal.bench.dataset import build
from portal.db.models import InvoiceRow, utcnow
from portal.db.uow import UnitOfWork
from portal.services.period_close import close_periods, due_periods


def measure(customers: int, periods: int, seed: int, workdir: Path) -> int:
    """Build the data in ``workdir``, time the invoice run, print the report; the exit status."""
    now = utcnow()
    data = build(customers, periods, seed, workdir, now)
    print(f"data                    {data.describe()}")
    with UnitOfWork() as uow:
        due = len(due_periods(uow.session, now))
    began = time.perf_counter()
    run = close_periods(now)
    seconds = time.perf_counter() - began
    with UnitOfWork() as uow:
        closing = uow.session.exec(select(func.count()).where(col(InvoiceRow.closes_period).is_(True))).one()
        left = len(due_periods(uow.session, now))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    due_total = sum(invoice.total_due_minor for invoice in run.closed) / 100
    print(f"periods due             {due:,} ({customers:,} customers × {periods} closed periods)")
    print(f"invoice run             {len(run.closed):,} invoices rated, finalized, stored and sent for payment in "
          f"{seconds:.2f} s ({len(run.closed) / seconds:,.0f} invoices/s)")  # fmt: skip
    print(f"billed                  {due_total:,.2f} USD")
    for failure in run.failures[:5]:
        print(f"failed                  {failure}")
    print(f"peak memory             {peak:,.0f} MiB")
    consistent = due == customers * periods and closing == due and not left and not run.failures
    print(f"consistent              {'yes' if consistent else 'NO'}: each closed period has one closing invoice")
    return 0 if consistent else 1


def run(args: argparse.Namespace) -> int:
    """Run the benchmark on a temporary SQLite file."""
    if args.customers < 1 or args.periods < 1:
        print("Use at least one customer and one closed period.", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as workdir:
        return measure(args.customers, args.periods, args.seed, Path(workdir))
