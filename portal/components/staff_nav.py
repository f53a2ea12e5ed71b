"""Navigation within the staff workspace, and the small badges its pages share."""

from __future__ import annotations

from typing import Any

import reflex as rx

from portal.components.access import guarded
from portal.components.layout import shell

STAFF_SECTIONS = (
    ("Overview", "/staff", "layout-dashboard", "staff-nav-overview"),
    ("Customers", "/staff/customers", "users", "staff-nav-customers"),
    ("Packages", "/staff/packages", "package", "staff-nav-packages"),
    ("Rate cards", "/staff/rate-cards", "tags", "staff-nav-rate-cards"),
    ("Metrics", "/staff/metrics", "ruler", "staff-nav-metrics"),
    ("Adoption", "/staff/adoption", "chart-column", "staff-nav-adoption"),
    ("Alerts", "/staff/alerts", "bell-ring", "staff-nav-alerts"),
    ("Audit log", "/staff/audit", "scroll-text", "staff-nav-audit"),
)
"""The workspace's sections: label, route, icon and element id."""


def staff_nav(current: str) -> rx.Component:
    """Links to the workspace's sections; the one at route ``current`` is marked."""
    return rx.hstack(
        *[
            rx.link(
                rx.button(
                    rx.icon(icon, size=15),
                    label,
                    variant="soft" if route == current else "ghost",
                    color_scheme="violet" if route == current else "gray",
                    size="2",
                ),
                href=route,
                id=element_id,
                underline="none",
            )
            for label, route, icon, element_id in STAFF_SECTIONS
        ],
        spacing="4",
        align="center",
        margin_bottom="20px",
        id="staff-nav",
    )


def version_status_badge(status: rx.Var) -> rx.Component:
    """A package version's status (draft, published, archived) as a coloured badge."""
    return rx.match(
        status,
        ("draft", rx.badge(rx.icon("pencil", size=12), "Draft", color_scheme="amber", variant="soft")),
        ("published", rx.badge(rx.icon("circle-check", size=12), "Published", color_scheme="green", variant="soft")),
        ("archived", rx.badge("Archived", color_scheme="gray", variant="soft")),
        rx.badge(status, variant="soft"),
    )


def change_status_badge(status: rx.Var) -> rx.Component:
    """A price change's status (draft, scheduled) as a coloured badge."""
    return rx.match(
        status,
        ("draft", rx.badge(rx.icon("pencil", size=12), "Draft", color_scheme="amber", variant="soft")),
        ("scheduled", rx.badge(rx.icon("calendar-check", size=12), "Scheduled", color_scheme="blue", variant="soft")),
        rx.badge(status, variant="soft"),
    )


def staff_area(state: Any, route: str, *children: rx.Component, spacing: str = "3") -> rx.Component:
    """A staff page: the app shell, the staff-only guard of ``state`` (its ``access`` and ``denied_reason``), the
    workspace navigation with ``route`` marked, then ``children`` in a column."""
    return shell(
        guarded(
            state.access,
            state.denied_reason,
            rx.vstack(staff_nav(route), *children, width="100%", align="start", spacing=spacing),
        )
    )
