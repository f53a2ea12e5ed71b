"""The enterprise page: the shared commitment, the departments' draw on it this period, and their budgets.

Enterprise admins see every department under their account, create departments (inviting each one's admin),
set each department's budget and move budget between departments. A department admin sees the same page for
their own department (and those under it), without the controls: their budget is set above them.
"""

from __future__ import annotations

import reflex as rx

from portal.components.access import guarded
from portal.components.account_forms import error_message
from portal.components.dialogs import dialog_buttons, native_select
from portal.components.layout import labelled, notice, shell
from portal.pages.enterprise_state import AlertRow, CommitmentRow, DepartmentRow, EnterpriseState

S = EnterpriseState


_BEHAVIOURS = (
    (
        "overage",
        "Overage billed",
        "Usage goes on, and what the department uses beyond its budget is billed as overage to its payer.",
    ),
    (
        "block",
        "Block usage",
        "Usage sent for the department is refused until the next period or until its budget is raised.",
    ),
)


# --- header, commitments, summary -------------------------------------------------------------------


def _header() -> rx.Component:
    kind = rx.cond(S.is_department, "Department", "Enterprise")
    return rx.hstack(
        rx.vstack(
            rx.text(kind, size="2", weight="medium", color_scheme="gray", id="enterprise-kind"),
            rx.heading(S.name, size="7", id="enterprise-name"),
            rx.text("Current period: ", S.period, color_scheme="gray", size="3", id="enterprise-period"),
            spacing="1",
        ),
        rx.spacer(),
        rx.hstack(
            rx.button(rx.icon("refresh-cw", size=16), "Refresh", variant="soft", on_click=S.load, id="refresh"),
            rx.cond(
                S.can_manage & (S.movable_count >= 2),
                rx.button(
                    rx.icon("arrow-left-right", size=16), "Move budget", variant="soft", on_click=S.open_move,
                    id="move-budget",
                ),
            ),
            rx.cond(
                S.can_manage,
                rx.button(rx.icon("plus", size=16), "New department", on_click=S.open_create, id="new-department"),
            ),
            spacing="3",
        ),
        width="100%",
        align="start",
        margin_bottom="24px",
    )  # fmt: skip


def _figure(label: str, value: rx.Var[str] | str, value_class: str) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray"),
        rx.text(value, size="3", weight="medium", class_name=value_class),
        spacing="0",
    )


def _commitment_card(c: CommitmentRow) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.icon("handshake", size=18),
                rx.heading(c.reason, size="4"),
                rx.spacer(),
                rx.text("Term ends ", c.term_end, size="2", color_scheme="gray", class_name="commitment-term-end"),
                width="100%",
                align="center",
            ),
            rx.hstack(
                _figure("Commitment", c.amount, "commitment-amount"),
                rx.box(_figure("Remaining", c.remaining, "commitment-remaining"), id="commitment-remaining"),
                _figure("Drawn this period", c.drawn, "commitment-drawn"),
                spacing="7",
                wrap="wrap",
            ),
            rx.progress(value=c.percent_used, max=100, size="2", class_name="commitment-progress"),
            rx.text(c.percent_used.to_string() + "% of the commitment used", size="1", color_scheme="gray"),
            rx.hstack(
                rx.icon("trending-down", size=16, color=rx.cond(c.runs_out_early, "var(--red-9)", "var(--gray-9)")),
                rx.text(
                    rx.text.strong(c.run_out),
                    rx.cond(c.band != "", " (" + c.band + ")", ""),
                    " at the last 7 days' burn of ",
                    c.burn,
                    "; ",
                    c.at_end,
                    ".",
                    size="2",
                    color_scheme=rx.cond(c.runs_out_early, "red", "gray"),
                ),
                spacing="2",
                align="center",
                class_name="commitment-forecast",
            ),
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
        class_name="commitment-card",
        id="commitment-card",
    )


def _summary() -> rx.Component:
    return rx.callout.root(
        rx.callout.icon(rx.icon("pie-chart")),
        rx.callout.text(
            "Budgets allocated to departments: ",
            rx.text.strong(S.allocated, id="allocated"),
            " per period",
            rx.cond(
                S.committed != "",
                rx.fragment(
                    ", against a commitment of ",
                    rx.text.strong(S.committed),
                    " with ",
                    rx.text.strong(S.committed_remaining),
                    " remaining.",
                ),
                ".",
            ),
            rx.cond(S.unallocated_note != "", rx.fragment(" ", S.unallocated_note)),
        ),
        color_scheme="gray",
        variant="surface",
        width="100%",
        id="allocation-summary",
    )


def _department_notice() -> rx.Component:
    return rx.callout(
        "Your department's budget is set by the enterprise admins: ask them if it needs to change.",
        icon="info",
        color_scheme="blue",
        width="100%",
        id="department-notice",
    )


# --- departments table -------------------------------------------------------------------------------


def _name_cell(d: DepartmentRow) -> rx.Component:
    return rx.table.cell(
        rx.vstack(
            rx.text(d.name, weight=rx.cond(d.depth == 0, "bold", "medium"), class_name="dept-name"),
            rx.text(d.payer, size="1", color_scheme="gray"),
            spacing="0",
            padding_left=d.indent,
        ),
        min_width="200px",
    )


def _budget_cell(d: DepartmentRow) -> rx.Component:
    return rx.table.cell(
        rx.vstack(
            rx.hstack(
                rx.text(d.budget, class_name="dept-budget", white_space="nowrap"),
                rx.cond(
                    d.has_budget,
                    rx.badge(d.status_label, color_scheme=d.status_color, variant="soft", class_name="dept-status"),
                ),
                spacing="2",
                align="center",
            ),
            rx.cond(
                d.has_budget,
                rx.fragment(
                    rx.progress(value=d.percent, max=100, size="1", color_scheme=d.status_color, width="140px"),
                    rx.text(d.drawn, size="1", color_scheme="gray", class_name="dept-drawn"),
                    rx.text(d.forecast, size="1", color_scheme="gray", class_name="dept-forecast"),
                ),
            ),
            spacing="1",
        ),
        min_width="180px",
    )


def _right(value: rx.Var[str] | str, cell_class: str, *below: rx.Component) -> rx.Component:
    return rx.table.cell(
        rx.vstack(rx.text(value, class_name=cell_class, white_space="nowrap"), *below, spacing="0", align="end"),
        text_align="right",
    )


def _department_row(d: DepartmentRow) -> rx.Component:
    return rx.table.row(
        _name_cell(d),
        _right(d.members, "dept-members"),
        _right(d.used, "dept-used"),
        _right(d.from_commitment, "dept-from-commitment"),
        _right(
            d.overage,
            "dept-overage",
            rx.cond(d.overage_value != "", rx.text(d.overage_value, size="1", color_scheme="gray",
                                                   class_name="dept-overage-value")),
        ),
        _right(d.blocked, "dept-blocked"),
        _budget_cell(d),
        rx.table.cell(rx.text(d.behaviour_label, class_name="dept-behaviour", white_space="nowrap")),
        rx.table.cell(
            rx.cond(
                d.can_change,
                rx.button(
                    "Set budget", size="1", variant="soft", on_click=S.open_budget(d.id), class_name="set-budget",
                    white_space="nowrap",
                ),
            )
        ),
        class_name="department-row",
        data_testid="department-" + d.name,
        data_customer=d.id,
    )  # fmt: skip


def _departments_table() -> rx.Component:
    figures = ["Members", "Used this period", "From the commitment", "Own overage", "Blocked"]
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell("Department"),
                *[rx.table.column_header_cell(h, text_align="right") for h in figures],
                rx.table.column_header_cell("Budget per period"),
                rx.table.column_header_cell("At the budget"),
                rx.table.column_header_cell(""),
            )
        ),
        rx.table.body(rx.foreach(S.departments, _department_row)),
        variant="surface",
        width="100%",
        id="departments-table",
    )  # fmt: skip


def _empty_state() -> rx.Component:
    return notice(
        "building-2",
        "No departments yet",
        "Departments are accounts under yours, one per team or cost centre. Each draws on your commitment up to "
        "the budget you give it, and has its own admin, members and usage.",
        rx.cond(
            S.can_manage,
            rx.button(rx.icon("plus", size=16), "New department", on_click=S.open_create, id="new-department-empty"),
        ),
    )


def _departments() -> rx.Component:
    return rx.vstack(
        rx.heading("Departments", size="5"),
        rx.cond(
            ~S.is_department & (S.department_count == 0),
            _empty_state(),
            rx.box(_departments_table(), width="100%", overflow_x="auto"),
        ),
        spacing="3",
        width="100%",
        id="departments",
    )


def _alert(alert: AlertRow) -> rx.Component:
    return rx.hstack(
        rx.badge(alert.label, color_scheme=alert.color, variant="soft"),
        rx.text(alert.message, size="2"),
        rx.spacer(),
        rx.text(alert.when, size="1", color_scheme="gray", white_space="nowrap"),
        width="100%",
        align="center",
        class_name="alert-row",
    )


def _alerts() -> rx.Component:
    return rx.cond(
        S.alerts.length() > 0,
        rx.vstack(
            rx.heading("Alerts", size="5"),
            rx.text(
                "Raised once per period when a department reaches 80% and 100% of its budget, and when the "
                "commitment is projected to run out before its term ends; also sent to the admins by email.",
                size="2",
                color_scheme="gray",
            ),
            rx.card(rx.vstack(rx.foreach(S.alerts, _alert), spacing="2", width="100%"), width="100%"),
            spacing="3",
            width="100%",
            id="alerts",
        ),
    )


# --- dialogs -----------------------------------------------------------------------------------------


def _parent_option(d: DepartmentRow) -> rx.Component:
    return rx.el.option(d.option, value=d.id)


def _create_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            error_message(S.create_error, "create-department-error"),
            labelled("Name", rx.input(id="department-name", name="name", placeholder="e.g. Research", width="100%")),
            labelled(
                "Admin's email address",
                rx.input(id="department-admin-email", name="admin_email", type="email", width="100%"),
                "We email them an invitation to join as the department's admin.",
            ),
            labelled(
                "Under",
                native_select("parent", "department-parent", rx.foreach(S.departments, _parent_option)),
            ),
            labelled(
                "Budget per period (optional)",
                rx.input(id="department-budget", name="budget", placeholder="e.g. 600", width="100%"),
                "How much of the commitment it may draw each period; leave empty for no limit.",
            ),
            labelled(
                "At the budget",
                native_select("behaviour", "department-behaviour",
                        rx.fragment(*[rx.el.option(label, value=v) for v, label, _ in _BEHAVIOURS])),
            ),
            labelled(
                "Who pays its overage",
                native_select("payer", "department-payer", rx.fragment(
                    rx.el.option("The department itself", value="self"),
                    rx.el.option("The account above it", value="parent"),
                )),
            ),
            dialog_buttons(rx.button("Create and invite", type="submit", id="create-department-submit")),
            spacing="3",
            width="100%",
        ),
        on_submit=S.create,
        reset_on_submit=False,
    )  # fmt: skip


def _create_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("New department"),
            rx.dialog.description(
                "A department is an account under yours that draws on your commitment.", size="2", margin_bottom="12px"
            ),
            _create_form(),
            max_width="520px",
        ),
        open=S.create_open,
        on_open_change=S.set_create_open,
    )


def _behaviour_choice(value: str, label: str, explanation: str) -> rx.Component:
    return rx.el.label(
        rx.hstack(
            rx.el.input(
                type="radio", name="behaviour", value=value, id=f"behaviour-{value}",
                default_checked=S.budget_behaviour == value,
            ),
            rx.vstack(rx.text(label, weight="medium", size="2"), rx.text(explanation, size="1", color_scheme="gray"),
                      spacing="0"),
            align="start",
            spacing="2",
        ),
        width="100%",
    )  # fmt: skip


def _budget_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Budget of ", S.budget_name),
            rx.form(
                rx.vstack(
                    error_message(S.budget_error, "budget-error"),
                    labelled(
                        "Budget per period",
                        rx.input(id="budget-amount", name="amount", default_value=S.budget_amount, width="100%"),
                        "Leave empty to remove the budget: the department may then draw without limit.",
                    ),
                    rx.text("At the budget", weight="medium", size="2"),
                    *[_behaviour_choice(*b) for b in _BEHAVIOURS],
                    dialog_buttons(rx.button("Save budget", type="submit", id="save-budget")),
                    spacing="3",
                    width="100%",
                ),
                on_submit=S.save_budget,
                reset_on_submit=False,
            ),
            max_width="480px",
        ),
        open=S.budget_open,
        on_open_change=S.set_budget_open,
    )


def _budget_option(d: DepartmentRow) -> rx.Component:
    return rx.el.option(d.name + " (" + d.budget + ")", value=d.id)


def _move_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Move budget"),
            rx.dialog.description(
                "Take budget from one department and give it to another.", size="2", margin_bottom="12px"
            ),
            rx.form(
                rx.vstack(
                    error_message(S.move_error, "move-error"),
                    rx.text("Budgets per period now", weight="medium", size="2"),
                    rx.vstack(
                        rx.foreach(
                            S.movable,
                            lambda d: rx.hstack(
                                rx.text(d.name, size="2"), rx.spacer(), rx.text(d.budget, size="2", weight="medium"),
                                width="100%", class_name="move-current-budget",
                            ),
                        ),
                        spacing="1",
                        width="100%",
                        id="move-current-budgets",
                    ),
                    labelled("From", native_select("from", "move-from", rx.fragment(
                        rx.el.option("Choose…", value=""), rx.foreach(S.movable, _budget_option)))),
                    labelled("To", native_select("to", "move-to", rx.fragment(
                        rx.el.option("Choose…", value=""), rx.foreach(S.movable, _budget_option)))),
                    labelled("Amount", rx.input(id="move-amount", name="amount", placeholder="e.g. 300", width="100%")),
                    dialog_buttons(rx.button("Move budget", type="submit", id="move-submit")),
                    spacing="3",
                    width="100%",
                ),
                on_submit=S.move,
                reset_on_submit=False,
            ),
            max_width="480px",
        ),
        open=S.move_open,
        on_open_change=S.set_move_open,
    )  # fmt: skip


# --- the page ----------------------------------------------------------------------------------------


def enterprise_page() -> rx.Component:
    """The commitments and departments of the signed-in admin's enterprise or department."""
    return shell(
        guarded(
            S.access,
            S.denied_reason,
            rx.vstack(
                _header(),
                rx.cond(S.is_department, _department_notice()),
                rx.foreach(S.commitments, _commitment_card),
                rx.cond(S.commitments.length() > 0, _summary()),
                _departments(),
                _alerts(),
                _create_dialog(),
                _budget_dialog(),
                _move_dialog(),
                spacing="5",
                width="100%",
                align="start",
            ),
        )
    )
