"""The products panel of the rate cards page: what cards may price, and a form to add a product.

A new product has no price until a price change on a rate card gives it its
first rate (simulated and scheduled like any other change).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from portal.components.layout import labelled
from portal.services import metrics, products
from portal.services.errors import ServiceError
from portal.services.identity import Identity
from portal.state.session import identity_of, session_ended

NO_METRIC = "none"
NO_ROUNDING = "none"
ROUNDINGS = [(NO_ROUNDING, "No rounding"), ("up", "Round up"), ("down", "Round down"), ("half_up", "Round half up")]


def product_rows(identity: Identity) -> list[dict[str, str]]:
    """Every product a card may price, as rows (staff only)."""
    return [{k: str(v) for k, v in dataclasses.asdict(p).items()} for p in products.list_products(identity)]


def metric_choices(identity: Identity) -> list[list[str]]:
    """[id, name] of every active metric a usage product may bill (staff only)."""
    return [[m.id, m.name] for m in metrics.list_metrics(identity) if not m.archived]


def definition_from(form: dict[str, Any]) -> dict[str, str]:
    """The submitted form as :func:`portal.services.products.create_product` takes it."""
    definition = {k: str(form.get(k, "")).strip() for k in ("name", "kind", "metric_id", "per", "rounding")}
    if definition["metric_id"] == NO_METRIC:
        definition["metric_id"] = ""
    if definition["rounding"] == NO_ROUNDING:
        definition["rounding"] = ""
    return definition


class ProductsState(rx.State):
    """The products and the new-product form."""

    rows: list[dict[str, str]] = []
    metric_choices: list[list[str]] = []
    error: str = ""
    values: dict[str, str] = {}
    form_key: int = 0

    @rx.event
    def load(self) -> EventSpec | None:
        """Load the products and the metrics a new one may bill (staff only; others get nothing)."""
        identity = identity_of(self)
        if identity is None or not identity.is_staff:
            return None
        self.rows, self.metric_choices = product_rows(identity), metric_choices(identity)
        return None

    @rx.event
    def create(self, form: dict[str, Any]) -> EventSpec | None:
        """Add the product; on a refusal keep what was typed and show why."""
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        definition = definition_from(form)
        try:
            made = products.create_product(identity, definition)
        except ServiceError as exc:
            self.error, self.values = str(exc), definition
            self.form_key += 1
            return None
        self.error, self.values = "", {}
        self.form_key += 1
        self.rows = product_rows(identity)
        return rx.toast.success(f"Added {made.name}: give it a price with a price change on a rate card.")


def _row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row["name"], weight="medium")),
        rx.table.cell(rx.badge(row["kind"], variant="soft")),
        rx.table.cell(row["metric"]),
        rx.table.cell(row["per"]),
        class_name="product-row",
    )


def _select(name: str, choices: rx.Component, default: str) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(width="100%", id=f"product-{name}"),
        choices,
        name=name,
        default_value=ProductsState.values.get(name, default),
    )


def _form() -> rx.Component:
    return rx.form(
        rx.grid(
            labelled(
                "Name",
                rx.input(name="name", id="product-name", default_value=ProductsState.values.get("name", "")),
                "As invoices show it.",
            ),
            labelled(
                "Kind",
                _select(
                    "kind",
                    rx.select.content(
                        rx.select.item("Usage", value="usage"), rx.select.item("Fixed fee", value="fixed")
                    ),
                    "usage",
                ),
            ),
            labelled(
                "Metric",
                _select(
                    "metric_id",
                    rx.select.content(
                        rx.select.item("None (fixed fee)", value=NO_METRIC),
                        rx.foreach(ProductsState.metric_choices, lambda m: rx.select.item(m[1], value=m[0])),
                    ),
                    NO_METRIC,
                ),
                "What a usage product bills.",
            ),
            labelled(
                "Per",
                rx.input(name="per", id="product-per", default_value=ProductsState.values.get("per", "")),
                "Bill per this many units, e.g. 1000 (empty: per unit).",
            ),
            labelled(
                "Rounding",
                _select(
                    "rounding", rx.select.content(*[rx.select.item(t, value=v) for v, t in ROUNDINGS]), NO_ROUNDING
                ),
            ),
            columns=rx.breakpoints(initial="1", sm="2", lg="5"),
            spacing="3",
            width="100%",
        ),
        rx.cond(
            ProductsState.error != "",
            rx.callout(ProductsState.error, icon="triangle-alert", color_scheme="red", id="product-error"),
        ),
        rx.hstack(rx.button(rx.icon("plus", size=14), "Add product", type="submit", id="add-product"), justify="end"),
        on_submit=ProductsState.create,
        key=ProductsState.form_key,
        width="100%",
    )


def products_panel() -> rx.Component:
    """The products and the form to add one."""
    return rx.vstack(
        rx.heading("Products", size="4", margin_top="12px"),
        rx.text(
            "What rate cards price. A new product has no price until a price change on a card gives it one.",
            size="2",
            color_scheme="gray",
        ),
        rx.table.root(
            rx.table.header(
                rx.table.row(*[rx.table.column_header_cell(h) for h in ("Product", "Kind", "Metric", "Billed per")])
            ),
            rx.table.body(rx.foreach(ProductsState.rows, _row)),
            variant="surface",
            width="100%",
            id="products-table",
        ),
        rx.card(_form(), width="100%"),
        spacing="3",
        width="100%",
        align="start",
    )
