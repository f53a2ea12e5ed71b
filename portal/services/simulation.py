"""The simulator that gates publishing: replay real usage of affected customers under proposed terms.

A proposal is a package version draft or a price change on a rate card.
Affected customers of a draft are the customers whose contract is, right now,
on a version of the draft's package; for a new tier (a package never
published), the customers of the tier it was cloned from (what they would pay
if they moved to it). Affected customers of a price change are those billed by
its rate card, replayed as if the new price had been in force. For each, the last ``periods`` closed billing periods
of its real usage (the stored hourly rollups) are drafted under its current
terms and under the draft's (:func:`portal.domain.simulation.compare_family`).

A simulation runs in a background thread of the server (:func:`start`), saving
its progress as it goes so the page can show a progress bar; the result is
kept with the draft's fingerprint, so staff acknowledge exactly what they saw,
and any later edit of the draft needs a new simulation before publishing.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from portal.db.loaders import Catalog, Family, contract_overrides, load_families, stored_usage
from portal.db.models import (
    Customer,
    PackageVersion,
    RateChangeRow,
    SimulationRow,
    utcnow,
)
from portal.db.uow import UnitOfWork
from portal.domain import contracts as dc
from portal.domain.invoicing import usage_plans
from portal.domain.metrics import UsageSource
from portal.domain.money import CreditType, Money
from portal.domain.periods import Period, period_index
from portal.domain.simulation import Comparison, compare_family, totals
from portal.services import rate_changes
from portal.services.audit import record, require_staff
from portal.services.billing import plain_number
from portal.services.customers import Actor
from portal.services.errors import InvalidInput, NotFound
from portal.services.packages import DRAFT
from portal.services.proposals import Proposal, proposal_of

log = logging.getLogger(__name__)

DEFAULT_PERIODS = 3
MAX_PERIODS = 12
PROGRESS_EVERY_S = 0.25
RUNNING, DONE, FAILED = "running", "done", "failed"


@dataclass(frozen=True, slots=True)
class SimulationView:
    """A simulation as the staff page shows it: progress, then per-customer rows and totals."""

    id: str
    package_version_id: str | None
    rate_change_id: str | None
    periods: int
    status: str
    done: int
    total: int
    rows: tuple[dict[str, Any], ...]
    totals: tuple[dict[str, Any], ...]
    error: str
    created_by: str
    created_at: datetime
    acknowledged_by: str
    current: bool
    """True when the proposal has not changed since this simulation (its fingerprint still matches)."""

    @property
    def percent(self) -> int:
        """Progress from 0 to 100."""
        if self.status != RUNNING:
            return 100
        return int(100 * self.done / self.total) if self.total else 0


def _closed_periods(contract: dc.Contract, at: datetime, count: int) -> list[Period]:
    """The last ``count`` billing periods of the contract that ended by ``at`` (fewer for a young contract)."""
    now = period_index(contract.starting_at, contract.frequency, at)
    return [contract.billing_period(i) for i in range(max(0, now - count), now)]


@dataclass(frozen=True)
class _Replay:
    """What comparing each family needs: the proposal, the time, how many closed periods, the contracts' overrides."""

    session: Session
    catalog: Catalog
    proposal: Proposal
    at: datetime
    periods: int
    overrides: dict[str, list[dict[str, Any]]]

    def compare(self, family: Family, changed: Sequence[str]) -> tuple[Comparison, ...]:
        """Compare one family with its ``changed`` contracts under the proposal."""
        closed = _closed_periods(family.contracts[0], self.at, self.periods)
        if not closed:
            return compare_family(family.contracts, family.contracts, [], [], changed=changed)
        proposed = tuple(
            self.proposal.proposed(self.catalog, c, self.overrides[c.id], closed[0].start) if c.id in changed else c
            for c in family.contracts
        )
        stored = stored_usage(self.session, family.contracts)
        plans = [usage_plans(family.contracts, p, hierarchy=family.hierarchy) for p in closed]
        for contract_id, source in stored.items():
            source.prefetch([plan[contract_id] for plan in plans if contract_id in plan])
        usage: dict[str, UsageSource] = dict(stored)
        return compare_family(
            family.contracts,
            proposed,
            closed,
            [usage] * len(closed),
            changed=changed,
            hierarchy=family.hierarchy,
            opening=family.ledger,
        )


def compare(
    session: Session, proposal: Proposal, at: datetime, periods: int, progress: Callable[[int, int], None]
) -> Iterator[tuple[Comparison, dc.Contract]]:
    """Each affected contract compared under its current terms and under the proposal, family by family.

    ``progress(done, total)`` is called after each family.
    """
    catalog = Catalog(session)
    affected = proposal.affected(session, at)
    loaded = load_families(session, affected, catalog)
    families: dict[str, tuple[Family, list[str]]] = {}
    for contract_id in affected:
        family = loaded[contract_id]
        families.setdefault(family.contracts[0].id, (family, []))[1].append(contract_id)
    replay = _Replay(session, catalog, proposal, at, periods, contract_overrides(session, affected))
    for number, (family, changed) in enumerate(families.values(), start=1):
        by_id = {c.id: c for c in family.contracts}
        for comparison in replay.compare(family, changed):
            yield comparison, by_id[comparison.contract_id]
        progress(number, len(families))


def _money(minor: int, code: str) -> str:
    return Money.from_minor(minor, code).format()


def _burn(credit_type: CreditType | None, units: Decimal) -> str:
    return credit_type.format(units) if credit_type is not None else str(units)


def _row(comparison: Comparison, contract: dc.Contract, names: dict[str, str]) -> dict[str, Any]:
    code = contract.currency.code
    credits = contract.terms.seat_credits.credit_type if contract.terms.seat_credits else None
    return {
        "customer_id": comparison.customer_id,
        "customer": names.get(comparison.customer_id, comparison.customer_id),
        "contract_id": comparison.contract_id,
        "currency": code,
        "periods": comparison.periods,
        "current_minor": comparison.current.billed_minor,
        "proposed_minor": comparison.proposed.billed_minor,
        "difference_minor": comparison.difference_minor,
        "current": _money(comparison.current.billed_minor, code),
        "proposed": _money(comparison.proposed.billed_minor, code),
        "difference": _money(comparison.difference_minor, code),
        "burn_current": plain_number(comparison.current.seat_credits_burned),
        "burn_proposed": plain_number(comparison.proposed.seat_credits_burned),
        "burn_change": plain_number(comparison.burn_change),
        "burn_change_label": _burn(credits, comparison.burn_change),
        "ran_out_current": comparison.current.ran_out,
        "ran_out_proposed": comparison.proposed.ran_out,
        "newly_runs_out": comparison.newly_runs_out,
    }


def _totals(rows: Sequence[tuple[Comparison, dc.Contract]]) -> list[dict[str, Any]]:
    """Totals per currency."""
    by_currency: dict[str, list[Comparison]] = {}
    for comparison, contract in rows:
        by_currency.setdefault(contract.currency.code, []).append(comparison)
    result = []
    for code, comparisons in sorted(by_currency.items()):
        summary = totals(comparisons)
        result.append(
            {
                "currency": code,
                "customers": len(comparisons),
                "current": _money(summary.current_minor, code),
                "proposed": _money(summary.proposed_minor, code),
                "difference": _money(summary.difference_minor, code),
                "difference_minor": summary.difference_minor,
                "paying_more": summary.paying_more,
                "paying_less": summary.paying_less,
                "paying_same": summary.paying_same,
                "newly_running_out": summary.newly_running_out,
            }
        )
    return result


def _set(simulation_id: str, **values: Any) -> None:
    """Save fields of a simulation in a transaction of their own (progress is seen while the run goes on)."""
    with UnitOfWork() as uow:
        row = uow.session.get(SimulationRow, simulation_id)
        if row is not None:
            for name, value in values.items():
                setattr(row, name, value)


def run(simulation_id: str, at: datetime | None = None) -> None:
    """Run a started simulation to its end, saving progress, then the result (or why it failed)."""
    at = at or utcnow()
    last_saved = 0.0

    def progress(done: int, total: int) -> None:
        nonlocal last_saved
        if done == total or time.monotonic() - last_saved >= PROGRESS_EVERY_S:
            _set(simulation_id, done=done, total=total)
            last_saved = time.monotonic()

    try:
        with UnitOfWork() as uow:
            session = uow.session
            simulation = session.get(SimulationRow, simulation_id)
            if simulation is None:
                raise NotFound(f"There is no simulation {simulation_id}.")
            compared = list(compare(session, proposal_of(session, simulation), at, simulation.periods, progress))
            names = dict(session.exec(select(Customer.id, Customer.name)).all())
            rows = [_row(c, contract, names) for c, contract in compared]
            result = {"rows": rows, "totals": _totals(compared), "as_of": at.isoformat()}
    except Exception as exc:  # the page must learn that the run failed, and why
        log.exception("simulation %s failed", simulation_id)
        _set(simulation_id, status=FAILED, error=f"{type(exc).__name__}: {exc}"[:1000], finished_at=utcnow())
        return
    _set(simulation_id, status=DONE, result=result, finished_at=utcnow())


def _check_periods(periods: int) -> None:
    if not 1 <= periods <= MAX_PERIODS:
        raise InvalidInput(f"Simulate between 1 and {MAX_PERIODS} closed periods, not {periods}.")


def _launch(actor: Actor, simulation: SimulationRow, background: bool) -> SimulationView:
    """Save a new simulation and run it (in a background thread by default)."""
    with UnitOfWork() as uow:
        subject = SimulationRow.package_version_id == simulation.package_version_id
        if simulation.rate_change_id is not None:
            subject = SimulationRow.rate_change_id == simulation.rate_change_id
        running = uow.session.exec(select(SimulationRow).where(subject, SimulationRow.status == RUNNING)).first()
        if running is not None:
            raise InvalidInput("A simulation of this proposal is already running: wait for it to finish.")
        simulation.fingerprint = proposal_of(uow.session, simulation).fingerprint(uow.session)
        uow.session.add(simulation)
        simulation_id = simulation.id
    if background:
        threading.Thread(target=run, args=(simulation_id,), name=f"simulation-{simulation_id}", daemon=True).start()
    else:
        run(simulation_id)
    return view(actor, simulation_id)


def start(actor: Actor, version_id: str, periods: int = DEFAULT_PERIODS, *, background: bool = True) -> SimulationView:
    """Start simulating a package draft over the last ``periods`` closed periods."""
    require_staff(actor)
    _check_periods(periods)
    with UnitOfWork() as uow:
        draft = uow.session.get(PackageVersion, version_id)
        if draft is None:
            raise NotFound(f"There is no package version {version_id}.")
        if draft.status != DRAFT:
            raise InvalidInput(f"Version {draft.version} is {draft.status}: simulate a draft.")
    row = SimulationRow(package_version_id=version_id, fingerprint="", periods=periods, created_by=actor.audit_name)
    return _launch(actor, row, background)


def start_price_change(
    actor: Actor, change_id: str, periods: int = DEFAULT_PERIODS, *, background: bool = True
) -> SimulationView:
    """Start simulating a proposed price change over the last ``periods`` closed periods of its card's customers."""
    require_staff(actor)
    _check_periods(periods)
    with UnitOfWork() as uow:
        change = uow.session.get(RateChangeRow, change_id)
        if change is None:
            raise NotFound(f"There is no price change {change_id}.")
        if change.status != rate_changes.DRAFT:
            raise InvalidInput("This change is already scheduled: propose another to simulate.")
    row = SimulationRow(rate_change_id=change_id, fingerprint="", periods=periods, created_by=actor.audit_name)
    return _launch(actor, row, background)


def _view(session: Session, row: SimulationRow) -> SimulationView:
    try:
        print_ = proposal_of(session, row).fingerprint(session)
    except NotFound:
        print_ = ""
    result = row.result or {}
    return SimulationView(
        id=row.id,
        package_version_id=row.package_version_id,
        rate_change_id=row.rate_change_id,
        periods=row.periods,
        status=row.status,
        done=row.done,
        total=row.total,
        rows=tuple(result.get("rows", ())),
        totals=tuple(result.get("totals", ())),
        error=row.error,
        created_by=row.created_by,
        created_at=row.created_at,
        acknowledged_by=row.acknowledged_by or "",
        current=print_ == row.fingerprint,
    )


def view(actor: Actor, simulation_id: str) -> SimulationView:
    """One simulation (staff only)."""
    require_staff(actor)
    with UnitOfWork() as uow:
        row = uow.session.get(SimulationRow, simulation_id)
        if row is None:
            raise NotFound(f"There is no simulation {simulation_id}.")
        return _view(uow.session, row)


def latest(actor: Actor, subject_id: str) -> SimulationView | None:
    """The newest simulation of a package version or a price change, if any (staff only)."""
    require_staff(actor)
    with UnitOfWork() as uow:
        row = uow.session.exec(
            select(SimulationRow)
            .where((SimulationRow.package_version_id == subject_id) | (SimulationRow.rate_change_id == subject_id))
            .order_by(col(SimulationRow.created_at).desc())
        ).first()
        return _view(uow.session, row) if row is not None else None


def acknowledge(actor: Actor, simulation_id: str) -> SimulationView:
    """Record that staff reviewed a finished simulation of the draft as it still is (publishing needs this)."""
    require_staff(actor)
    with UnitOfWork() as uow:
        session = uow.session
        row = session.get(SimulationRow, simulation_id)
        if row is None:
            raise NotFound(f"There is no simulation {simulation_id}.")
        if row.status != DONE:
            raise InvalidInput(f"The simulation is {row.status}: only a finished simulation can be acknowledged.")
        proposal = proposal_of(session, row)
        if proposal.fingerprint(session) != row.fingerprint:
            raise InvalidInput("The proposal changed after this simulation: simulate it again, then acknowledge that.")
        row.acknowledged_by = actor.audit_name
        row.acknowledged_at = utcnow()
        totals_doc = (row.result or {}).get("totals", [])
        summary = "; ".join(f"{t['customers']} customers, revenue change {t['difference']}" for t in totals_doc)
        record(
            session,
            actor,
            "simulation.acknowledge",
            ("simulation", row.id),
            f"{proposal.label(session)}: {summary or 'no affected customers'}",
            after={
                "package_version_id": row.package_version_id,
                "rate_change_id": row.rate_change_id,
                "fingerprint": row.fingerprint,
                "totals": totals_doc,
            },
        )
        return _view(session, row)


CSV_COLUMNS = (
    ("customer", "Customer"),
    ("customer_id", "Customer id"),
    ("contract_id", "Contract id"),
    ("currency", "Currency"),
    ("periods", "Periods"),
    ("current", "Current"),
    ("proposed", "Proposed"),
    ("difference", "Difference"),
    ("burn_current", "Seat credits burned (current)"),
    ("burn_proposed", "Seat credits burned (proposed)"),
    ("burn_change", "Change in seat-credit burn"),
    ("newly_runs_out", "Newly runs out"),
)


def as_csv(simulation: SimulationView) -> str:
    """The per-customer rows as CSV (amounts formatted in each customer's currency)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([label for _, label in CSV_COLUMNS])
    for row in simulation.rows:
        writer.writerow(["yes" if row[k] is True else "no" if row[k] is False else row[k] for k, _ in CSV_COLUMNS])
    return out.getvalue()
