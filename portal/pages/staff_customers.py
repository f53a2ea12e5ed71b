"""Staff's customer search at ``/staff/customers``: find a customer by name, id or ingest alias and open it."""

from __future__ import annotations

import reflex as rx
from reflex.event import EventSpec

from portal.components.access import LOADING
from portal.components.layout import notice, page_header
from portal.components.staff_nav import staff_area
from portal.services import staff_customers
from portal.services.errors import ServiceError
from portal.services.identity import Identity
from portal.state.access import load_guarded
from portal.state.session import identity_of, session_ended

ROUTE = "/staff/customers"


def customer_href(customer_id: str) -> str:
    """The address of one customer's staff page."""
    return f"{ROUTE}/{customer_id}"


def match_rows(identity: Identity, text: str) -> list[dict[str, str]]:
    """The customers matching ``text`` as rows of strings (staff only)."""
    return [
        {
            "id": m.id,
            "name": m.name,
            "parent": m.parent or "—",
            "package": m.package or "no plan",
            "users": str(m.users),
            "href": customer_href(m.id),
        }
        for m in staff_customers.search(identity, text)
    ]


class CustomersState(rx.State):
    """The search text and the matching customers."""

    access: str = LOADING
    denied_reason: str = ""
    search: str = ""
    matches: list[dict[str, str]] = []

    @rx.event
    def load(self) -> None:
        """List the first customers by name (staff only)."""
        self.search = ""
        rows = load_guarded(self, lambda identity: match_rows(identity, ""))
        if rows is not None:
            self.matches = rows

    @rx.event
    def set_search(self, text: str) -> EventSpec | None:
        """Show the customers whose name, id or ingest alias contains ``text``."""
        self.search = text
        identity = identity_of(self)
        if identity is None:
            self.matches = []
            return session_ended()
        try:
            self.matches = match_rows(identity, text)
        except ServiceError as exc:
            self.matches = []
            return rx.toast.error(str(exc))
        return None


def _match_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.link(rx.text(row["name"], weight="medium"), href=row["href"], class_name="customer-link"),
            rx.text(row["id"], size="1", color_scheme="gray"),
        ),
        rx.table.cell(row["parent"]),
        rx.table.cell(rx.badge(row["package"], variant="soft", color_scheme="gray")),
        rx.table.cell(row["users"], text_align="right"),
        rx.table.cell(
            rx.link(rx.button(rx.icon("eye", size=14), "Open", size="1", variant="soft"), href=row["href"]),
            text_align="right",
        ),
        class_name="customer-row",
        data_customer=row["id"],
    )


def _matches_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell("Customer"),
                rx.table.column_header_cell("Parent"),
                rx.table.column_header_cell("Tier"),
                rx.table.column_header_cell("Users", text_align="right"),
                rx.table.column_header_cell(""),
            )
        ),
        rx.table.body(rx.foreach(CustomersState.matches, _match_row)),
        variant="surface",
        width="100%",
        id="customer-matches",
    )


def staff_customers_page() -> rx.Component:
    """The customer search."""
    return staff_area(
        CustomersState,
        ROUTE,
        page_header("Customers", "Find a customer by name, id or ingest alias to see its contract, credits and bills."),
        rx.input(
            rx.input.slot(rx.icon("search", size=15)),
            placeholder="Name, id or ingest alias…",
            value=CustomersState.search,
            on_change=CustomersState.set_search.debounce(300),
            width="360px",
            id="customer-search",
        ),
        rx.cond(
            CustomersState.matches.length() == 0,
            notice("users", "No customers found", "No customer's name, id or ingest alias contains this text."),
            _matches_table(),
        ),
    )
