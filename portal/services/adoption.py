"""Adoption: customers, seats and revenue per tier and version, month by month, for staff's chart.

At the end of each calendar month (UTC, or now for the current month) a
contract counts for the package version its terms are on then, with the
seats it has then; revenue is what finalized invoices (paid or not, never
void) billed for periods starting in the month, counted for the version the
contract was on at the period's start. Contracts on bare rate cards count as
``custom rates``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from portal.db.loaders import Catalog, load_families
from portal.db.models import Contract, InvoiceRow, utcnow
from portal.db.uow import UnitOfWork
from portal.domain import contracts as dc
from portal.domain.invoicing import InvoiceStatus
from portal.domain.money import Money
from portal.domain.periods import add_months
from portal.services.audit import require_staff
from portal.services.customers import Actor
from portal.services.errors import InvalidInput

MAX_MONTHS = 36


@dataclass(frozen=True, slots=True)
class TierSeries:
    """One tier and version over the months: customers, seats, and revenue (formatted and in minor units)."""

    tier: str
    customers: tuple[int, ...]
    seats: tuple[int, ...]
    revenue_minor: tuple[int, ...]
    revenue: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AdoptionView:
    """The months (``2026-11``) and one series per tier and version, in the currency of the invoices."""

    months: tuple[str, ...]
    currency: str
    series: tuple[TierSeries, ...]


def _active_at(contract: dc.Contract, at: datetime) -> bool:
    return contract.starting_at <= at and (contract.ending_before is None or at < contract.ending_before)


def _tier(contract: dc.Contract, at: datetime) -> str:
    return contract.terms_at(at).name if at >= contract.starting_at else ""


def adoption(actor: Actor, months: int = 12, now: datetime | None = None, currency: str = "USD") -> AdoptionView:
    """The last ``months`` calendar months, this one included (staff only)."""
    require_staff(actor)
    if not 1 <= months <= MAX_MONTHS:
        raise InvalidInput(f"Show between 1 and {MAX_MONTHS} months, not {months}.")
    now = now or utcnow()
    this_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    starts = [add_months(this_month, offset) for offset in range(1 - months, 1)]
    ends = [min(add_months(start, 1), now) for start in starts]
    with UnitOfWork() as uow:
        session = uow.session
        ids = list(session.exec(select(Contract.id).where(Contract.currency == currency)).all())
        families = load_families(session, ids, Catalog(session))
        contracts = {c: families[c].contract(c) for c in ids}
        invoices = session.exec(
            select(InvoiceRow).where(
                col(InvoiceRow.contract_id).in_(ids),
                InvoiceRow.status != InvoiceStatus.VOID.value,
                InvoiceRow.period_start >= starts[0],
                InvoiceRow.period_start < ends[-1],
            )
        ).all()
    counts: dict[str, list[list[int]]] = {}
    for contract in contracts.values():
        for n, end in enumerate(ends):
            instant = end if end < now else now
            if not (
                contract.starting_at <= instant and (contract.ending_before is None or instant < contract.ending_before)
            ):
                continue
            tier = _tier(contract, instant)
            row = counts.setdefault(tier, [[0] * months, [0] * months, [0] * months])
            row[0][n] += 1
            row[1][n] += contract.seats.state_at(instant).quantity if contract.seats else 0
    for invoice in invoices:
        contract = contracts[invoice.contract_id]
        n = next(i for i, start in enumerate(starts) if start <= invoice.period_start < add_months(start, 1))
        tier = _tier(contract, invoice.period_start)
        row = counts.setdefault(tier, [[0] * months, [0] * months, [0] * months])
        row[2][n] += invoice.total_minor
    return AdoptionView(
        months=tuple(f"{start:%Y-%m}" for start in starts),
        currency=currency,
        series=tuple(
            TierSeries(
                tier=tier or "custom rates",
                customers=tuple(values[0]),
                seats=tuple(values[1]),
                revenue_minor=tuple(values[2]),
                revenue=tuple(Money.from_minor(m, currency).format() for m in values[2]),
            )
            for tier, values in sorted(counts.items())
        ),
    )
