"""The building blocks of the account pages (sign in, sign up, password reset): a centred card, fields, messages."""

from __future__ import annotations

from typing import Any

import reflex as rx

from portal.components.layout import shell


def account_card(*children: rx.Component) -> rx.Component:
    """The page shell with ``children`` in a narrow card in the middle."""
    return shell(
        rx.center(
            rx.card(
                rx.vstack(*children, spacing="4", width="100%"),
                size="4",
                width="100%",
                max_width="440px",
            ),
            padding_y="32px",
        )
    )


def account_form(
    title: str, subtitle: str, *fields: rx.Component, submit: rx.Component, on_submit: Any
) -> rx.Component:
    """A form with a heading, its fields and a submit button; the form keeps its values when it is refused."""
    return rx.form(
        rx.vstack(
            rx.heading(title, size="6"),
            rx.text(subtitle, color_scheme="gray"),
            *fields,
            submit,
            spacing="3",
            width="100%",
        ),
        on_submit=on_submit,
        reset_on_submit=False,
        width="100%",
    )


def form_field(
    label: str, name: str, input_type: str = "text", hint: str = "", required: bool = True, autocomplete: str = ""
) -> rx.Component:
    """A labelled input whose id and name are ``name``, with an optional hint below it."""
    return rx.vstack(
        rx.text(label, as_="label", html_for=name, weight="medium", size="2"),
        rx.input(
            id=name,
            name=name,
            type=input_type,
            required=required,
            auto_complete=autocomplete or None,
            width="100%",
            size="3",
        ),
        rx.text(hint, size="1", color_scheme="gray", id=f"{name}-hint") if hint else rx.fragment(),
        spacing="1",
        width="100%",
    )


def submit_button(label: str, button_id: str) -> rx.Component:
    """The full-width submit button of an account form."""
    return rx.button(label, type="submit", width="100%", size="3", id=button_id)


def error_message(message: rx.Var[str], element_id: str) -> rx.Component:
    """A red callout with ``message``, shown while it is not empty."""
    return rx.cond(message != "", rx.callout(message, icon="triangle-alert", color_scheme="red", id=element_id))


def info_message(message: rx.Var[str] | str, element_id: str) -> rx.Component:
    """A neutral callout with ``message``."""
    return rx.callout(message, icon="info", id=element_id)
