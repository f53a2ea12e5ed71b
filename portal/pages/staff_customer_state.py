"""State of one customer's staff page at ``/staff/customers/<customer id>``.

Everything shown comes from the services the customer's own pages use
(contract, balances, the live draft, past invoices), called with the staff
identity; grants by hand and voiding go through :mod:`portal.services.staff_customers`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from portal.components.access import LOADING
from portal.components.invoice_rows import explanation, grant_step, line_row
from portal.pages.staff_customers import ROUTE as CUSTOMERS_ROUTE
from portal.pages.staff_customers import customer_href
from portal.pages.staff_enterprise_state import StaffEnterpriseState
from portal.pages.staff_routes import id_in_path
from portal.services import billing, customers, packages, staff_customers
from portal.services.billing import InvoiceView, LineView
from portal.services.errors import ServiceError
from portal.services.identity import Identity
from portal.state.access import load_guarded
from portal.state.session import identity_of, session_ended

ROUTE = f"{CUSTOMERS_ROUTE}/[customer_id]"


def _explanation(row: dict[str, str], line: LineView, labels: dict[str, str]) -> dict[str, Any]:
    """What the explain dialog shows for one line (grants named by ``labels`` where known)."""
    grants = [
        grant_step(n, labels.get(g.grant_id, g.grant_id), g.units, g.amount, g.explanations)
        for n, g in enumerate(line.grants, start=1)
    ]
    return explanation(row, line, grants, [])


def invoice_row(
    invoice: InvoiceView, explanations: dict[str, dict[str, Any]], labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """An invoice with its line rows and totals; each line's explanation goes into ``explanations``, naming
    grants by ``labels`` (grant id to label) where known."""
    lines = []
    for line in invoice.lines:
        detail = " · ".join(p for p in (line.department, line.timing.replace("_", " ")) if p)
        row = line_row(f"{invoice.id}#{line.key}", line, detail, "")
        explanations[row["ref"]] = _explanation(row, line, labels or {})
        lines.append(row)
    return {
        "id": invoice.id,
        "period": invoice.period,
        "status": invoice.status,
        "note": invoice.payment_note,
        "subtotal": invoice.subtotal,
        "grants_applied": invoice.grants_applied,
        "due": invoice.total_due,
        "lines": lines,
    }


def _balances(identity: Identity, customer_id: str) -> dict[str, Any]:
    view = billing.balances(identity, customer_id)
    return {
        "pooled": [{"credit_type": p.credit_type, "remaining": p.remaining} for p in view.pooled],
        "grants": [
            {
                "id": g.id,
                "kind": g.kind,
                "source": g.source,
                "scope": g.seat_id or g.scope,
                "granted": g.granted,
                "remaining": g.remaining,
                "starts": f"{g.starts:%Y-%m-%d}",
                "expires": f"{g.expires:%Y-%m-%d}" if g.expires else "never",
            }
            for g in view.grants
        ],
        "seats": [
            {"seat": s.seat_id, "granted": s.granted, "used": s.used, "remaining": s.remaining} for s in view.seats
        ],
    }


def read_customer(identity: Identity, customer_id: str) -> dict[str, Any]:
    """Everything the page shows of one customer (staff only); a customer without a contract has no billing."""
    credit_types = packages.credit_type_ids(identity)  # staff only: refuses everyone else first
    customer = customers.get_customer(identity, customer_id)
    everyone = customers.list_customers(identity)
    names = {c.id: c.name for c in everyone}
    data: dict[str, Any] = {
        "customer": {
            "id": customer.id,
            "name": customer.name,
            "aliases": ", ".join(customer.ingest_aliases) or "—",
            "parent": names.get(customer.parent_id or "", ""),
            "parent_href": customer_href(customer.parent_id) if customer.parent_id else "",
        },
        "departments": [{"name": c.name, "href": customer_href(c.id)} for c in everyone if c.parent_id == customer.id],
        "credit_types": credit_types,
        "explanations": {},
    }
    try:
        contract = billing.contract_view(identity, customer_id)
    except ServiceError as exc:
        data["billing_note"] = str(exc)
        return data
    data["billing_note"] = ""
    data["contract"] = {
        "package": contract.package,
        "period": contract.period,
        "seats": str(contract.seats),
        "unassigned": str(contract.unassigned_seats),
    }
    data.update(_balances(identity, customer_id))
    labels = {g["id"]: f"{g['granted']} ({g['source']} {g['kind']})" for g in data["grants"]}
    explanations = data["explanations"]
    draft = invoice_row(billing.draft(identity, customer_id), explanations, labels)
    data["draft"], data["draft_lines"] = draft, draft.pop("lines")
    data["invoices"] = [invoice_row(i, explanations, labels) for i in billing.invoices(identity, customer_id)]
    return data


def parse_expiry(text: str) -> datetime | None:
    """An expiry date typed as ``YYYY-MM-DD`` (the start of that day, UTC), or None when empty."""
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"The expiry date must be a date like 2027-01-31, not {text!r}.") from None


class CustomerDetailState(rx.State):
    """One customer's contract, balances, invoices and hierarchy, and the grant and void dialogs."""

    access: str = LOADING
    denied_reason: str = ""
    customer: dict[str, str] = {}
    departments: list[dict[str, str]] = []
    billing_note: str = ""
    contract: dict[str, str] = {}
    pooled: list[dict[str, str]] = []
    grants: list[dict[str, str]] = []
    seats: list[dict[str, str]] = []
    draft: dict[str, Any] = {}
    draft_lines: list[dict[str, str]] = []
    invoices: list[dict[str, Any]] = []
    credit_types: list[str] = []
    explain_open: bool = False
    explained: dict[str, str] = {}
    explained_tiers: list[dict[str, str]] = []
    explained_groups: list[dict[str, str]] = []
    explained_grants: list[dict[str, Any]] = []
    explained_uncovered: list[str] = []
    grant_open: bool = False
    grant_error: str = ""
    grant_unit: str = ""
    void_open: bool = False
    void_label: str = ""
    void_error: str = ""
    _void_id: str = ""
    _explanations: dict[str, dict[str, Any]] = {}

    def _customer_id(self) -> str:
        return id_in_path(self, CUSTOMERS_ROUTE)

    def _show(self, data: dict[str, Any]) -> None:
        self.customer, self.departments = data["customer"], data["departments"]
        self.credit_types, self.billing_note = data["credit_types"], data["billing_note"]
        self.contract = data.get("contract", {})
        self.pooled, self.grants, self.seats = data.get("pooled", []), data.get("grants", []), data.get("seats", [])
        self.draft, self.draft_lines = data.get("draft", {}), data.get("draft_lines", [])
        self.invoices, self._explanations = data.get("invoices", []), data["explanations"]
        if self.grant_unit not in self.credit_types:
            self.grant_unit = self.credit_types[0] if self.credit_types else ""

    @rx.event
    def load(self) -> EventSpec | None:
        """Read the customer in the address (staff only), then its Enterprise panel."""
        self.grant_open = self.void_open = self.explain_open = False
        customer_id = self._customer_id()
        data = load_guarded(self, lambda identity: read_customer(identity, customer_id))
        if data is None:
            return None
        self._show(data)
        return StaffEnterpriseState.load

    def _reload(self, identity: Identity) -> EventSpec | None:
        try:
            self._show(read_customer(identity, self._customer_id()))
        except ServiceError as exc:
            return rx.toast.error(str(exc))
        return None

    @rx.event
    def recompute(self) -> EventSpec | None:
        """Read the live draft (and everything else) again."""
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        return self._reload(identity) or rx.toast.success("Draft recomputed.")

    @rx.event
    def explain(self, ref: str) -> None:
        """Open the explanation of one invoice line."""
        payload = self._explanations.get(ref)
        if payload is None:
            return
        self.explained, self.explained_tiers, self.explained_groups = (
            payload["line"],
            payload["tiers"],
            payload["groups"],
        )
        self.explained_grants, self.explained_uncovered = payload["grants"], payload["uncovered"]
        self.explain_open = True

    @rx.event
    def set_explain_open(self, is_open: bool) -> None:
        """Close (or reopen) the explain dialog."""
        self.explain_open = is_open

    @rx.event
    def open_grant(self) -> None:
        """Open the grant dialog."""
        self.grant_error, self.grant_open = "", True

    @rx.event
    def set_grant_open(self, is_open: bool) -> None:
        """Close (or open) the grant dialog."""
        self.grant_open = is_open

    @rx.event
    def set_grant_unit(self, unit: str) -> None:
        """Choose the credit type of the grant."""
        self.grant_unit = unit

    @rx.event
    def grant(self, form: dict[str, str]) -> EventSpec | None:
        """Grant the credit typed in the dialog; say what was wrong and keep the input otherwise."""
        identity = identity_of(self)
        if identity is None:
            self.grant_open = False
            return session_ended()
        try:
            expiry = parse_expiry(str(form.get("expires", "")))
        except ValueError as exc:
            self.grant_error = str(exc)
            return None
        try:
            granted = staff_customers.grant_credits(
                identity,
                self._customer_id(),
                str(form.get("amount", "")).strip(),
                self.grant_unit,
                str(form.get("reason", "")),
                ending_before=expiry,
            )
        except ServiceError as exc:
            self.grant_error = str(exc)
            return None
        self.grant_open, self.grant_error = False, ""
        return self._reload(identity) or rx.toast.success(f"Granted {granted.amount}: {granted.reason}")

    @rx.event
    def open_void(self, invoice_id: str, period: str) -> None:
        """Ask for the reason to void one invoice."""
        self._void_id, self.void_label, self.void_error, self.void_open = invoice_id, period, "", True

    @rx.event
    def set_void_open(self, is_open: bool) -> None:
        """Close (or open) the void dialog."""
        self.void_open = is_open

    @rx.event
    def void(self, form: dict[str, str]) -> EventSpec | None:
        """Void the chosen invoice with the reason typed; show the service's refusal otherwise."""
        identity = identity_of(self)
        if identity is None:
            self.void_open = False
            return session_ended()
        try:
            staff_customers.void_invoice(identity, self._void_id, str(form.get("reason", "")))
        except ServiceError as exc:
            self.void_error = str(exc)
            return None
        self.void_open, self.void_error = False, ""
        return self._reload(identity) or rx.toast.success(f"Invoice for {self.void_label} voided.")
