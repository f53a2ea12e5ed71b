"""Staff's metrics page at ``/staff/metrics``: every billable metric, archiving, and a new-metric form whose
preview shows what the definition makes of recent events while it is typed."""

from __future__ import annotations

import reflex as rx

from portal.components.layout import labelled, notice, page_header
from portal.components.staff_nav import staff_area
from portal.components.tables import figures_table
from portal.pages.staff_metrics_state import AGGREGATIONS, FILTER_OPS, ROUTE
from portal.pages.staff_metrics_state import MetricsState as S

_DEBOUNCE = 400


def _metric_row(row: rx.Var) -> rx.Component:
    archived = row["archived"] != ""
    return rx.table.row(
        rx.table.cell(
            rx.hstack(
                rx.text(row["name"], weight="medium"),
                rx.cond(archived, rx.badge("Archived", color_scheme="gray", variant="soft")),
                spacing="2",
            )
        ),
        rx.table.cell(rx.code(row["event_type"], variant="ghost")),
        rx.table.cell(row["aggregation"]),
        rx.table.cell(row["groups"]),
        rx.table.cell(row["filters"]),
        rx.table.cell(
            rx.cond(
                archived,
                rx.fragment(),
                rx.button(
                    rx.icon("archive", size=14),
                    "Archive",
                    size="1",
                    variant="soft",
                    color_scheme="gray",
                    on_click=S.ask_archive(row["id"], row["name"]),
                    class_name="archive-metric",
                ),
            ),
            text_align="right",
        ),
        class_name="metric-row",
        data_name=row["name"],
        data_archived=row["archived"],
        opacity=rx.cond(archived, "0.55", "1"),
    )


def _metrics_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                *[rx.table.column_header_cell(h) for h in ("Metric", "Event type", "Aggregation", "Groups", "Filters")],
                rx.table.column_header_cell(""),
            )
        ),
        rx.table.body(rx.foreach(S.metrics, _metric_row)),
        variant="surface",
        width="100%",
        id="metrics-table",
    )


def _filter_row(row: rx.Var, index: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.input(
            value=row["key"],
            placeholder="property",
            on_change=lambda v: S.set_filter(index, "key", v),
            class_name="filter-key",
        ),
        rx.select(list(FILTER_OPS), value=row["op"], on_change=lambda v: S.set_filter(index, "op", v)),
        rx.input(
            value=row["values"],
            placeholder="values, comma-separated",
            on_change=lambda v: S.set_filter(index, "values", v),
            disabled=row["op"] == "exists",
            class_name="filter-values",
            flex="1",
        ),
        rx.icon_button(
            rx.icon("x", size=14), variant="ghost", color_scheme="gray", on_click=S.remove_filter(index), type="button"
        ),
        width="100%",
        class_name="filter-row",
    )


def _form() -> rx.Component:
    return rx.vstack(
        labelled(
            "Name", rx.input(value=S.name, on_change=S.set_name.debounce(_DEBOUNCE), id="metric-name", width="100%")
        ),
        labelled(
            "Event type",
            rx.input(
                value=S.event_type,
                on_change=S.set_event_type.debounce(_DEBOUNCE),
                id="metric-event-type",
                width="100%",
            ),
        ),
        rx.hstack(
            labelled(
                "Aggregation",
                rx.select(
                    list(AGGREGATIONS), value=S.aggregation, on_change=S.set_aggregation, id="metric-aggregation"
                ),
            ),
            labelled(
                "Aggregation key",
                rx.input(
                    value=S.aggregation_key,
                    on_change=S.set_aggregation_key.debounce(_DEBOUNCE),
                    id="metric-aggregation-key",
                    placeholder="tokens",
                ),
            ),
            width="100%",
        ),
        labelled(
            "Group keys",
            rx.input(
                value=S.group_keys,
                on_change=S.set_group_keys.debounce(_DEBOUNCE),
                id="metric-group-keys",
                placeholder="model, user_id",
                width="100%",
            ),
            "Comma-separated property names.",
        ),
        labelled(
            "Filters",
            rx.vstack(
                rx.foreach(S.filters, _filter_row),
                rx.button(
                    rx.icon("plus", size=14),
                    "Add filter",
                    size="1",
                    variant="soft",
                    on_click=S.add_filter,
                    id="add-filter",
                ),
                width="100%",
            ),
        ),
        rx.cond(
            S.save_error != "", rx.callout(S.save_error, icon="triangle-alert", color_scheme="red", id="save-error")
        ),
        rx.hstack(
            rx.button("Cancel", variant="soft", color_scheme="gray", on_click=S.close_form),
            rx.button(rx.icon("eye", size=14), "Preview", variant="soft", on_click=S.run_preview, id="run-preview"),
            rx.button(rx.icon("save", size=14), "Save", on_click=S.save, id="save-metric"),
            justify="end",
            width="100%",
        ),
        spacing="3",
        width="100%",
        id="metric-form",
    )


def _figure(label: str, key: str) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray"),
        rx.text(S.preview[key], size="4", weight="bold", id=f"preview-{key.replace('_', '-')}"),
        spacing="1",
    )


def _preview() -> rx.Component:
    return rx.vstack(
        rx.heading("Preview", size="3"),
        rx.cond(
            S.preview_error != "",
            rx.callout(S.preview_error, icon="triangle-alert", color_scheme="red", id="preview-error"),
            rx.cond(
                S.has_preview,
                rx.vstack(
                    rx.text("Events since ", S.preview["since"], size="1", color_scheme="gray"),
                    rx.hstack(
                        _figure("Events read", "events_read"),
                        _figure("Matching", "matching"),
                        _figure("Refused", "rejected"),
                        _figure("Total", "total"),
                        spacing="5",
                        wrap="wrap",
                    ),
                    rx.foreach(
                        S.preview_reasons,
                        lambda r: rx.text(r, size="1", color_scheme="amber", class_name="preview-reason"),
                    ),
                    figures_table(
                        ["Group", "Value", "Events"],
                        S.preview_groups,
                        lambda g: rx.text(g["group"], size="2"),
                        ["value", "events"],
                        "preview-groups",
                        variant="surface",
                    ),
                    spacing="3",
                    width="100%",
                ),
                rx.text(
                    "Type an event type to see what the metric makes of recent events.", size="2", color_scheme="gray"
                ),
            ),
        ),
        spacing="3",
        width="100%",
        id="metric-preview",
    )


def _new_metric() -> rx.Component:
    return rx.card(
        rx.grid(_form(), _preview(), columns=rx.breakpoints(initial="1", md="2"), spacing="5", width="100%"),
        width="100%",
        id="new-metric",
    )


def _archive_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Archive ", S.archive_name, "?"),
            rx.alert_dialog.description(
                "It stops counting new events; what it counted stays billed.", size="2", color_scheme="gray"
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button("Archive", color_scheme="red", on_click=S.archive, id="confirm-archive")
                ),
                justify="end",
                margin_top="16px",
            ),
            id="archive-dialog",
        ),
        open=S.archive_open,
        on_open_change=S.set_archive_open,
    )


def staff_metrics_page() -> rx.Component:
    """The metrics, with the new-metric form and its preview."""
    return staff_area(
        S,
        ROUTE,
        rx.hstack(
            page_header("Metrics", "What usage events count as: each metric turns events of one type into a quantity."),
            rx.spacer(),
            rx.button(rx.icon("plus", size=14), "New metric", on_click=S.open_form, id="new-metric-button"),
            width="100%",
            align="start",
        ),
        rx.cond(S.form_open, _new_metric()),
        rx.cond(
            S.metrics.length() == 0,
            notice("ruler", "No metrics yet", "Create one: it counts events ingested from then on."),
            _metrics_table(),
        ),
        _archive_dialog(),
    )
