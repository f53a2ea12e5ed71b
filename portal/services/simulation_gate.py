"""The gate a simulation puts on publishing a draft or scheduling a price change: in words, why it is shut."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from portal.db.models import SimulationRow


def blocker(
    session: Session, subject: Any, subject_id: str, fingerprint: str, noun: str, doing: str, changed: str
) -> str:
    """Why the proposal cannot go ahead yet ('' when it can): it needs a finished, acknowledged simulation of its
    current ``fingerprint``.

    ``subject`` is the simulation column naming the proposal (``SimulationRow.package_version_id`` or
    ``SimulationRow.rate_change_id``); ``noun`` and ``doing`` word the reasons ("draft", "publishing");
    ``changed`` is the reason when only simulations of an earlier state exist.
    """
    simulations = session.exec(
        select(SimulationRow).where(subject == subject_id).order_by(col(SimulationRow.created_at).desc())
    ).all()
    matching = [s for s in simulations if s.fingerprint == fingerprint]
    if not matching:
        return changed if simulations else f"Simulate this {noun} before {doing} it."
    latest = matching[0]
    if latest.status == "running":
        return f"The simulation of this {noun} is still running."
    if latest.status != "done":
        return f"The last simulation of this {noun} failed: run it again."
    if latest.acknowledged_at is None:
        return f"Review the simulation's results and acknowledge them before {doing}."
    return ""
