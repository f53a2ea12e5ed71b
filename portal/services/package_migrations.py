"""Moving existing customers to a package's newest version, from their next billing period.

A published version reaches new customers at once (the package's key points
at it); customers on older versions stay there until staff migrate them.
Migrating is gated like publishing: the version's simulation (which replays
exactly these customers' closed periods under the new terms) must have been
acknowledged. Each migrated contract gets the new version from the start of
its next billing period; a contract that already has a change of terms
scheduled is left alone and reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from portal.db.models import Contract, ContractTerms, Package, PackageVersion, SimulationRow, utcnow
from portal.db.uow import UnitOfWork
from portal.domain.periods import Frequency, billing_period_containing
from portal.services.audit import record, require_staff
from portal.services.customers import Actor
from portal.services.errors import InvalidInput, NotFound
from portal.services.packages import PUBLISHED, fingerprint
from portal.services.proposals import current_versions
from portal.services.simulation import DONE

MIGRATION = "migration"


@dataclass(frozen=True, slots=True)
class MigrationView:
    """Who moves to a version and when, and who was left alone (with why)."""

    version_id: str
    scheduled: tuple[tuple[str, str], ...]
    """(contract id, the date it moves) for each contract scheduled."""
    skipped: tuple[tuple[str, str], ...]
    """(contract id, why it was left alone)."""


def _older_versions(session: Session, version: PackageVersion) -> set[str]:
    return set(
        session.exec(
            select(PackageVersion.id).where(
                PackageVersion.package_id == version.package_id, PackageVersion.version < version.version
            )
        ).all()
    )


def candidates(session: Session, version: PackageVersion, at: datetime) -> list[str]:
    """The contracts on an older version of ``version``'s package at ``at``, sorted."""
    older = _older_versions(session, version)
    return sorted(c for c, v in current_versions(session, at).items() if v in older)


def migration_blocker(session: Session, version: PackageVersion) -> str:
    """Why customers cannot be migrated to ``version`` yet ('' when they can)."""
    if version.status != PUBLISHED:
        return "Publish this version before migrating customers to it."
    print_ = fingerprint(session, version)
    acknowledged = session.exec(
        select(SimulationRow.id).where(
            SimulationRow.package_version_id == version.id,
            SimulationRow.fingerprint == print_,
            SimulationRow.status == DONE,
            col(SimulationRow.acknowledged_at).is_not(None),
        )
    ).first()
    if acknowledged is None:
        return "No acknowledged simulation of this version: its customers' new bills were never reviewed."
    return ""


def pending_count(actor: Actor, version_id: str, at: datetime | None = None) -> tuple[int, str]:
    """How many contracts are on older versions of the package, and why they cannot be migrated ('' if they can)."""
    require_staff(actor)
    with UnitOfWork() as uow:
        version = uow.session.get(PackageVersion, version_id)
        if version is None:
            raise NotFound(f"There is no package version {version_id}.")
        return len(candidates(uow.session, version, at or utcnow())), migration_blocker(uow.session, version)


def schedule(actor: Actor, version_id: str, at: datetime | None = None) -> MigrationView:
    """Move every contract on an older version of the package to ``version_id`` from its next billing period."""
    require_staff(actor)
    at = at or utcnow()
    with UnitOfWork() as uow:
        session = uow.session
        version = session.get(PackageVersion, version_id)
        if version is None:
            raise NotFound(f"There is no package version {version_id}.")
        blocker = migration_blocker(session, version)
        if blocker:
            raise InvalidInput(f"No customer was migrated. {blocker}")
        scheduled: list[tuple[str, str]] = []
        skipped: list[tuple[str, str]] = []
        for contract_id in candidates(session, version, at):
            pending = session.exec(
                select(ContractTerms).where(ContractTerms.contract_id == contract_id, ContractTerms.starting_at > at)
            ).first()
            if pending is not None:
                skipped.append(
                    (contract_id, f"a change of terms is already scheduled for {pending.starting_at:%Y-%m-%d}")
                )
                continue
            row = session.get(Contract, contract_id)
            assert row is not None
            start = billing_period_containing(row.starting_at, Frequency[row.billing_frequency], at).end
            session.add(
                ContractTerms(
                    contract_id=contract_id, starting_at=start, package_version_id=version.id, reason=MIGRATION
                )
            )
            scheduled.append((contract_id, start.date().isoformat()))
        if not scheduled and not skipped:
            raise InvalidInput("No customer is on an older version of this package: there is nobody to migrate.")
        package = session.get(Package, version.package_id)
        record(
            session,
            actor,
            "package.migrate",
            ("package_version", version.id),
            f"{package.name if package else version.package_id} v{version.version}: {len(scheduled)} contracts "
            f"migrate from their next period, {len(skipped)} left alone",
            after={"scheduled": dict(scheduled), "skipped": dict(skipped)},
        )
        return MigrationView(version.id, tuple(scheduled), tuple(skipped))
