"""Staff's alerts page at ``/staff/alerts``: the alert rules for every customer, each with the customers in alarm,
added and deleted in the same panel the account and staff customer pages use
(:mod:`portal.pages.customer_alerts`)."""

from __future__ import annotations

import reflex as rx

from portal.components.access import LOADING
from portal.components.layout import page_header
from portal.components.staff_nav import staff_area
from portal.pages.customer_alerts import alerts_panel
from portal.pages.staff_routes import ALERTS_ROUTE as ROUTE
from portal.services import alerts
from portal.state.access import load_guarded

__all__ = ["ROUTE", "StaffAlertsState", "staff_alerts_page"]


class StaffAlertsState(rx.State):
    """Whether the signed-in user may see the page (staff only); the panel holds the rules."""

    access: str = LOADING
    denied_reason: str = ""

    @rx.event
    def load(self) -> None:
        """Check the user is staff (the panel reads the rules itself)."""
        load_guarded(self, alerts.all_customer_rules)


def staff_alerts_page() -> rx.Component:
    """The rules for every customer with their customers in alarm, the add form and deletion."""
    return staff_area(
        StaffAlertsState,
        ROUTE,
        page_header("Alerts", "Rules judged for every customer; staff are told when one crosses."),
        alerts_panel(),
    )
