"""The enterprise admin area: the departments (child accounts) of the admin's enterprise."""

from __future__ import annotations

import reflex as rx

from portal.components.access import LOADING, guarded
from portal.components.layout import notice, page_header, shell
from portal.components.tables import data_table
from portal.services.accounts import enterprise_overview
from portal.state.access import load_guarded


class EnterpriseState(rx.State):
    """The enterprise's departments, as view rows."""

    access: str = LOADING
    denied_reason: str = ""
    departments: list[dict[str, str]] = []

    @rx.event
    def load(self) -> None:
        """Load the departments of the caller's enterprise (enterprise admins only)."""
        departments = load_guarded(self, enterprise_overview)
        if departments is not None:
            self.departments = [{"name": d.name, "members": str(d.members)} for d in departments]


def enterprise_page() -> rx.Component:
    """The departments of the enterprise."""
    return shell(
        guarded(
            EnterpriseState.access,
            EnterpriseState.denied_reason,
            rx.vstack(
                page_header("Departments", "Child accounts of your enterprise."),
                rx.cond(
                    EnterpriseState.departments.length() == 0,
                    notice("building-2", "No departments yet", "Your enterprise has no child accounts."),
                    data_table(
                        ["Department", "Members"], EnterpriseState.departments, ["name", "members"], "departments"
                    ),
                ),
                width="100%",
                align="start",
            ),
        )
    )
