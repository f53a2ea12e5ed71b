"""Package versions for staff: clone a tier into a draft, edit the draft, publish it once simulated.

Rules:

* A published version is immutable: edits go to a draft (a clone), never to
  what customers are billed by.
* A package has at most one draft at a time; cloning a tier under a new key
  starts a new package (a new tier of the good-better-best line-up).
* Publishing moves the package's alias (its key) to the new version: new
  customers get it; customers on older versions stay there until migrated.
* Publishing is refused until a simulation of exactly this draft (same
  fingerprint) has run and been acknowledged (:mod:`portal.services.simulation`).
* Every change is written to the audit log in its own transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, func, select

from portal.db.loaders import Catalog
from portal.db.models import (
    CreditTypeRow,
    Package,
    PackageVersion,
    RateRow,
    SimulationRow,
    utcnow,
)
from portal.db.uow import UnitOfWork
from portal.domain.errors import DomainError
from portal.domain.money import Money, currency
from portal.services import simulation_gate
from portal.services.audit import record, require_staff
from portal.services.customers import Actor
from portal.services.errors import InvalidInput, NotFound
from portal.services.package_fields import FIELDS, PACKAGE_FIELDS, text, whole

DRAFT = "draft"
PUBLISHED = "published"
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


@dataclass(frozen=True, slots=True)
class VersionView:
    """A package version as staff see it: the package, the terms, and whether it can be published."""

    id: str
    package_id: str
    key: str
    name: str
    rank: int
    version: int
    status: str
    terms: dict[str, Any]
    seat_price: str
    """The seat price formatted in the version's currency, e.g. ``$40.00``."""
    fingerprint: str
    cloned_from_id: str | None
    publish_blocker: str
    """Why Publish is disabled (empty when it may be published, or when the version is not a draft)."""
    published_at: str
    new_package: bool
    """True for a draft of a package never published (its name and rank may still change)."""


def _terms(version: PackageVersion) -> dict[str, Any]:
    """The editable fields of a version, JSON-ready (decimals as strings)."""
    dumped = version.model_dump(mode="json", include=set(FIELDS))
    return {name: dumped[name] for name in FIELDS}


def fingerprint(session: Session, version: PackageVersion) -> str:
    """SHA-256 of everything a version bills and shows by: its terms, its package's name and rank, its rates."""
    package = session.get(Package, version.package_id)
    rates = session.exec(
        select(RateRow).where(RateRow.rate_card_id == version.rate_card_id).order_by(col(RateRow.id))
    ).all()
    doc = {
        "terms": _terms(version),
        "package": [package.name, package.rank] if package else None,
        "rates": [r.model_dump(mode="json", exclude={"created_at"}) for r in rates],
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _published_once(session: Session, package_id: str) -> bool:
    found = session.exec(
        select(PackageVersion.id).where(PackageVersion.package_id == package_id, PackageVersion.status != DRAFT)
    ).first()
    return found is not None


def publish_blocker(session: Session, version: PackageVersion, print_: str | None = None) -> str:
    """Why the draft cannot be published yet ('' when it can): it needs an acknowledged simulation of itself."""
    if version.status != DRAFT:
        return ""
    return simulation_gate.blocker(
        session,
        SimulationRow.package_version_id,
        version.id,
        print_ or fingerprint(session, version),
        "draft",
        "publishing",
        "The draft changed since its last simulation: simulate it again before publishing.",
    )


def _view(session: Session, version: PackageVersion) -> VersionView:
    package = session.get(Package, version.package_id)
    if package is None:
        raise NotFound(f"Package {version.package_id} does not exist.")
    print_ = fingerprint(session, version)
    return VersionView(
        id=version.id,
        package_id=package.id,
        key=package.key,
        name=package.name,
        rank=package.rank,
        version=version.version,
        status=version.status,
        terms=_terms(version),
        seat_price=Money(version.seat_price, currency(version.currency)).format(),
        fingerprint=print_,
        cloned_from_id=version.cloned_from_id,
        publish_blocker=publish_blocker(session, version, print_),
        published_at=version.published_at.isoformat() if version.published_at else "",
        new_package=not _published_once(session, package.id),
    )


def _version(session: Session, version_id: str) -> PackageVersion:
    version = session.get(PackageVersion, version_id)
    if version is None:
        raise NotFound(f"There is no package version {version_id}.")
    return version


def _draft(session: Session, version_id: str) -> PackageVersion:
    version = _version(session, version_id)
    if version.status != DRAFT:
        raise InvalidInput(
            f"Version {version.version} is {version.status}: a published version never changes. Clone it into a "
            "draft and edit that."
        )
    return version


def _check_terms(session: Session, version: PackageVersion) -> None:
    """Refuse terms the rating engine could not bill by, with the engine's reason."""
    if version.max_seats is not None and version.max_seats < version.min_seats:
        raise InvalidInput(
            f"The maximum seats ({version.max_seats}) is below the minimum ({version.min_seats}): raise it or clear it."
        )
    if version.credits_per_seat > 0 and version.credit_type_id is None:
        raise InvalidInput("Credits per seat need a credit type: pick the unit the credits are in.")
    try:
        Catalog(session).version_terms(version)
    except (DomainError, ValueError) as exc:
        raise InvalidInput(f"These terms cannot be billed: {exc}") from None


def list_versions(actor: Actor) -> list[VersionView]:
    """Every version of every package, in good-better-best order, newest version first (staff only)."""
    require_staff(actor)
    with UnitOfWork() as uow:
        rows = uow.session.exec(
            select(PackageVersion)
            .join(Package, col(Package.id) == PackageVersion.package_id)
            .order_by(col(Package.rank), col(Package.key), col(PackageVersion.version).desc())
        ).all()
        return [_view(uow.session, v) for v in rows]


def credit_type_ids(actor: Actor) -> list[str]:
    """The custom credit types a tier's credits may be in (staff only)."""
    require_staff(actor)
    with UnitOfWork() as uow:
        return sorted(uow.session.exec(select(CreditTypeRow.id)).all())


def version_detail(actor: Actor, version_id: str) -> VersionView:
    """One version (staff only)."""
    require_staff(actor)
    with UnitOfWork() as uow:
        return _view(uow.session, _version(uow.session, version_id))


def clone_version(
    actor: Actor, version_id: str, *, key: str = "", name: str = "", rank: int | None = None
) -> VersionView:
    """A new draft copying ``version_id``: the next version of its package, or (with ``key``) a new package."""
    require_staff(actor)
    with UnitOfWork() as uow:
        session = uow.session
        source = _version(session, version_id)
        if key:
            package = _new_package(session, key, name, rank)
            number = 1
        else:
            found = session.get(Package, source.package_id)
            assert found is not None
            package = found
            existing = session.exec(
                select(PackageVersion).where(PackageVersion.package_id == package.id, PackageVersion.status == DRAFT)
            ).first()
            if existing is not None:
                raise InvalidInput(
                    f"{package.name} already has a draft (version {existing.version}): edit it, or discard it first."
                )
            latest = session.exec(
                select(func.max(PackageVersion.version)).where(PackageVersion.package_id == package.id)
            ).one()
            number = (latest or 0) + 1
        copied = source.model_dump(
            exclude={"id", "package_id", "version", "status", "published_at", "created_at", "cloned_from_id"}
        )
        draft = PackageVersion(**copied, package_id=package.id, version=number, status=DRAFT, cloned_from_id=source.id)
        session.add(draft)
        session.flush()
        record(
            session,
            actor,
            "package.clone",
            ("package_version", draft.id),
            f"{package.name} v{number} drafted from version {source.version} ({source.id})",
            after=_snapshot(package, draft),
        )
        return _view(session, draft)


def _new_package(session: Session, key: str, name: str, rank: int | None) -> Package:
    given, key = key, key.strip().lower()
    if not _KEY.match(key):
        raise InvalidInput(
            f"The key {given!r} is not usable: use 1 to 40 lower-case letters, digits and dashes, e.g. 'team-plus'."
        )
    if session.exec(select(Package).where(Package.key == key)).first() is not None:
        raise InvalidInput(f"A package with the key {key!r} already exists: pick another key.")
    name = text(100)("name", name, session)
    if not name:
        raise InvalidInput("Give the new tier a name customers will see, e.g. 'Team Plus'.")
    number = whole(0, 1000)("rank", rank if rank is not None else 0, session)
    package = Package(key=key, name=name, rank=number)
    session.add(package)
    session.flush()
    return package


def _snapshot(package: Package, version: PackageVersion) -> dict[str, Any]:
    return {"key": package.key, "name": package.name, "rank": package.rank, "version": version.version,
            "status": version.status, **_terms(version)}  # fmt: skip


def update_draft(actor: Actor, version_id: str, changes: Mapping[str, Any]) -> VersionView:
    """Change fields of a draft (each checked, named when wrong); nothing is saved unless all are right."""
    require_staff(actor)
    unknown = sorted(set(changes) - set(FIELDS) - set(PACKAGE_FIELDS))
    if unknown:
        known = ", ".join([*PACKAGE_FIELDS, *FIELDS])
        raise InvalidInput(f"Unknown fields {', '.join(unknown)}: a draft has {known}.")
    with UnitOfWork() as uow:
        session = uow.session
        version = _draft(session, version_id)
        package = session.get(Package, version.package_id)
        assert package is not None
        before = _snapshot(package, version)
        for name, value in changes.items():
            if name in PACKAGE_FIELDS:
                if _published_once(session, package.id):
                    raise InvalidInput(
                        f"The {name} of {package.name} cannot change: customers already buy it under that {name}. "
                        "Clone it into a new tier instead."
                    )
                setattr(package, name, PACKAGE_FIELDS[name](name, value, session))
            else:
                setattr(version, name, FIELDS[name](name, value, session))
        _check_terms(session, version)
        after = _snapshot(package, version)
        changed = sorted(k for k in after if after[k] != before[k])
        if changed:
            record(
                session,
                actor,
                "package.edit",
                ("package_version", version.id),
                f"{package.name} v{version.version}: changed {', '.join(changed)}",
                {k: before[k] for k in changed},
                {k: after[k] for k in changed},
            )
        return _view(session, version)


def discard_draft(actor: Actor, version_id: str) -> None:
    """Delete a draft and its simulations (and its package, if it was a new tier never published)."""
    require_staff(actor)
    with UnitOfWork() as uow:
        session = uow.session
        version = _draft(session, version_id)
        package = session.get(Package, version.package_id)
        assert package is not None
        record(
            session,
            actor,
            "package.discard",
            ("package_version", version.id),
            f"{package.name} v{version.version} discarded",
            before=_snapshot(package, version),
        )
        for simulation in session.exec(select(SimulationRow).where(SimulationRow.package_version_id == version.id)):
            session.delete(simulation)
        session.delete(version)
        session.flush()
        if session.exec(select(PackageVersion.id).where(PackageVersion.package_id == package.id)).first() is None:
            session.delete(package)


def publish(actor: Actor, version_id: str) -> VersionView:
    """Publish a simulated, acknowledged draft: it becomes immutable and the package's alias moves to it."""
    require_staff(actor)
    with UnitOfWork() as uow:
        session = uow.session
        version = _draft(session, version_id)
        blocker = publish_blocker(session, version)
        if blocker:
            raise InvalidInput(f"Not published. {blocker}")
        package = session.get(Package, version.package_id)
        assert package is not None
        before = _snapshot(package, version)
        version.status = PUBLISHED
        version.published_at = utcnow()
        record(
            session,
            actor,
            "package.publish",
            ("package_version", version.id),
            f"{package.name} v{version.version} published: new customers get it under '{package.key}'",
            before,
            _snapshot(package, version),
        )
        session.flush()
        return _view(session, version)
