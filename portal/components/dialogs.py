"""Pieces of the forms in dialogs: the Cancel / submit foot and a plain select that fills the dialog's width."""

from __future__ import annotations

import reflex as rx

FIELD_STYLE = {"width": "100%", "padding": "6px"}
"""The style of a native select in a dialog form (the width of the form, a little padding)."""


def dialog_buttons(submit: rx.Component) -> rx.Component:
    """Cancel (closes the dialog) and the dialog's submit button, at its foot."""
    return rx.hstack(
        rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray", type="button")),
        submit,
        justify="end",
        width="100%",
    )


def native_select(name: str, field_id: str, options: rx.Component, **props: object) -> rx.Component:
    """A form's ``<select>`` named ``name`` with ``options`` (its value is submitted with the form)."""
    return rx.el.select(options, name=name, id=field_id, style=FIELD_STYLE, **props)
