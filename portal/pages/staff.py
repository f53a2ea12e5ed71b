"""The staff area: the package catalog and the customers."""

from __future__ import annotations

import dataclasses

import reflex as rx

from portal.components.access import LOADING
from portal.components.layout import page_header
from portal.components.staff_nav import staff_area
from portal.components.tables import data_table
from portal.services.accounts import staff_overview
from portal.state.access import load_guarded


class StaffState(rx.State):
    """Package versions and customers, as view rows."""

    access: str = LOADING
    denied_reason: str = ""
    packages: list[dict[str, str]] = []
    customers: list[dict[str, str]] = []

    @rx.event
    def load(self) -> None:
        """Load the catalog and the customer list (staff only)."""
        overview = load_guarded(self, staff_overview)
        if overview is None:
            return
        self.packages = [{k: str(v) for k, v in dataclasses.asdict(p).items()} for p in overview.packages]
        self.customers = [{k: str(v) for k, v in dataclasses.asdict(c).items()} for c in overview.customers]


def staff_page() -> rx.Component:
    """Catalog and customers."""
    return staff_area(
        StaffState,
        "/staff",
        page_header("Staff workspace", "Packages and customers."),
        rx.hstack(
            rx.heading("Packages", size="4"),
            rx.spacer(),
            rx.link(
                rx.button(rx.icon("package", size=14), "Manage packages", variant="soft", size="2"),
                href="/staff/packages",
                id="manage-packages",
            ),
            rx.link(
                rx.button(rx.icon("scroll-text", size=14), "Audit log", variant="soft", size="2"),
                href="/staff/audit",
                id="open-audit",
            ),
            width="100%",
            align="center",
        ),
        data_table(
            ["Tier", "Alias", "Rank", "Version", "Status", "Seat price"],
            StaffState.packages,
            ["package", "key", "rank", "version", "status", "seat_price"],
            "packages",
        ),
        rx.heading("Customers", size="4", margin_top="4"),
        data_table(["Customer", "Parent", "Users"], StaffState.customers, ["name", "parent", "users"], "customers"),
    )
