"""One customer's staff page at ``/staff/customers/<customer id>``: contract, balances, the live draft, past
invoices with voiding, the hierarchy, granting credits by hand, and setting up an enterprise (its panel is in
:mod:`portal.pages.staff_enterprise_panel`)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from portal.components.account_forms import error_message
from portal.components.dialogs import dialog_buttons
from portal.components.invoice import explain_dialog, invoice_lines, invoice_totals, status_badge
from portal.components.layout import labelled, page_header
from portal.components.staff_nav import staff_area
from portal.components.tables import data_table
from portal.pages.customer_alerts import alerts_panel
from portal.pages.staff_customer_state import CustomerDetailState as S
from portal.pages.staff_customers import ROUTE as CUSTOMERS_ROUTE
from portal.pages.staff_enterprise_panel import enterprise_panel


def _panel(title: str, *content: rx.Component, action: rx.Component | None = None, **props: Any) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(rx.heading(title, size="4"), rx.spacer(), action or rx.fragment(), width="100%", align="center"),
            *content,
            spacing="3",
            width="100%",
        ),
        size="2",
        width="100%",
        **props,
    )


def _fact(label: str, value: rx.Var, fact_id: str) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray"),
        rx.text(value, size="3", weight="medium", id=fact_id),
        spacing="1",
    )


def _contract_panel() -> rx.Component:
    return _panel(
        "Contract",
        rx.cond(
            S.billing_note != "",
            rx.text(S.billing_note, size="2", color_scheme="gray", id="billing-note"),
            rx.hstack(
                _fact("Tier", S.contract["package"], "contract-package"),
                _fact("Period", S.contract["period"], "contract-period"),
                _fact("Seats", S.contract["seats"], "contract-seats"),
                _fact("Unassigned seats", S.contract["unassigned"], "contract-unassigned"),
                spacing="6",
                wrap="wrap",
            ),
        ),
        id="contract-panel",
    )


def _hierarchy_panel() -> rx.Component:
    return _panel(
        "Hierarchy",
        rx.cond(
            S.customer["parent"] != "",
            rx.hstack(
                rx.text("Department of", size="2"),
                rx.link(S.customer["parent"], href=S.customer["parent_href"], id="customer-parent"),
            ),
        ),
        rx.cond(
            S.departments.length() > 0,
            rx.hstack(
                rx.text("Departments:", size="2"),
                rx.foreach(S.departments, lambda d: rx.link(d["name"], href=d["href"], class_name="department-link")),
                spacing="3",
                wrap="wrap",
            ),
        ),
        rx.cond(
            (S.customer["parent"] == "") & (S.departments.length() == 0),
            rx.text("No parent and no departments.", size="2", color_scheme="gray"),
        ),
        rx.text("Ingest aliases: ", S.customer["aliases"], size="2", color_scheme="gray"),
        id="hierarchy-panel",
    )


def _balances_panel() -> rx.Component:
    return _panel(
        "Balances",
        rx.cond(
            S.pooled.length() > 0,
            rx.hstack(
                rx.foreach(
                    S.pooled,
                    lambda p: rx.badge(p["credit_type"], ": ", p["remaining"], size="2", class_name="pooled-balance"),
                ),
                wrap="wrap",
            ),
        ),
        rx.cond(
            S.grants.length() > 0,
            data_table(
                ["Kind", "Source", "Scope", "Granted", "Remaining", "Starts", "Expires"],
                S.grants,
                ["kind", "source", "scope", "granted", "remaining", "starts", "expires"],
                "customer-grants",
            ),
            rx.text("No grants.", size="2", color_scheme="gray"),
        ),
        rx.cond(
            S.seats.length() > 0,
            data_table(
                ["Seat", "Granted", "Used", "Remaining"],
                S.seats,
                ["seat", "granted", "used", "remaining"],
                "customer-seats",
            ),
        ),
        action=rx.button(rx.icon("gift", size=14), "Grant credits", size="2", on_click=S.open_grant, id="open-grant"),
        id="balances-panel",
    )


def _draft_panel() -> rx.Component:
    return _panel(
        "Current invoice",
        rx.text("Draft for ", S.draft["period"].to(str), size="2", color_scheme="gray"),
        rx.cond(
            S.draft_lines.length() > 0,
            invoice_lines(S.draft_lines, S.explain, "draft-lines"),
            rx.text("Nothing billed yet this period.", size="2", color_scheme="gray"),
        ),
        invoice_totals(S.draft, "draft-totals"),
        action=rx.button(
            rx.icon("refresh-cw", size=14), "Recompute", size="2", variant="soft", on_click=S.recompute, id="recompute"
        ),
        id="draft-panel",
    )


def _past_invoice(invoice: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(invoice["period"], weight="medium", size="2"),
                status_badge(invoice["status"]),
                rx.spacer(),
                rx.text(invoice["due"], weight="medium", size="2"),
                rx.cond(
                    invoice["status"] != "void",
                    rx.button(
                        rx.icon("ban", size=14),
                        "Void",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        on_click=S.open_void(invoice["id"], invoice["period"]),
                        class_name="void-invoice",
                    ),
                ),
                width="100%",
                align="center",
            ),
            rx.cond(invoice["note"] != "", rx.text(invoice["note"], size="1", color_scheme="gray")),
            invoice_lines(invoice["lines"].to(list[dict[str, str]]), S.explain, "invoice-lines"),
            invoice_totals(invoice, "invoice-totals"),
            spacing="2",
            width="100%",
        ),
        width="100%",
        class_name="past-invoice",
        data_invoice=invoice["id"],
    )


def _invoices_panel() -> rx.Component:
    return _panel(
        "Past invoices",
        rx.cond(
            S.invoices.length() > 0,
            rx.vstack(rx.foreach(S.invoices, _past_invoice), spacing="3", width="100%"),
            rx.text("No finalized invoices.", size="2", color_scheme="gray"),
        ),
        id="past-invoices",
    )


def _grant_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Grant credits to ", S.customer["name"]),
            rx.form(
                rx.vstack(
                    error_message(S.grant_error, "grant-error"),
                    rx.hstack(
                        labelled("Amount", rx.input(name="amount", id="grant-amount", placeholder="500")),
                        labelled(
                            "Unit",
                            rx.select(S.credit_types, value=S.grant_unit, on_change=S.set_grant_unit, id="grant-unit"),
                        ),
                        width="100%",
                    ),
                    labelled(
                        "Reason",
                        rx.text_area(
                            name="reason", id="grant-reason", placeholder="Why (the customer and the audit log see it)"
                        ),
                    ),
                    labelled("Expires (optional)", rx.input(name="expires", type="date", id="grant-expires")),
                    dialog_buttons(rx.button(rx.icon("gift", size=14), "Grant", type="submit", id="grant-submit")),
                    spacing="3",
                    width="100%",
                ),
                on_submit=S.grant,
                reset_on_submit=False,
            ),
            max_width="480px",
            id="grant-dialog",
        ),
        open=S.grant_open,
        on_open_change=S.set_grant_open,
    )


def _void_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Void the invoice for ", S.void_label, "?"),
            rx.dialog.description(
                "What it billed is billed again by the period's next draft.", size="2", color_scheme="gray"
            ),
            rx.form(
                rx.vstack(
                    error_message(S.void_error, "void-error"),
                    labelled("Reason", rx.text_area(name="reason", id="void-reason")),
                    dialog_buttons(rx.button("Void invoice", color_scheme="red", type="submit", id="void-submit")),
                    spacing="3",
                    width="100%",
                    margin_top="12px",
                ),
                on_submit=S.void,
                reset_on_submit=False,
            ),
            max_width="480px",
            id="void-dialog",
        ),
        open=S.void_open,
        on_open_change=S.set_void_open,
    )


def staff_customer_page() -> rx.Component:
    """One customer, as staff see it."""
    return staff_area(
        S,
        CUSTOMERS_ROUTE,
        rx.link(rx.hstack(rx.icon("arrow-left", size=14), "Customers", align="center"), href=CUSTOMERS_ROUTE),
        page_header(S.customer["name"], S.customer["id"]),
        _contract_panel(),
        _hierarchy_panel(),
        enterprise_panel(_panel),
        rx.cond(
            S.billing_note == "",
            rx.vstack(_balances_panel(), _draft_panel(), _invoices_panel(), spacing="3", width="100%"),
        ),
        alerts_panel(),
        _grant_dialog(),
        _void_dialog(),
        explain_dialog(
            S.explain_open,
            S.set_explain_open,
            S.explained,
            S.explained_tiers,
            S.explained_groups,
            S.explained_grants,
            S.explained_uncovered,
        ),
    )
