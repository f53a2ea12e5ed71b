"""State of the "Enterprise" panel of a customer's staff page: opening a customer as an enterprise, its tree of
departments, its shared commitments with their child access, and adding departments.

Figures come from :func:`portal.services.enterprise.view_of` for the customer in the address; every change goes
through :mod:`portal.services.enterprise` with the staff identity (each audited there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TypedDict

import reflex as rx
from reflex.event import EventSpec

from portal.domain.money import CreditType
from portal.pages.staff_customers import ROUTE as CUSTOMERS_ROUTE
from portal.pages.staff_customers import customer_href
from portal.pages.staff_routes import id_in_path
from portal.services import enterprise, rate_changes
from portal.services.errors import ServiceError
from portal.services.identity import Identity
from portal.state.session import identity_of, session_ended

DEFAULT_CREDIT_TYPE_NAME = "AI credits"
"""The commitment's credit type the open dialog offers first (when the catalog has it)."""

EVERY, NONE, CHOSEN = "all", "none", "chosen"
"""The child access of a commitment: every department, none, or the departments chosen."""

PAYER_LABELS = {"self": "Self", "parent": "Parent"}
STATEMENT_LABELS = {"consolidated": "Consolidated", "separate": "Separate"}


@dataclass(frozen=True)
class TreeRow:
    """One customer of the tree (the customer of the page first, at depth 0)."""

    id: str
    name: str
    href: str
    depth: int
    indent: str
    """Left padding of the name, by depth."""
    option: str
    """The name indented for a drop-down list."""
    payer: str
    statement: str
    budget: str
    used: str


@dataclass(frozen=True)
class CommitmentRow:
    """A shared commitment held by the customer of the page, with who may draw on it."""

    grant_id: str
    reason: str
    amount: str
    remaining: str
    term_end: str
    access: str
    """``every department``, ``none``, or the departments' names."""
    access_mode: str
    access_ids: list[str] = field(default_factory=list)
    """The customer ids of the departments chosen (with ``access_mode`` ``chosen``)."""


@dataclass(frozen=True)
class Option:
    """An entry of a picker."""

    value: str
    label: str


class AccessForm(TypedDict, total=False):
    """What the child-access dialog submits: the mode and the departments ticked."""

    mode: str
    departments: list[str]


def _units(credit_type: CreditType | None, units: Decimal | None) -> str:
    if units is None:
        return "—"
    return credit_type.format(units) if credit_type else f"{units:,}"


def _day(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d}" if value else "no end"


def _tree_rows(view: enterprise.EnterpriseView) -> list[TreeRow]:
    ct = view.credit_type
    rows = []
    for d in view.departments:
        budget = _units(ct, d.budget)
        if d.budget is not None and d.behaviour == "block":
            budget += " (blocks)"
        rows.append(
            TreeRow(
                id=d.customer_id,
                name=d.name,
                href=customer_href(d.customer_id),
                depth=d.depth,
                indent=f"{d.depth * 24}px",
                option=("\u2003" * d.depth) + d.name,
                payer=PAYER_LABELS.get(d.payer, d.payer) if d.statement else "—",
                statement=STATEMENT_LABELS.get(d.statement, d.statement) if d.statement else "—",
                budget=budget,
                used=_units(ct, d.figures.used) if ct else "—",
            )
        )
    return rows


def _commitment_rows(view: enterprise.EnterpriseView) -> list[CommitmentRow]:
    names = {d.customer_id: d.name for d in view.departments}
    rows = []
    for c in view.commitments:
        ids: list[str] = []
        if c.child_access is None:
            mode, label = EVERY, "every department"
        elif not c.child_access:
            mode, label = NONE, "none"
        else:
            ids = [d.customer_id for d in view.departments if d.customer_id in c.child_access]
            mode, label = CHOSEN, ", ".join(names[i] for i in ids) or "none"
        rows.append(
            CommitmentRow(
                grant_id=c.grant_id,
                reason=c.reason,
                amount=_units(view.credit_type, c.amount),
                remaining=_units(view.credit_type, c.remaining),
                term_end=_day(c.ending_before),
                access=label,
                access_mode=mode,
                access_ids=ids,
            )
        )
    return rows


def _credit_types(identity: Identity) -> list[Option]:
    """The credit types a commitment may be kept in, the AI credits first when there are any."""
    options = [Option(unit_id, name) for unit_id, name in enterprise.commitment_units(identity)]
    return sorted(options, key=lambda o: o.label != DEFAULT_CREDIT_TYPE_NAME)


@dataclass
class EnterpriseData:
    """Everything the panel shows of one customer."""

    has_contract: bool
    note: str
    tree: list[TreeRow]
    commitments: list[CommitmentRow]
    rate_cards: list[Option]
    credit_types: list[Option]
    holder: str
    """For a department without commitments of its own: the name of the customer at the top of its tree."""


def read_enterprise(identity: Identity, customer_id: str, at: datetime | None = None) -> EnterpriseData:
    """The enterprise panel of one customer (staff only)."""
    found = enterprise.staff_view(identity, customer_id, at)
    cards = [Option(card_id, name) for card_id, name in rate_changes.list_rate_cards(identity)]
    credit_types = _credit_types(identity)
    view = found.view
    if view is None:
        return EnterpriseData(found.problem != "", found.problem, [], [], cards, credit_types, found.top_name)
    return EnterpriseData(True, "", _tree_rows(view), _commitment_rows(view), cards, credit_types, found.top_name)


def parse_term(text: str) -> int:
    """A term typed in whole months."""
    text = text.strip() or "12"
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"The term is a whole number of months, such as 12, not {text!r}.") from None


def _text(form: object, key: str) -> str:
    value = form.get(key, "") if isinstance(form, dict) else ""
    return str(value or "").strip()


class StaffEnterpriseState(rx.State):
    """The Enterprise panel of the customer in the address, and its three dialogs."""

    loaded: bool = False
    has_contract: bool = False
    note: str = ""
    holder: str = ""
    tree: list[TreeRow] = []
    commitments: list[CommitmentRow] = []
    rate_cards: list[Option] = []
    credit_types: list[Option] = []

    open_dialog: bool = False
    open_error: str = ""

    department_dialog: bool = False
    department_error: str = ""

    access_grant: str = ""
    access_reason: str = ""
    access_mode: str = EVERY
    access_chosen: list[str] = []
    access_error: str = ""

    @rx.var
    def departments(self) -> list[TreeRow]:
        """The tree below the customer of the page (what child access may name)."""
        return [row for row in self.tree if row.depth > 0]

    @rx.var
    def access_open(self) -> bool:
        """True while the child-access dialog is open."""
        return self.access_grant != ""

    def _customer_id(self) -> str:
        return id_in_path(self, CUSTOMERS_ROUTE)

    def _show(self, data: EnterpriseData) -> None:
        self.has_contract, self.note, self.holder = data.has_contract, data.note, data.holder
        self.tree, self.commitments = data.tree, data.commitments
        self.rate_cards, self.credit_types = data.rate_cards, data.credit_types
        self.loaded = True

    @rx.event
    def load(self) -> None:
        """Read the enterprise panel of the customer in the address (nothing shows for anyone but staff)."""
        self.open_dialog = self.department_dialog = False
        self.access_grant, self.loaded = "", False
        identity = identity_of(self)
        customer_id = self._customer_id()
        if identity is None or not identity.is_staff or not customer_id:
            return
        try:
            self._show(read_enterprise(identity, customer_id))
        except ServiceError:
            return

    def _reload(self, identity: Identity) -> EventSpec | None:
        try:
            self._show(read_enterprise(identity, self._customer_id()))
        except ServiceError as exc:
            return rx.toast.error(str(exc))
        return None

    # --- open as enterprise -------------------------------------------------------------------------

    @rx.event
    def open_enterprise_dialog(self) -> None:
        """Open the "Open as enterprise" dialog."""
        self.open_error, self.open_dialog = "", True

    @rx.event
    def set_open_dialog(self, is_open: bool) -> None:
        """Close (or open) the "Open as enterprise" dialog."""
        self.open_dialog = is_open

    @rx.event
    def open_enterprise(self, form: dict[str, str]) -> list[EventSpec] | EventSpec | None:
        """Give the customer an enterprise contract with the shared commitment typed; the page then reloads."""
        identity = identity_of(self)
        if identity is None:
            self.open_dialog = False
            return session_ended()
        try:
            term = parse_term(_text(form, "term"))
        except ValueError as exc:
            self.open_error = str(exc)
            return None
        amount = _text(form, "commitment")
        try:
            enterprise.open_enterprise(
                identity,
                self._customer_id(),
                rate_card_id=_text(form, "rate_card"),
                commitment=amount,
                credit_type_id=_text(form, "credit_type"),
                term_months=term,
                reason=_text(form, "reason") or "Enterprise commitment",
            )
        except ServiceError as exc:
            self.open_error = str(exc)
            return None
        self.open_dialog, self.open_error = False, ""
        # Imported here: the customer page's state starts this panel's loading, so it imports this module.
        from portal.pages.staff_customer_state import CustomerDetailState

        return [CustomerDetailState.load, rx.toast.success(f"Opened as an enterprise with a commitment of {amount}.")]

    # --- add department -----------------------------------------------------------------------------

    @rx.event
    def open_department_dialog(self) -> None:
        """Open the "Add department" dialog."""
        self.department_error, self.department_dialog = "", True

    @rx.event
    def set_department_dialog(self, is_open: bool) -> None:
        """Close (or open) the "Add department" dialog."""
        self.department_dialog = is_open

    @rx.event
    def add_department(self, form: dict[str, str]) -> EventSpec | None:
        """Create the department typed under the customer chosen in the tree; the tree reloads."""
        identity = identity_of(self)
        if identity is None:
            self.department_dialog = False
            return session_ended()
        name = _text(form, "name")
        parent = _text(form, "parent") or self._customer_id()
        try:
            spec = enterprise.DepartmentSpec(
                name=name,
                admin_email=_text(form, "admin_email"),
                payer=_text(form, "payer") or "self",
                statement=_text(form, "statement") or "consolidated",
                budget=_text(form, "budget") or None,
                behaviour=_text(form, "behaviour") or "overage",
                rate_card_id=_text(form, "rate_card") or None,
            )
            enterprise.create_department(identity, spec, parent_id=parent)
        except ServiceError as exc:
            self.department_error = str(exc)
            return None
        self.department_dialog, self.department_error = False, ""
        under = next((row.name for row in self.tree if row.id == parent), "")
        return self._reload(identity) or rx.toast.success(f"Added {name.strip()} under {under}.")

    # --- child access -------------------------------------------------------------------------------

    @rx.event
    def open_access(self, grant_id: str) -> None:
        """Open the child-access dialog of one commitment, filled with its access now."""
        row = next((c for c in self.commitments if c.grant_id == grant_id), None)
        if row is None:
            return
        self.access_reason, self.access_mode, self.access_chosen = row.reason, row.access_mode, list(row.access_ids)
        self.access_error, self.access_grant = "", grant_id

    @rx.event
    def set_access_open(self, is_open: bool) -> None:
        """Close the child-access dialog."""
        if not is_open:
            self.access_grant = ""

    @rx.event
    def save_access(self, form: AccessForm) -> EventSpec | None:
        """Open the commitment to every department, to none, or to the departments ticked."""
        identity = identity_of(self)
        if identity is None:
            self.access_grant = ""
            return session_ended()
        mode = str(form.get("mode", "") or "")
        chosen = [str(d) for d in form.get("departments", []) or []]
        departments: list[str] | None
        if mode == EVERY:
            departments = None
        elif mode == NONE:
            departments = []
        elif mode == CHOSEN:
            if not chosen:
                self.access_error = "Tick the departments that may draw on the commitment, or choose none."
                return None
            departments = chosen
        else:
            self.access_error = "Choose every department, none, or the departments that may draw on it."
            return None
        try:
            enterprise.set_commitment_access(identity, self.access_grant, departments)
        except ServiceError as exc:
            self.access_error = str(exc)
            return None
        grant_id = self.access_grant
        self.access_grant, self.access_error = "", ""
        failed = self._reload(identity)
        if failed is not None:
            return failed
        row = next((c for c in self.commitments if c.grant_id == grant_id), None)
        return rx.toast.success(f"The commitment is open to {row.access if row else 'the departments chosen'}.")
