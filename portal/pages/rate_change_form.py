"""The rate-card page's "Schedule a price change" form: product, effective date and hour (UTC), price model with
its fields (tiers as rows to add and remove), unit; Propose opens the draft to simulate it."""

from __future__ import annotations

import reflex as rx

from portal.pages.rate_card_state import HOURS, PRICE_MODELS, TIERED_MODELS, RateCardState


def _field(label: str, control: rx.Component, hint: str = "", html_for: str = "") -> rx.Component:
    return rx.vstack(
        rx.text(label, as_="label", html_for=html_for, weight="medium", size="2"),
        control,
        rx.text(hint, size="1", color_scheme="gray") if hint else rx.fragment(),
        spacing="1",
        width="100%",
    )


def _input(label: str, name: str, element_id: str, hint: str = "", **props: object) -> rx.Component:
    control = rx.input(name=name, id=element_id, width="100%", **props)
    return _field(label, control, hint, element_id)


def _product_select() -> rx.Component:
    return _field(
        "Product",
        rx.select.root(
            rx.select.trigger(width="100%", id="rc-product"),
            rx.select.content(rx.foreach(RateCardState.products, lambda p: rx.select.item(p["name"], value=p["id"]))),
            name="product_id",
            default_value=RateCardState.default_product,
        ),
        "Every customer billed by this card pays the new price for it from the effective time.",
    )


def _unit_select() -> rx.Component:
    return _field(
        "Unit",
        rx.select.root(
            rx.select.trigger(width="100%", id="rc-unit"),
            rx.select.content(rx.foreach(RateCardState.units, lambda u: rx.select.item(u, value=u))),
            name="credit_type_id",
            default_value=RateCardState.default_unit,
        ),
        "What the price is in: a credit type (burned from credits first) or the currency itself.",
    )


def _when() -> rx.Component:
    return rx.grid(
        _input(
            "Effective date",
            "date",
            "rc-date",
            "The first day the new price applies.",
            type="date",
            default_value=RateCardState.default_date,
            min=RateCardState.min_date,
        ),
        _field(
            "Hour (UTC)",
            rx.select.root(
                rx.select.trigger(width="100%", id="rc-hour"),
                rx.select.content(*[rx.select.item(f"{hour}:00", value=hour) for hour in HOURS]),
                name="hour",
                default_value="00",
            ),
            "Prices change on a whole hour.",
        ),
        columns="2",
        spacing="3",
        width="100%",
    )


def _model_select() -> rx.Component:
    return _field(
        "Price model",
        rx.select.root(
            rx.select.trigger(width="100%", id="rc-model"),
            rx.select.content(*[rx.select.item(text, value=value) for value, text in PRICE_MODELS]),
            value=RateCardState.price_model,
            on_change=RateCardState.set_price_model,
        ),
    )


def _tier_input(key: rx.Var, number: rx.Var, field: str, label: str, placeholder: str) -> rx.Component:
    return rx.table.cell(
        rx.input(
            name="tier-" + key + "-" + field,
            placeholder=placeholder,
            aria_label="Tier " + number + " " + label,
            input_mode="decimal",
            class_name="tier-" + field.replace("_", "-"),
        )
    )


def _tier_row(key: rx.Var, index: rx.Var) -> rx.Component:
    number = (index + 1).to_string()
    return rx.table.row(
        rx.table.cell(rx.text("Tier ", number, size="2", color_scheme="gray", white_space="nowrap")),
        _tier_input(key, number, "up_to", "up to", "No limit"),
        _tier_input(key, number, "unit_price", "price per unit", "0"),
        _tier_input(key, number, "flat_fee", "flat fee", "0"),
        rx.table.cell(
            rx.icon_button(
                rx.icon("x", size=14),
                type="button",
                variant="ghost",
                color_scheme="gray",
                disabled=RateCardState.tier_keys.length() <= 1,
                on_click=RateCardState.remove_tier(key),
                aria_label="Remove this tier",
                class_name="remove-tier",
            ),
            text_align="right",
        ),
        key=key,
        class_name="tier-row",
    )


def _tiers() -> rx.Component:
    return rx.vstack(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell(""),
                    rx.table.column_header_cell("Up to (units)"),
                    rx.table.column_header_cell("Price per unit"),
                    rx.table.column_header_cell("Flat fee"),
                    rx.table.column_header_cell(""),
                )
            ),
            rx.table.body(rx.foreach(RateCardState.tier_keys, _tier_row)),
            size="1",
            width="100%",
            id="rc-tiers",
        ),
        rx.hstack(
            rx.button(
                rx.icon("plus", size=14),
                "Add tier",
                type="button",
                variant="soft",
                size="1",
                on_click=RateCardState.add_tier,
                id="add-tier",
            ),
            rx.text(
                "Each tier ends where its own bound is reached; leave the last one empty for no limit.",
                size="1",
                color_scheme="gray",
            ),
            align="center",
            spacing="3",
        ),
        spacing="2",
        width="100%",
    )


def _price_fields() -> rx.Component:
    return rx.match(
        RateCardState.price_model,
        (
            "package",
            rx.grid(
                _input("Units per block", "size", "rc-size", "e.g. 1000", input_mode="decimal"),
                _input("Price per block", "price_per_block", "rc-price-per-block", input_mode="decimal"),
                columns="2",
                spacing="3",
                width="100%",
            ),
        ),
        *[(model, _tiers()) for model in TIERED_MODELS],
        _input("Price per unit", "unit_price", "rc-unit-price", "In the unit below, e.g. 12.", input_mode="decimal"),
    )


def propose_form() -> rx.Component:
    """The new-change form in a card."""
    return rx.card(
        rx.form(
            rx.vstack(
                rx.vstack(
                    rx.heading("Schedule a price change", size="4"),
                    rx.text(
                        "Propose a new price from a future hour. It is a draft until you simulate it over real "
                        "usage, review the results and schedule it.",
                        size="2",
                        color_scheme="gray",
                    ),
                    spacing="1",
                ),
                _product_select(),
                _when(),
                _model_select(),
                _price_fields(),
                _unit_select(),
                rx.cond(
                    RateCardState.propose_error != "",
                    rx.callout(
                        RateCardState.propose_error,
                        icon="triangle-alert",
                        color_scheme="red",
                        id="propose-error",
                        width="100%",
                    ),
                ),
                rx.hstack(
                    rx.spacer(),
                    rx.button(rx.icon("calendar-plus", size=14), "Propose change", type="submit", id="propose"),
                    width="100%",
                ),
                spacing="4",
                width="100%",
            ),
            key=RateCardState.form_key,
            on_submit=RateCardState.propose,
            reset_on_submit=False,
            id="propose-form",
        ),
        size="3",
        width="100%",
    )
