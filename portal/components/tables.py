"""A simple data table: headers and rows of preformatted strings."""

from __future__ import annotations

from collections.abc import Sequence

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
