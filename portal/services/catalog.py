"""The public catalog: the published tiers a visitor compares on the pricing page.

Each package's alias points at its newest published version; drafts and
archived versions never appear. Amounts are formatted here, on the server,
with the domain's money rules, so no price passes through a float on its way
to the browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session, col, select

from portal.db.models import CreditTypeRow, Package, PackageVersion
from portal.db.uow import UnitOfWork
from portal.domain.money import CreditType, Money, currency, fiat
from portal.services.audit import require_staff
from portal.services.customers import Actor
from portal.services.errors import NotFound

_PER_PERIOD = {"MONTHLY": "month", "QUARTERLY": "quarter", "ANNUAL": "year"}
_ALLOCATION = {
    "POOLED": "pooled across your team",
    "INDIVIDUAL": "for each user",
    "HYBRID": "for each user, plus a shared pool",
}


@dataclass(frozen=True, slots=True)
class TierCard:
    """One published tier as the pricing page shows it (all strings preformatted)."""

    key: str
    name: str
    rank: int
    version: int
    tagline: str
    seat_price: str
    per: str
    credits: str
    allocation: str
    seats: str
    trial: str
    included: str
    features: tuple[str, ...]


def _credit_type(row: CreditTypeRow | None, currency_code: str) -> CreditType:
    if row is None:
        return fiat(currency_code)
    return CreditType(
        id=row.id, name=row.name, currency=currency(row.currency), unit_price=row.unit_price, exponent=row.places
    )


def _seats_label(version: PackageVersion) -> str:
    if version.max_seats is None:
        return f"from {version.min_seats} seat" + ("s" if version.min_seats != 1 else "")
    return f"{version.min_seats} to {version.max_seats} seats"


def _included(version: PackageVersion, credit_rows: dict[str, CreditTypeRow], period: str) -> str:
    """What the tier includes every period besides seat credits, e.g. ``1,000 AI credits included every month``."""
    parts = [
        _credit_type(credit_rows.get(g["credit_type_id"]), g["credit_type_id"]).format(Decimal(g["amount"]))
        + ("" if g["kind"] == "credit" else " commitment")
        for g in version.included_grants
    ]
    return f"{' and '.join(parts)} included every {period}" if parts else ""


def _card(package: Package, version: PackageVersion, credit_rows: dict[str, CreditTypeRow]) -> TierCard:
    period = _PER_PERIOD.get(version.billing_frequency, version.billing_frequency.lower())
    credit_row = credit_rows.get(version.credit_type_id) if version.credit_type_id else None
    credit_type = _credit_type(credit_row, version.currency)
    credits = (
        f"{credit_type.format(version.credits_per_seat)} per seat / {period}" if version.credits_per_seat > 0 else ""
    )
    return TierCard(
        key=package.key,
        name=package.name,
        rank=package.rank,
        version=version.version,
        tagline=version.tagline,
        seat_price=Money(version.seat_price, currency(version.currency)).format(),
        per=f"per seat / {period}",
        credits=credits,
        allocation=_ALLOCATION.get(version.credit_allocation, "") if credits else "",
        seats=_seats_label(version),
        trial=f"{version.trial_days}-day free trial" if version.trial_days else "",
        included=_included(version, credit_rows, period),
        features=tuple(version.features),
    )


def _lineup(session: Session, draft: PackageVersion | None = None) -> list[TierCard]:
    """The newest published version of every package, in good-better-best order; ``draft`` in its package's place."""
    rows = session.exec(
        select(Package, PackageVersion)
        .join(PackageVersion, col(PackageVersion.package_id) == Package.id)
        .where(PackageVersion.status == "published")
        .order_by(col(Package.rank), col(Package.key), col(PackageVersion.version).desc())
    ).all()
    credit_rows = {row.id: row for row in session.exec(select(CreditTypeRow)).all()}
    newest: dict[str, tuple[Package, PackageVersion]] = {}
    for package, version in rows:
        newest.setdefault(package.id, (package, version))
    if draft is not None:
        own = session.get(Package, draft.package_id)
        if own is not None:
            newest[own.id] = (own, draft)
    ordered = sorted(newest.values(), key=lambda pair: (pair[0].rank, pair[0].key))
    return [_card(package, version, credit_rows) for package, version in ordered]


def published_tiers() -> list[TierCard]:
    """The newest published version of every package, in good-better-best order."""
    with UnitOfWork() as uow:
        return _lineup(uow.session)


def lineup_preview(actor: Actor, version_id: str) -> list[TierCard]:
    """The pricing page's tiers as customers would see them with this version published (staff only)."""
    require_staff(actor)
    with UnitOfWork() as uow:
        version = uow.session.get(PackageVersion, version_id)
        if version is None:
            raise NotFound(f"There is no package version {version_id}.")
        return _lineup(uow.session, version)
