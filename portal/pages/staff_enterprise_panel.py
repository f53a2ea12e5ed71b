"""The "Enterprise" panel of a customer's staff page: open a customer without a contract as an enterprise with a
shared commitment; for an enterprise (or a department), the tree of departments below it, its commitments with
their child access, and the dialogs that add a department and choose a commitment's child access."""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx

from portal.components.account_forms import error_message
from portal.components.dialogs import dialog_buttons, native_select
from portal.components.layout import labelled
from portal.pages.staff_enterprise_state import CHOSEN, EVERY, NONE, CommitmentRow, Option, TreeRow
from portal.pages.staff_enterprise_state import StaffEnterpriseState as E


def _option(o: Option) -> rx.Component:
    return rx.el.option(o.label, value=o.value)


def _field(name: str, field_id: str, **props: object) -> rx.Component:
    return rx.input(name=name, id=field_id, width="100%", **props)


# --- the tree and the commitments --------------------------------------------------------------------


def _tree_row(d: TreeRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.box(
                rx.cond(
                    d.depth == 0,
                    rx.text(d.name, weight="bold", class_name="enterprise-name"),
                    rx.link(d.name, href=d.href, class_name="enterprise-name"),
                ),
                padding_left=d.indent,
            )
        ),
        rx.table.cell(rx.text(d.payer, class_name="enterprise-payer")),
        rx.table.cell(rx.text(d.statement, class_name="enterprise-statement")),
        rx.table.cell(rx.text(d.budget, class_name="enterprise-budget", white_space="nowrap")),
        rx.table.cell(rx.text(d.used, class_name="enterprise-used", white_space="nowrap"), text_align="right"),
        class_name="enterprise-row",
        data_testid="enterprise-row-" + d.name,
        data_customer=d.id,
        data_depth=d.depth,
    )


def _tree() -> rx.Component:
    return rx.box(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Customer"),
                    rx.table.column_header_cell("Payer"),
                    rx.table.column_header_cell("Statement"),
                    rx.table.column_header_cell("Budget per period"),
                    rx.table.column_header_cell("Used this period", text_align="right"),
                )
            ),
            rx.table.body(rx.foreach(E.tree, _tree_row)),
            variant="surface",
            size="1",
            width="100%",
            id="enterprise-tree",
        ),
        width="100%",
        overflow_x="auto",
    )


def _commitment(c: CommitmentRow) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.vstack(
                rx.text(c.reason, weight="medium", size="2", class_name="commitment-reason"),
                rx.text(
                    rx.text.span(c.amount, class_name="commitment-amount"),
                    ", ",
                    rx.text.span(c.remaining, class_name="commitment-remaining"),
                    " remaining; term ends ",
                    rx.text.span(c.term_end, class_name="commitment-term-end"),
                    size="2",
                    color_scheme="gray",
                ),
                rx.text("Child access: ", rx.text.span(c.access, class_name="commitment-access"), size="2"),
                spacing="1",
            ),
            rx.spacer(),
            rx.button(
                rx.icon("key-round", size=14),
                "Child access",
                size="1",
                variant="soft",
                on_click=E.open_access(c.grant_id),
                class_name="commitment-access-edit",
            ),
            width="100%",
            align="start",
        ),
        width="100%",
        class_name="enterprise-commitment",
        data_grant=c.grant_id,
    )


def _commitments() -> rx.Component:
    return rx.cond(
        E.commitments.length() > 0,
        rx.vstack(rx.foreach(E.commitments, _commitment), spacing="2", width="100%", id="enterprise-commitments"),
        rx.text(
            rx.cond(
                E.holder != "",
                "No shared commitment of its own: commitments are held above it, on the page of " + E.holder + ".",
                "No shared commitment.",
            ),
            size="2",
            color_scheme="gray",
            id="enterprise-no-commitment",
        ),
    )


def _panel_body() -> rx.Component:
    return rx.cond(
        E.has_contract,
        rx.cond(
            E.note != "",
            rx.text(E.note, size="2", color_scheme="gray", id="enterprise-note"),
            rx.vstack(_commitments(), _tree(), spacing="3", width="100%"),
        ),
        rx.text(
            "No contract yet: open it as an enterprise with a prepaid commitment its departments share.",
            size="2",
            color_scheme="gray",
            id="enterprise-none",
        ),
    )


def _panel_action() -> rx.Component:
    return rx.cond(
        E.has_contract,
        rx.cond(
            E.note == "",
            rx.button(
                rx.icon("plus", size=14), "Add department", size="2", on_click=E.open_department_dialog,
                id="add-department",
            ),
        ),
        rx.button(
            rx.icon("building-2", size=14), "Open as enterprise", size="2", on_click=E.open_enterprise_dialog,
            id="open-enterprise",
        ),
    )  # fmt: skip


# --- dialogs -----------------------------------------------------------------------------------------


def _open_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Open as an enterprise"),
            rx.dialog.description(
                "An enterprise contract on a rate card, from the start of this month, with a prepaid commitment "
                "every department under it may draw on.",
                size="2",
                color_scheme="gray",
            ),
            rx.form(
                rx.vstack(
                    error_message(E.open_error, "enterprise-open-error"),
                    labelled(
                        "Rate card",
                        native_select("rate_card", "enterprise-rate-card", rx.foreach(E.rate_cards, _option)),
                    ),
                    rx.hstack(
                        labelled("Commitment", _field("commitment", "enterprise-commitment", placeholder="250000")),
                        labelled(
                            "Credit type",
                            native_select("credit_type", "enterprise-credit-type", rx.foreach(E.credit_types, _option)),
                        ),
                        width="100%",
                    ),
                    labelled(
                        "Term in months",
                        _field("term", "enterprise-term", type="number", default_value="12", min="1", max="60"),
                    ),
                    labelled(
                        "Reason",
                        _field("reason", "enterprise-reason", default_value="Enterprise commitment"),
                        "Names the commitment on statements and in the audit log.",
                    ),
                    dialog_buttons(rx.button("Open as enterprise", type="submit", id="enterprise-open-submit")),
                    spacing="3",
                    width="100%",
                    margin_top="12px",
                ),
                on_submit=E.open_enterprise,
                reset_on_submit=False,
            ),
            max_width="520px",
            id="enterprise-open-dialog",
        ),
        open=E.open_dialog,
        on_open_change=E.set_open_dialog,
    )


def _parent_option(d: TreeRow) -> rx.Component:
    return rx.el.option(d.option, value=d.id)


def _department_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            error_message(E.department_error, "department-error"),
            labelled("Name", _field("name", "department-name", placeholder="e.g. Research")),
            labelled(
                "Admin's email address (optional)",
                _field("admin_email", "department-admin-email", type="email"),
                "They get an invitation to join as the department's admin.",
            ),
            labelled("Under", native_select("parent", "department-parent", rx.foreach(E.tree, _parent_option))),
            rx.hstack(
                labelled("Who pays its overage", native_select("payer", "department-payer", rx.fragment(
                    rx.el.option("The department itself", value="self"),
                    rx.el.option("The customer above it", value="parent"),
                ))),
                labelled("Usage statement", native_select("statement", "department-statement", rx.fragment(
                    rx.el.option("Consolidated into the parent's", value="consolidated"),
                    rx.el.option("Separate", value="separate"),
                ))),
                width="100%",
            ),
            labelled(
                "Rates",
                native_select("rate_card", "department-rate-card", rx.fragment(
                    rx.el.option("The parent's terms", value=""), rx.foreach(E.rate_cards, _option)
                )),
                "Custom rates bill the department on a rate card of its own.",
            ),
            rx.hstack(
                labelled("Budget per period (optional)", _field("budget", "department-budget",
                                                                placeholder="e.g. 600")),
                labelled("At the budget", native_select("behaviour", "department-behaviour", rx.fragment(
                    rx.el.option("Overage billed", value="overage"),
                    rx.el.option("Block usage", value="block"),
                ))),
                width="100%",
            ),
            dialog_buttons(rx.button("Add department", type="submit", id="department-submit")),
            spacing="3",
            width="100%",
            margin_top="12px",
        ),
        on_submit=E.add_department,
        reset_on_submit=False,
    )  # fmt: skip


def _department_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Add a department"),
            rx.dialog.description(
                "A customer under one in this tree, on its parent's terms unless given custom rates.",
                size="2",
                color_scheme="gray",
            ),
            _department_form(),
            max_width="560px",
            id="department-dialog",
        ),
        open=E.department_dialog,
        on_open_change=E.set_department_dialog,
    )


def _mode(value: str, label: str) -> rx.Component:
    return rx.el.label(
        rx.hstack(
            rx.el.input(
                type="radio", name="mode", value=value, id=f"access-{value}", default_checked=E.access_mode == value
            ),
            rx.text(label, size="2"),
            spacing="2",
            align="center",
        ),
    )


def _choice(d: TreeRow) -> rx.Component:
    return rx.el.label(
        rx.hstack(
            rx.el.input(
                type="checkbox",
                name="departments",
                value=d.id,
                default_checked=E.access_chosen.contains(d.id),
                class_name="access-choice",
                data_testid="access-choice-" + d.name,
            ),
            rx.text(d.option, size="2", white_space="pre"),
            spacing="2",
            align="center",
        ),
    )


def _access_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Child access to ", E.access_reason),
            rx.dialog.description(
                "Which departments may draw on the commitment (at any level below its holder).",
                size="2",
                color_scheme="gray",
            ),
            rx.form(
                rx.vstack(
                    error_message(E.access_error, "access-error"),
                    _mode(EVERY, "Every department"),
                    _mode(NONE, "None"),
                    _mode(CHOSEN, "The departments ticked:"),
                    rx.scroll_area(
                        rx.vstack(rx.foreach(E.departments, _choice), spacing="1", padding_left="24px"),
                        type="auto",
                        scrollbars="vertical",
                        max_height="320px",
                        id="access-choices",
                    ),
                    dialog_buttons(rx.button("Save child access", type="submit", id="access-submit")),
                    spacing="2",
                    width="100%",
                    margin_top="12px",
                ),
                on_submit=E.save_access,
                reset_on_submit=False,
            ),
            max_width="520px",
            id="access-dialog",
        ),
        open=E.access_open,
        on_open_change=E.set_access_open,
    )


def enterprise_panel(panel: Callable[..., rx.Component]) -> rx.Component:
    """The panel and its dialogs (staff only); ``panel`` lays out a titled card (the page's own panel helper)."""
    return rx.cond(
        E.loaded,
        rx.fragment(
            panel("Enterprise", _panel_body(), action=_panel_action(), id="enterprise-panel"),
            _open_dialog(),
            _department_dialog(),
            _access_dialog(),
        ),
    )
