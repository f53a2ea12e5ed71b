"""Invoices: a status badge, a table of lines with an "Explain" button each, the totals, and the explain dialog.

Every figure is a preformatted string from the services. Line rows are dicts
with ``ref`` (what the explain handler is given), ``description``,
``detail``, ``quantity``, ``unit_price``, ``amount``, ``grants_applied`` and
``due``; totals are dicts with ``subtotal``, ``grants_applied`` and ``due``.
"""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx
from reflex.event import EventSpec

from portal.components.tables import figures_table

_STATUSES = (
    ("draft", "Draft", "blue"),
    ("finalized", "Due", "amber"),
    ("paid", "Paid", "green"),
    ("payment_failed", "Payment failed", "red"),
    ("void", "Void", "gray"),
)


def status_badge(status: rx.Var) -> rx.Component:
    """An invoice status as a coloured badge."""
    return rx.match(
        status,
        *[
            (value, rx.badge(label, color_scheme=color, variant="soft", class_name="invoice-status"))
            for value, label, color in _STATUSES
        ],
        rx.badge(status, variant="soft", class_name="invoice-status"),
    )


def _money_cell(value: rx.Var, **props: object) -> rx.Component:
    return rx.table.cell(value, text_align="right", white_space="nowrap", **props)


def invoice_lines(lines: rx.Var, on_explain: Callable[[rx.Var], EventSpec], table_id: str) -> rx.Component:
    """The lines of an invoice, each with a button that opens its explanation."""
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell("Item"),
                *[
                    rx.table.column_header_cell(h, text_align="right")
                    for h in ("Quantity", "Rate", "Amount", "Credits applied", "Due")
                ],
                rx.table.column_header_cell(""),
            )
        ),
        rx.table.body(
            rx.foreach(
                lines,
                lambda line: rx.table.row(
                    rx.table.cell(
                        rx.text(line["description"], weight="medium", size="2"),
                        rx.text(line["detail"], size="1", color_scheme="gray"),
                    ),
                    _money_cell(line["quantity"]),
                    _money_cell(line["unit_price"]),
                    _money_cell(line["amount"]),
                    _money_cell(line["grants_applied"]),
                    _money_cell(line["due"], font_weight="500"),
                    rx.table.cell(
                        rx.button(
                            rx.icon("info", size=14),
                            "Explain",
                            size="1",
                            variant="ghost",
                            on_click=on_explain(line["ref"]),
                            class_name="explain-line",
                        ),
                        text_align="right",
                    ),
                    class_name="invoice-line",
                ),
            )
        ),
        variant="ghost",
        size="2",
        width="100%",
        id=table_id,
    )


def _total_row(label: str, value: rx.Var, strong: bool = False, **props: object) -> rx.Component:
    return rx.hstack(
        rx.text(label, size="2", color_scheme="gray", weight="bold" if strong else "regular"),
        rx.spacer(),
        rx.text(value, size="3" if strong else "2", weight="bold" if strong else "regular", **props),
        width="100%",
    )


def invoice_totals(totals: rx.Var, totals_id: str) -> rx.Component:
    """Subtotal, credits applied and what is due, right-aligned under the lines."""
    return rx.vstack(
        _total_row("Subtotal", totals["subtotal"]),
        _total_row("Credits applied", "− " + totals["grants_applied"].to(str)),
        rx.separator(size="4"),
        _total_row("Due", totals["due"], strong=True, class_name="invoice-due"),
        spacing="2",
        width="100%",
        max_width="320px",
        margin_left="auto",
        id=totals_id,
    )


def _section(title: str, *content: rx.Component) -> rx.Component:
    return rx.vstack(
        rx.text(
            title, size="1", weight="bold", color_scheme="gray", text_transform="uppercase", letter_spacing="0.04em"
        ),
        *content,
        spacing="2",
        width="100%",
    )


def _breakdown(
    title: str, rows: rx.Var, at_least: int, headers: list[str], fields: list[str], table_id: str
) -> rx.Component:
    """A titled table of a line's parts, shown when it has ``at_least`` rows (the first field labels each row)."""
    return rx.cond(
        rows.length() >= at_least,
        _section(
            title,
            figures_table(headers, rows, lambda row: row[fields[0]], fields[1:], table_id, size="1", variant="surface"),
        ),
    )


def _grant_step(grant: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.badge(grant["order"], variant="solid", radius="full", size="1"),
        rx.vstack(
            rx.hstack(
                rx.text(grant["grant"], weight="medium", size="2"),
                rx.spacer(),
                rx.text(grant["units"], size="2"),
                rx.text(grant["amount"], size="2", color_scheme="gray"),
                width="100%",
                spacing="3",
            ),
            rx.foreach(grant["explanations"].to(list[str]), lambda e: rx.text(e, size="1", color_scheme="gray")),
            spacing="1",
            width="100%",
        ),
        align="start",
        width="100%",
        class_name="explain-grant",
    )


def explain_dialog(
    is_open: rx.Var,
    on_open_change: Callable[[bool], EventSpec],
    line: rx.Var,
    tiers: rx.Var,
    groups: rx.Var,
    grants: rx.Var,
    uncovered: rx.Var,
) -> rx.Component:
    """Why a line costs what it does: the usage behind it, its rate and tiers, its split by seat and group, and the
    grants that absorbed it in burn-down order, with the engine's explanations.

    ``line`` is a line row with ``period`` and ``basis`` besides the table fields; ``grants`` rows have
    ``order``, ``grant``, ``units``, ``amount`` and ``explanations`` (a list of strings).
    """
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(line["description"]),
            rx.dialog.description(line["period"], size="2", color_scheme="gray"),
            rx.vstack(
                _section(
                    "How it was counted",
                    rx.cond(line["basis"] != "", rx.text(line["basis"], size="2", id="explain-basis")),
                    rx.text(
                        line["quantity"] + " × " + line["unit_price"].to(str) + " = " + line["units"].to(str),
                        size="2",
                        weight="medium",
                        id="explain-rate",
                    ),
                ),
                _breakdown(
                    "Price tiers",
                    tiers,
                    2,
                    ["Tier", "Quantity", "Unit price", "Amount"],
                    ["tier", "quantity", "unit_price", "amount"],
                    "explain-tiers",
                ),
                _breakdown(
                    "Split by seat and group",
                    groups,
                    1,
                    ["Group", "Credits", "Amount", "Due"],
                    ["group", "units", "amount", "due"],
                    "explain-groups",
                ),
                _section(
                    "Paid by, in this order",
                    rx.cond(
                        grants.length() > 0,
                        rx.vstack(rx.foreach(grants, _grant_step), spacing="3", width="100%", id="explain-grants"),
                        rx.text("No credits applied to this line.", size="2", color_scheme="gray"),
                    ),
                ),
                rx.foreach(
                    uncovered, lambda note: rx.callout(note, icon="circle-alert", color_scheme="amber", size="1")
                ),
                rx.separator(size="4"),
                rx.vstack(
                    _total_row("Amount", line["amount"]),
                    _total_row("Credits applied", "− " + line["grants_applied"].to(str)),
                    _total_row("Due", line["due"], strong=True),
                    spacing="1",
                    width="100%",
                ),
                rx.hstack(
                    rx.dialog.close(rx.button("Close", variant="soft", color_scheme="gray", id="close-explain")),
                    justify="end",
                    width="100%",
                ),
                spacing="4",
                width="100%",
                margin_top="12px",
            ),
            max_width="640px",
            id="explain-dialog",
        ),
        open=is_open,
        on_open_change=on_open_change,
    )
