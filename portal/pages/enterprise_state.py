"""State of the enterprise page: the commitments and departments of the viewer's customer, and the dialogs that
create departments, set a department's budget and move budget between departments.

Every figure is formatted here (the page only lays strings out); every change goes through
:mod:`portal.services.enterprise`, which checks that the signed-in admin may make it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import reflex as rx
from reflex.event import EventSpec

from portal.components.access import LOADING
from portal.domain.forecast import Forecast
from portal.domain.money import ZERO, CreditType
from portal.services import enterprise, enterprise_alerts
from portal.services.errors import ServiceError
from portal.services.identity import Identity
from portal.state.access import load_guarded
from portal.state.session import identity_of, session_ended

BEHAVIOUR_LABELS = {"overage": "Overage billed", "block": "Usage blocked"}
"""How the table names what happens when a department has drawn its whole budget."""

STATUS_COLORS = {"ok": "green", "warning": "amber", "exhausted": "red"}


@dataclass(frozen=True)
class CommitmentRow:
    """A shared commitment, as the commitment card shows it."""

    reason: str
    amount: str
    remaining: str
    drawn: str
    term_end: str
    percent_used: int
    burn: str
    """The trailing week's burn per day."""
    run_out: str
    band: str
    at_end: str
    """What is projected to be left unused (or missing) when the term ends."""
    runs_out_early: bool


@dataclass(frozen=True)
class AlertRow:
    """An alert raised to the admins, newest first."""

    when: str
    message: str
    label: str
    color: str


@dataclass(frozen=True)
class DepartmentRow:
    """One row of the departments table (the viewer's own customer first, at depth 0)."""

    id: str
    name: str
    depth: int
    indent: str
    """Left padding of the name, by depth."""
    option: str
    """The name indented for a drop-down list."""
    payer: str
    members: str
    used: str
    from_commitment: str
    overage: str
    overage_value: str
    blocked: str
    budget: str
    budget_amount: str
    """The budget as a plain number for the form (empty without one)."""
    has_budget: bool
    percent: int
    """How much of the budget is drawn, capped at 100 for the bar."""
    drawn: str
    status: str
    status_label: str
    status_color: str
    behaviour: str
    behaviour_label: str
    can_change: bool
    forecast: str
    """When the budget runs out this period at the trailing week's burn (empty without a budget)."""


def _units(credit_type: CreditType | None, units: Decimal) -> str:
    return credit_type.format(units) if credit_type else f"{units:,}"


def _number(credit_type: CreditType | None, units: Decimal) -> str:
    """A figure without its unit, e.g. ``12,280``."""
    return f"{credit_type.round(units):,.{credit_type.places}f}" if credit_type else f"{units:,}"


def _value(credit_type: CreditType | None, units: Decimal) -> str:
    return credit_type.to_money(units).format() if credit_type else ""


def _or_dash(credit_type: CreditType | None, units: Decimal) -> str:
    return _units(credit_type, units) if units else "—"


def _plain(units: Decimal) -> str:
    """A number for a form field: no separators, no trailing zeros."""
    text = f"{units:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _day(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d}" if value else "no end"


def _run_out(forecast: Forecast) -> tuple[str, str]:
    """The run-out date at the forecast's rate and its band, as sentences."""
    if forecast.run_out_at is None:
        return "Does not run out at this burn rate", ""
    latest = _day(forecast.latest_run_out_at) if forecast.latest_run_out_at else "never"
    return f"Runs out around {_day(forecast.run_out_at)}", f"between {_day(forecast.earliest_run_out_at)} and {latest}"


def _budget_forecast(forecast: Forecast | None) -> str:
    if forecast is None:
        return ""
    if forecast.run_out_at is None or not forecast.runs_out_before_end:
        return "Lasts the period at this week's burn"
    return f"At this week's burn, used up around {_day(forecast.run_out_at)}"


ALERT_LABELS = {
    enterprise_alerts.BUDGET_80: ("80% of budget", "amber"),
    enterprise_alerts.BUDGET_100: ("Budget used up", "red"),
    enterprise_alerts.COMMITMENT_RUNOUT: ("Commitment runs short", "red"),
}


def _alert_row(alert: enterprise_alerts.AlertView) -> AlertRow:
    label, color = ALERT_LABELS.get(alert.kind, (alert.kind, "gray"))
    return AlertRow(f"{alert.raised_at:%Y-%m-%d %H:%M}", alert.message, label, color)


def _status_label(department: enterprise.DepartmentView) -> str:
    if department.status == "warning":
        return f"{department.budget_percent}% used"
    return department.status


def _department_row(view: enterprise.EnterpriseView, d: enterprise.DepartmentView) -> DepartmentRow:
    ct, f = view.credit_type, d.figures
    if d.depth == 0:
        payer = "this account"
    else:
        payer = "pays its own overage" if d.payer == "self" else "overage billed to the account above"
    budget_line = f"{_number(ct, f.budget_drawn)} of {_number(ct, d.budget)} drawn" if d.budget is not None else ""
    return DepartmentRow(
        id=d.customer_id,
        name=d.name,
        depth=d.depth,
        indent=f"{d.depth * 20}px",
        option=("\u2003" * d.depth) + d.name,
        payer=payer,
        members=str(d.members),
        used=_units(ct, f.used),
        from_commitment=_units(ct, f.from_commitment),
        overage=_or_dash(ct, f.overage),
        overage_value=_value(ct, f.overage) if f.overage else "",
        blocked=_or_dash(ct, f.blocked),
        budget=_units(ct, d.budget) if d.budget is not None else "No budget",
        budget_amount=_plain(d.budget) if d.budget is not None else "",
        has_budget=d.budget is not None,
        percent=min(d.budget_percent, 100),
        drawn=budget_line,
        status=d.status,
        status_label=_status_label(d),
        status_color=STATUS_COLORS.get(d.status, "gray"),
        behaviour=d.behaviour,
        behaviour_label=BEHAVIOUR_LABELS.get(d.behaviour, d.behaviour) if d.budget is not None else "—",
        can_change=d.can_change_budget and view.can_manage,
        forecast=_budget_forecast(d.forecast),
    )


def _commitment_row(credit_type: CreditType | None, c: enterprise.CommitmentView) -> CommitmentRow:
    used = c.amount - c.remaining
    run_out, band = _run_out(c.forecast)
    return CommitmentRow(
        reason=c.reason,
        amount=_units(credit_type, c.amount),
        remaining=_units(credit_type, c.remaining),
        drawn=_units(credit_type, c.drawn_this_period),
        term_end=_day(c.ending_before),
        percent_used=min(int(used * 100 / c.amount), 100) if c.amount else 0,
        burn=_units(credit_type, c.forecast.daily_rate) + " a day",
        run_out=run_out,
        band=band,
        at_end=(
            _units(credit_type, c.forecast.shortfall_at_end) + " short at the end of the term"
            if c.forecast.shortfall_at_end
            else _units(credit_type, c.forecast.unused_at_end) + " left unused at the end of the term"
        ),
        runs_out_early=c.forecast.runs_out_before_end,
    )


class EnterpriseState(rx.State):
    """The viewer's enterprise (or department) with its departments, and the three dialogs' forms."""

    access: str = LOADING
    denied_reason: str = ""
    name: str = ""
    period: str = ""
    is_department: bool = False
    can_manage: bool = False
    commitments: list[CommitmentRow] = []
    alerts: list[AlertRow] = []
    departments: list[DepartmentRow] = []
    department_count: int = 0
    """Departments under the viewer's customer (the rows below depth 0)."""
    movable_count: int = 0
    """Departments whose budget the viewer may change."""
    allocated: str = ""
    committed: str = ""
    committed_remaining: str = ""
    unallocated_note: str = ""

    create_open: bool = False
    create_error: str = ""

    budget_id: str = ""
    budget_name: str = ""
    budget_amount: str = ""
    budget_behaviour: str = "overage"
    budget_error: str = ""

    move_open: bool = False
    move_error: str = ""

    @rx.var
    def budget_open(self) -> bool:
        """True while the set-budget dialog is open."""
        return self.budget_id != ""

    @rx.var
    def movable(self) -> list[DepartmentRow]:
        """The departments budget may be moved between."""
        return [d for d in self.departments if d.can_change]

    def _show(self, view: enterprise.EnterpriseView, identity: Identity) -> None:
        ct = view.credit_type
        self.name = view.name
        self.period = view.period.label()
        self.is_department = identity.is_department_admin and not identity.is_staff
        self.can_manage = view.can_manage
        self.commitments = [_commitment_row(ct, c) for c in view.commitments]
        self.alerts = [_alert_row(a) for a in enterprise_alerts.recent_alerts(identity)]
        self.departments = [_department_row(view, d) for d in view.departments]
        self.department_count = sum(1 for d in view.departments if d.depth > 0)
        self.movable_count = sum(1 for d in self.departments if d.can_change)
        total = sum((c.amount for c in view.commitments), ZERO)
        remaining = sum((c.remaining for c in view.commitments), ZERO)
        self.allocated = _units(ct, view.allocated)
        self.committed = _units(ct, total) if view.commitments else ""
        self.committed_remaining = _units(ct, remaining) if view.commitments else ""
        unbudgeted = [d.name for d in view.departments if d.depth == 1 and d.budget is None]
        self.unallocated_note = (
            "Without a budget, " + ", ".join(unbudgeted) + " may draw on the commitment without limit."
            if unbudgeted
            else ""
        )

    @rx.event
    def load(self) -> None:
        """Load the commitments and departments the signed-in admin may see (also the Refresh button)."""
        view = load_guarded(self, enterprise.enterprise_view)
        identity = identity_of(self)
        if view is not None and identity is not None:
            self._show(view, identity)

    def _reload(self, identity: Identity) -> None:
        self._show(enterprise.enterprise_view(identity), identity)

    # --- new department ---------------------------------------------------------------------------

    @rx.event
    def open_create(self) -> None:
        """Open the new-department dialog with an empty form."""
        self.create_error, self.create_open = "", True

    @rx.event
    def set_create_open(self, is_open: bool) -> None:
        """Close (or open) the new-department dialog."""
        self.create_open = is_open

    @rx.event
    def create(self, form: dict[str, str]) -> EventSpec | None:
        """Create the department from the form and invite its admin; the table reloads."""
        identity = identity_of(self)
        if identity is None:
            self.create_open = False
            return session_ended()
        name, email = str(form.get("name", "")).strip(), str(form.get("admin_email", "")).strip()
        parent = str(form.get("parent", ""))
        own = self.departments[0].id if self.departments else ""
        try:
            spec = enterprise.DepartmentSpec(
                name=name,
                admin_email=email,
                payer=str(form.get("payer", "self")),
                budget=str(form.get("budget", "")).strip() or None,
                behaviour=str(form.get("behaviour", "overage")),
            )
            enterprise.create_department(identity, spec, parent_id=parent if parent and parent != own else None)
        except ServiceError as exc:
            self.create_error = str(exc)
            return None
        self.create_error, self.create_open = "", False
        self._reload(identity)
        return rx.toast.success(f"Invited {email.lower()} as admin of {name}")

    # --- set budget -------------------------------------------------------------------------------

    @rx.event
    def open_budget(self, customer_id: str) -> None:
        """Open the set-budget dialog for one department, filled with its budget now."""
        row = next((d for d in self.departments if d.id == customer_id), None)
        if row is None:
            return
        self.budget_id, self.budget_name = row.id, row.name
        self.budget_amount, self.budget_behaviour, self.budget_error = row.budget_amount, row.behaviour, ""

    @rx.event
    def set_budget_open(self, is_open: bool) -> None:
        """Close the set-budget dialog."""
        if not is_open:
            self.budget_id = ""

    @rx.event
    def save_budget(self, form: dict[str, str]) -> EventSpec | None:
        """Set (or, with an empty amount, remove) the department's budget and what happens at it."""
        identity = identity_of(self)
        if identity is None:
            self.budget_id = ""
            return session_ended()
        amount = str(form.get("amount", "")).strip()
        try:
            enterprise.set_budget(identity, self.budget_id, amount, str(form.get("behaviour", "overage")))
        except ServiceError as exc:
            self.budget_error = str(exc)
            return None
        name = self.budget_name
        self.budget_id, self.budget_error = "", ""
        self._reload(identity)
        row = next((d for d in self.departments if d.name == name), None)
        if not amount or row is None:
            return rx.toast.success(f"Removed the budget of {name}: it may draw on the commitment without limit.")
        return rx.toast.success(f"Budget of {name} set to {row.budget} per period ({row.behaviour_label.lower()}).")

    # --- move budget ------------------------------------------------------------------------------

    @rx.event
    def open_move(self) -> None:
        """Open the move-budget dialog."""
        self.move_error, self.move_open = "", True

    @rx.event
    def set_move_open(self, is_open: bool) -> None:
        """Close (or open) the move-budget dialog."""
        self.move_open = is_open

    @rx.event
    def move(self, form: dict[str, str]) -> EventSpec | None:
        """Move budget from one department to another."""
        identity = identity_of(self)
        if identity is None:
            self.move_open = False
            return session_ended()
        source, target = str(form.get("from", "")), str(form.get("to", ""))
        amount = str(form.get("amount", "")).strip()
        if not source or not target:
            self.move_error = "Choose the department to move budget from and the one to move it to."
            return None
        try:
            enterprise.move_budget(identity, source, target, amount)
        except ServiceError as exc:
            self.move_error = str(exc)
            return None
        self.move_error, self.move_open = "", False
        self._reload(identity)
        rows = {d.id: d for d in self.departments}
        given, taken = rows.get(source), rows.get(target)
        if given is None or taken is None:
            return rx.toast.success(f"Moved {amount} of budget.")
        return rx.toast.success(
            f"Moved {amount} of budget from {given.name} to {taken.name}: "
            f"{given.name} now has {given.budget}, {taken.name} {taken.budget} per period."
        )
