"""Charts: a stacked daily bar chart (recharts) and the picker that switches what it plots.

Nothing exact travels to the browser as a number: bars are drawn from whole
units, and the tooltip and legend show the exact figures, sent as strings.
"""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx
from reflex.event import EventSpec

SERIES_COLORS = ("violet", "cyan", "amber", "crimson", "grass", "blue", "orange", "plum")
"""Radix colour scales for chart series, in order (a scale's step 9 fills the bar)."""

_THOUSANDS = "(value) => Number(value).toLocaleString('en-US')"
"""A JavaScript formatter of whole numbers with thousands separators, for axis ticks."""

_EXACT = f"(value, name, item) => item.payload[item.dataKey + '_exact'] ?? ({_THOUSANDS})(value)"
"""The tooltip shows a bar's exact figure (the row's ``<key>_exact`` string) rather than the plotted whole units."""


def series_color(index: int) -> str:
    """The CSS colour of the ``index``-th series (the palette repeats)."""
    return f"var(--{SERIES_COLORS[index % len(SERIES_COLORS)]}-9)"


def stacked_daily_chart(
    rows: rx.Var,
    series: rx.Var,
    chart_id: str,
    height: int = 300,
    *,
    x_key: str = "day",
    tick_formatter: str = _THOUSANDS,
) -> rx.Component:
    """Bars per day (or per ``x_key`` label), one stacked segment per series.

    ``rows`` are dicts with a ``day`` label, one whole number per series key
    and the exact figure as a string under ``<key>_exact``; ``series`` are
    dicts with ``key``, ``label`` and ``color``. ``tick_formatter`` is the
    JavaScript function that labels the value axis.
    """
    return rx.box(
        rx.recharts.bar_chart(
            rx.recharts.cartesian_grid(vertical=False, stroke_dasharray="3 3", stroke=rx.color("gray", 5)),
            rx.recharts.x_axis(data_key=x_key, tick_line=False, axis_line=False, min_tick_gap=16, font_size=12),
            rx.recharts.y_axis(
                tick_formatter=tick_formatter,
                allow_decimals=False,
                tick_line=False,
                axis_line=False,
                width=64,
                font_size=12,
            ),
            rx.recharts.graphing_tooltip(custom_attrs={"formatter": rx.Var(_EXACT)}),
            rx.foreach(
                series,
                lambda s: rx.recharts.bar(
                    data_key=s["key"], name=s["label"], stack_id="series", fill=s["color"], max_bar_size=28
                ),
            ),
            data=rows,
            width="100%",
            height=height,
            margin={"top": 8, "right": 8, "left": 0, "bottom": 0},
        ),
        id=chart_id,
        width="100%",
    )


def series_legend(series: rx.Var, legend_id: str) -> rx.Component:
    """The series with their colour and exact total (``total`` of each series dict)."""
    return rx.flex(
        rx.foreach(
            series,
            lambda s: rx.hstack(
                rx.box(width="10px", height="10px", border_radius="3px", background=s["color"]),
                rx.text(s["label"], size="2"),
                rx.text(s["total"], size="2", weight="medium", class_name="series-total"),
                align="center",
                spacing="2",
                class_name="series-legend-item",
            ),
        ),
        wrap="wrap",
        spacing="5",
        id=legend_id,
    )


def metric_picker(
    options: rx.Var, value: rx.Var, on_change: Callable[[str | list[str]], EventSpec], picker_id: str
) -> rx.Component:
    """A segmented control between metrics; ``options`` are dicts with ``id`` and ``name``."""
    return rx.segmented_control.root(
        rx.foreach(options, lambda o: rx.segmented_control.item(o["name"], value=o["id"])),
        value=value,
        on_change=on_change,
        size="1",
        id=picker_id,
    )
