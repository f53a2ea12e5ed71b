"""View rows of invoice lines and their explanations, as the invoice components and explain dialog take them.

The customer dashboard and the staff customer page build them from the same
service views, so both show a line and its breakdown alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from portal.services.billing import LineView


def line_row(ref: str, line: LineView, detail: str, basis: str) -> dict[str, str]:
    """One line as a row: ``detail`` says whose and when it is, ``basis`` how its quantity was counted."""
    return {
        "ref": ref,
        "description": line.description,
        "detail": detail,
        "period": line.period,
        "basis": basis,
        "quantity": line.quantity,
        "unit_price": line.unit_price or "—",
        "units": line.units,
        "amount": line.amount,
        "grants_applied": line.grants_applied,
        "due": line.due,
    }


def grant_step(order: int, grant: str, units: str, amount: str, explanations: Iterable[str]) -> dict[str, Any]:
    """One grant a line drew on, in burn-down order, with why it came when it did."""
    return {"order": str(order), "grant": grant, "units": units, "amount": amount, "explanations": list(explanations)}


def explanation(
    row: dict[str, str], line: LineView, grants: list[dict[str, Any]], uncovered: Iterable[str]
) -> dict[str, Any]:
    """What the explain dialog shows for a line: its tiers, groups, the grants it drew on and what stayed due."""
    return {
        "line": row,
        "tiers": [
            {"tier": str(t.tier), "quantity": t.quantity, "unit_price": t.unit_price, "amount": t.amount}
            for t in line.tiers
        ],
        "groups": [{"group": g.group, "units": g.units, "amount": g.amount, "due": g.due} for g in line.groups],
        "grants": grants,
        "uncovered": list(uncovered),
    }
