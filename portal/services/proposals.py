"""What a simulation weighs against the current terms: a package version draft or a price change.

Each kind of proposal says which contracts it would change (from the terms in
force now), what a contract would be under it, and a fingerprint of itself
(a simulation stands for the proposal only while that is unchanged).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session, col, select

from portal.db.loaders import Catalog
from portal.db.models import Contract, ContractTerms, Package, PackageVersion, RateChangeRow, SimulationRow
from portal.domain import contracts as dc
from portal.services import rate_changes
from portal.services.errors import NotFound
from portal.services.packages import DRAFT, fingerprint


def current_terms(
    session: Session, at: datetime, customer_ids: Collection[str] | None = None
) -> dict[str, ContractTerms]:
    """For each contract active at ``at`` (of ``customer_ids`` only, when given), the entry of its terms
    history in force at ``at``."""
    active = select(Contract.id).where((col(Contract.ending_before).is_(None)) | (col(Contract.ending_before) > at))
    if customer_ids is not None:
        active = active.where(col(Contract.customer_id).in_(list(customer_ids)))
    rows = session.exec(
        select(ContractTerms)
        .where(col(ContractTerms.contract_id).in_(active), ContractTerms.starting_at <= at)
        .order_by(col(ContractTerms.contract_id), col(ContractTerms.starting_at), col(ContractTerms.id))
    ).all()
    return {row.contract_id: row for row in rows}  # the last entry of each contract wins


def current_versions(session: Session, at: datetime) -> dict[str, str]:
    """For each contract active at ``at`` and on a package, the package version its terms are on at ``at``."""
    return {c: t.package_version_id for c, t in current_terms(session, at).items() if t.package_version_id}


def affected_contracts(session: Session, draft: PackageVersion, at: datetime) -> list[str]:
    """The contracts a draft's simulation covers (see the module rules), sorted."""
    packages = {draft.package_id}
    published = select(PackageVersion.id).where(
        PackageVersion.package_id == draft.package_id, PackageVersion.status != DRAFT
    )
    if session.exec(published).first() is None and draft.cloned_from_id is not None:
        source = session.get(PackageVersion, draft.cloned_from_id)
        if source is not None:
            packages.add(source.package_id)
    versions = set(session.exec(select(PackageVersion.id).where(col(PackageVersion.package_id).in_(packages))).all())
    versions.discard(draft.id)
    return sorted(c for c, v in current_versions(session, at).items() if v in versions)


class Proposal(Protocol):
    """What a simulation weighs against the current terms: a package draft or a price change."""

    def affected(self, session: Session, at: datetime) -> list[str]:
        """The contracts it would change, sorted."""
        ...

    def proposed(
        self, catalog: Catalog, contract: dc.Contract, overrides: list[dict[str, Any]], start: datetime
    ) -> dc.Contract:
        """The contract under the proposal from ``start`` (the first replayed period's start)."""
        ...

    def fingerprint(self, session: Session) -> str:
        """What the proposal is, as a digest: a simulation stands for the proposal only while this is unchanged."""
        ...

    def label(self, session: Session) -> str:
        """The proposal in a few words, for the audit log."""
        ...


@dataclass(frozen=True)
class DraftVersion:
    """A package version draft: its package's customers (or, for a new tier, those of the tier it copied)."""

    draft: PackageVersion

    def affected(self, session: Session, at: datetime) -> list[str]:
        """See :func:`affected_contracts`."""
        return affected_contracts(session, self.draft, at)

    def proposed(
        self, catalog: Catalog, contract: dc.Contract, overrides: list[dict[str, Any]], start: datetime
    ) -> dc.Contract:
        """The contract on the draft's terms from ``start`` (its own ``overrides`` kept on top)."""
        terms = catalog.with_contract_overrides(catalog.version_terms(self.draft), overrides)
        moved = contract.with_terms_from(start, terms)
        seat_product = contract.seats.product_id if contract.seats else self.draft.seat_product_id
        products, metrics = catalog.billed_by(moved.all_terms(), seat_product)
        return replace(moved, products=products, metrics=metrics)

    def fingerprint(self, session: Session) -> str:
        """See :func:`portal.services.packages.fingerprint`."""
        return fingerprint(session, self.draft)

    def label(self, session: Session) -> str:
        """The tier and version."""
        package = session.get(Package, self.draft.package_id)
        return f"{package.name if package else self.draft.package_id} v{self.draft.version}"


@dataclass(frozen=True)
class PriceChange:
    """A proposed price for one product of a rate card: every contract billed by the card."""

    change: RateChangeRow

    def affected(self, session: Session, at: datetime) -> list[str]:
        """The card's subscribers."""
        return rate_changes.subscribers(session, self.change.rate_card_id, current_terms(session, at))

    def proposed(
        self, catalog: Catalog, contract: dc.Contract, overrides: list[dict[str, Any]], start: datetime
    ) -> dc.Contract:
        """The contract as if the new price had been in force all along."""
        return rate_changes.with_new_price(contract, self.change, catalog)

    def fingerprint(self, session: Session) -> str:
        """See :func:`portal.services.rate_changes.fingerprint`."""
        return rate_changes.fingerprint(session, self.change)

    def label(self, session: Session) -> str:
        """The product and the effective date."""
        return f"price of {self.change.product_id} from {self.change.starting_at:%Y-%m-%d %H:%M} UTC"


def proposal_of(session: Session, row: SimulationRow) -> Proposal:
    """The proposal a simulation is of."""
    if row.package_version_id is not None:
        draft = session.get(PackageVersion, row.package_version_id)
        if draft is None:
            raise NotFound(f"Package version {row.package_version_id} no longer exists.")
        return DraftVersion(draft)
    change = session.get(RateChangeRow, row.rate_change_id) if row.rate_change_id else None
    if change is None:
        raise NotFound(f"The price change {row.rate_change_id} no longer exists.")
    return PriceChange(change)
