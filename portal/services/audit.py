"""Staff changes: who may make them, and the append-only audit log that records each one.

Every service that changes the catalog, a customer's grants or an invoice on
staff's behalf calls :func:`require_staff` first and :func:`record` inside
the same transaction as the change, so a change is never made without its
entry (nor an entry written for a change that was rolled back).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session, col, select

from portal.db.models import AuditEntry
from portal.db.uow import UnitOfWork
from portal.services.errors import Forbidden

AUDIT_PAGE = 200
"""How many entries one read of the log returns at most."""


class StaffActor(Protocol):
    """An actor whose changes are audited."""

    @property
    def is_staff(self) -> bool:
        """Staff may make staff changes."""
        ...

    @property
    def audit_name(self) -> str:
        """Who made the change, as the log shows it."""
        ...


def require_staff(actor: StaffActor) -> None:
    """Refuse (403) anyone but staff."""
    if not actor.is_staff:
        raise Forbidden("This area is for staff only.")


def record(
    session: Session,
    actor: StaffActor,
    action: str,
    subject: tuple[str, str],
    summary: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Add the entry of one change to ``session`` (committed with the change itself).

    ``subject`` is (type, id), e.g. ``("package_version", "pkv_…")``; ``before``
    and ``after`` are JSON-ready snapshots of the object (None when it did not
    exist before, or no longer exists after).
    """
    session.add(
        AuditEntry(
            actor=actor.audit_name,
            action=action,
            subject_type=subject[0],
            subject_id=subject[1],
            summary=summary[:500],
            before=dict(before) if before is not None else None,
            after=dict(after) if after is not None else None,
        )
    )


def record_if_staff(
    session: Session,
    actor: StaffActor,
    action: str,
    subject: tuple[str, str],
    summary: str,
    after: Mapping[str, Any] | None = None,
) -> None:
    """:func:`record` a change that customers may make too, when staff made it (for a customer)."""
    if actor.is_staff:
        record(session, actor, action, subject, summary, after=after)


@dataclass(frozen=True, slots=True)
class AuditView:
    """One entry of the log as the staff pages and the API show it."""

    id: int
    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    summary: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def audit_log(actor: StaffActor, *, search: str = "", action: str = "", limit: int = AUDIT_PAGE) -> list[AuditView]:
    """The newest entries first, filtered by an action and by text in the actor, subject or summary (staff only)."""
    require_staff(actor)
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(max(1, min(limit, AUDIT_PAGE)))
    if action:
        query = query.where(AuditEntry.action == action)
    text = search.strip()
    if text:
        pattern = f"%{text}%"
        query = query.where(
            col(AuditEntry.actor).ilike(pattern)
            | col(AuditEntry.subject_id).ilike(pattern)
            | col(AuditEntry.summary).ilike(pattern)
        )
    with UnitOfWork() as uow:
        return [
            AuditView(e.id or 0, e.at, e.actor, e.action, e.subject_type, e.subject_id, e.summary, e.before, e.after)
            for e in uow.session.exec(query).all()
        ]


def audit_actions(actor: StaffActor) -> list[str]:
    """The actions the log holds, for a filter (staff only)."""
    require_staff(actor)
    with UnitOfWork() as uow:
        return sorted(set(uow.session.exec(select(AuditEntry.action).distinct()).all()))
