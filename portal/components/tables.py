"""Tables of preformatted strings: a simple data table, and a table of figures aligned for reading."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import reflex as rx


def data_table(headers: Sequence[str], rows: rx.Var, fields: Sequence[str], table_id: str) -> rx.Component:
    """A table whose rows are dicts of strings; ``fields`` picks the cell of each column, in order."""
    return rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
        rx.table.body(
            rx.foreach(rows, lambda row: rx.table.row(*[rx.table.cell(row[f]) for f in fields])),
        ),
        variant="surface",
        width="100%",
        id=table_id,
    )


def figures_table(
    headers: Sequence[str],
    rows: rx.Var,
    first: Callable[[rx.Var], rx.Component],
    fields: Sequence[str],
    table_id: str,
    **props: object,
) -> rx.Component:
    """A table of figures: the first column drawn by ``first`` from the row, then ``fields`` right-aligned."""
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                *[
                    rx.table.column_header_cell(h, text_align="left" if i == 0 else "right")
                    for i, h in enumerate(headers)
                ]
            )
        ),
        rx.table.body(
            rx.foreach(
                rows,
                lambda row: rx.table.row(
                    rx.table.cell(first(row)),
                    *[rx.table.cell(row[f], text_align="right", white_space="nowrap") for f in fields],
                    class_name=f"{table_id}-row",
                ),
            )
        ),
        width="100%",
        id=table_id,
        **props,
    )
