"""The customer area: the signed-in user's own account and team."""

from __future__ import annotations

import reflex as rx

from portal.components.access import LOADING, guarded
from portal.components.layout import page_header, shell
from portal.components.tables import data_table
from portal.services.accounts import customer_overview
from portal.state.access import load_guarded


class CustomerState(rx.State):
    """The caller's customer, as view rows."""

    access: str = LOADING
    denied_reason: str = ""
    name: str = ""
    currency: str = ""
    parent_name: str = ""
    members: list[dict[str, str]] = []

    @rx.event
    def load(self) -> None:
        """Load the caller's own customer (nobody else's can be asked for)."""
        overview = load_guarded(self, customer_overview)
        if overview is None:
            return
        self.name, self.currency, self.parent_name = overview.name, overview.currency, overview.parent_name
        self.members = [{"name": m.name, "email": m.email, "role": m.role} for m in overview.members]


def customer_page() -> rx.Component:
    """Account summary and team members."""
    return shell(
        guarded(
            CustomerState.access,
            CustomerState.denied_reason,
            rx.vstack(
                page_header(CustomerState.name, "Your account"),
                rx.hstack(
                    rx.badge(f"Billed in {CustomerState.currency}", variant="surface"),
                    rx.cond(
                        CustomerState.parent_name != "",
                        rx.badge("Department of " + CustomerState.parent_name, variant="surface", color_scheme="blue"),
                    ),
                ),
                rx.heading("Team", size="4", margin_top="4"),
                data_table(["Name", "Email", "Role"], CustomerState.members, ["name", "email", "role"], "members"),
                width="100%",
                align="start",
            ),
        )
    )
