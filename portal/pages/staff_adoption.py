"""Staff's adoption page at ``/staff/adoption``: customers, seats and revenue per tier, month by month, as
stacked bar charts with a table of the figures under them."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.event import EventSpec

from portal.components.access import LOADING
from portal.components.charts import series_color, series_legend, stacked_daily_chart
from portal.components.layout import notice, page_header
from portal.components.staff_nav import staff_area
from portal.domain.money import currency
from portal.services.adoption import AdoptionView, adoption
from portal.services.errors import ServiceError
from portal.services.identity import Identity
from portal.state.access import load_guarded
from portal.state.session import identity_of, session_ended

ROUTE = "/staff/adoption"
MONTH_CHOICES = ("3", "6", "12", "24")
DEFAULT_MONTHS = "12"
CURRENCY = "USD"
"""The currency adoption's revenue is counted in (the service's default)."""


def money_ticks(currency_code: str) -> str:
    """A JavaScript formatter labelling an axis of minor units in whole major units (exact amounts are in the
    tooltips, as the services formatted them)."""
    scale = 10 ** currency(currency_code).exponent
    return f"(value) => Math.round(Number(value) / {scale}).toLocaleString('en-US')"


def charts_of(view: AdoptionView) -> dict[str, Any]:
    """Rows per month for the three charts, the series, and the table of the last month's figures."""
    keys = [f"s{i}" for i in range(len(view.series))]
    series = [
        {"key": key, "label": s.tier, "color": series_color(i), "total": ""}
        for i, (key, s) in enumerate(zip(keys, view.series, strict=True))
    ]

    def rows(pick: str) -> list[dict[str, Any]]:
        out = []
        for n, month in enumerate(view.months):
            row: dict[str, Any] = {"month": month}
            for key, s in zip(keys, view.series, strict=True):
                if pick == "revenue":
                    row[key], row[f"{key}_exact"] = s.revenue_minor[n], s.revenue[n]
                else:
                    value = (s.customers if pick == "customers" else s.seats)[n]
                    row[key], row[f"{key}_exact"] = value, f"{value:,}"
            out.append(row)
        return out

    last = len(view.months) - 1
    table = [
        {
            "tier": s.tier,
            "customers": str(s.customers[last]),
            "seats": str(s.seats[last]),
            "revenue": s.revenue[last],
        }
        for s in view.series
    ]
    return {
        "customers": rows("customers"),
        "seats": rows("seats"),
        "revenue": rows("revenue"),
        "series": series,
        "table": table,
        "month": view.months[last] if view.months else "",
    }


class AdoptionState(rx.State):
    """The months shown, the charts' rows and series, and the table."""

    access: str = LOADING
    denied_reason: str = ""
    months: str = DEFAULT_MONTHS
    customers_rows: list[dict[str, Any]] = []
    seats_rows: list[dict[str, Any]] = []
    revenue_rows: list[dict[str, Any]] = []
    series: list[dict[str, str]] = []
    table: list[dict[str, str]] = []
    month: str = ""

    def _read(self, identity: Identity) -> dict[str, Any]:
        return charts_of(adoption(identity, int(self.months), currency=CURRENCY))

    def _show(self, data: dict[str, Any]) -> None:
        self.customers_rows, self.seats_rows, self.revenue_rows = data["customers"], data["seats"], data["revenue"]
        self.series, self.table, self.month = data["series"], data["table"], data["month"]

    @rx.event
    def load(self) -> None:
        """Read the last twelve months (staff only)."""
        self.months = DEFAULT_MONTHS
        data = load_guarded(self, self._read)
        if data is not None:
            self._show(data)

    @rx.event
    def set_months(self, months: str) -> EventSpec | None:
        """Show the last ``months`` months."""
        if months not in MONTH_CHOICES:
            return None
        self.months = months
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        try:
            self._show(self._read(identity))
        except ServiceError as exc:
            return rx.toast.error(str(exc))
        return None


def _chart_card(title: str, subtitle: str, rows: rx.Var, chart_id: str, ticks: str | None = None) -> rx.Component:
    extra = {"tick_formatter": ticks} if ticks else {}
    return rx.card(
        rx.vstack(
            rx.heading(title, size="4"),
            rx.text(subtitle, size="2", color_scheme="gray"),
            stacked_daily_chart(rows, AdoptionState.series, chart_id, height=260, x_key="month", **extra),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


def _table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell("Tier"),
                *[rx.table.column_header_cell(h, text_align="right") for h in ("Customers", "Seats", "Revenue")],
            )
        ),
        rx.table.body(
            rx.foreach(
                AdoptionState.table,
                lambda row: rx.table.row(
                    rx.table.cell(row["tier"], class_name="adoption-tier"),
                    rx.table.cell(row["customers"], text_align="right", class_name="adoption-customers"),
                    rx.table.cell(row["seats"], text_align="right", class_name="adoption-seats"),
                    rx.table.cell(row["revenue"], text_align="right", class_name="adoption-revenue"),
                    class_name="adoption-row",
                    data_tier=row["tier"],
                ),
            )
        ),
        variant="surface",
        width="100%",
        id="adoption-table",
    )


def _charts() -> rx.Component:
    return rx.vstack(
        series_legend(AdoptionState.series, "adoption-legend"),
        rx.grid(
            _chart_card(
                "Customers", "Customers per tier at each month's end.", AdoptionState.customers_rows, "chart-customers"
            ),
            _chart_card("Seats", "Seats per tier at each month's end.", AdoptionState.seats_rows, "chart-seats"),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
        ),
        rx.cond(
            AdoptionState.revenue_rows.length() > 0,
            _chart_card(
                "Revenue",
                "What finalized invoices billed for periods starting in the month (void ones left out).",
                AdoptionState.revenue_rows,
                "chart-revenue",
                money_ticks(CURRENCY),
            ),
        ),
        rx.heading("This month (", AdoptionState.month, ")", size="4"),
        _table(),
        spacing="4",
        width="100%",
    )


def staff_adoption_page() -> rx.Component:
    """Adoption of the tiers over the months."""
    return staff_area(
        AdoptionState,
        ROUTE,
        rx.hstack(
            page_header("Adoption", "How many customers, seats and how much revenue each tier and version has."),
            rx.spacer(),
            rx.select(
                list(MONTH_CHOICES),
                value=AdoptionState.months,
                on_change=AdoptionState.set_months,
                id="adoption-months",
            ),
            rx.text("months", size="2", color_scheme="gray"),
            width="100%",
            align="center",
        ),
        rx.cond(
            AdoptionState.series.length() == 0,
            notice("chart-column", "No customers yet", "Adoption shows once customers are on a tier."),
            _charts(),
        ),
    )
