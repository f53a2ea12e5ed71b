"""The account page's "Payment method" panel: the card invoices are charged to, and a form to add or replace it.

Only the account's admins see it. The form mounts Stripe.js's card field in a
dialog; saving confirms the card in the browser, then the server checks it
with the provider and makes it the default (:mod:`portal.services.cards`).
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from portal.components.card_form import card_box, confirm_card_script, mount_card_script
from portal.components.dialogs import dialog_buttons
from portal.components.layout import panel
from portal.services import cards
from portal.services.errors import ServiceError
from portal.services.identity import Identity
from portal.state.access import administered_customer
from portal.state.session import identity_of

CARD_BOX = "account-card"


class CardState(rx.State):
    """The saved card's description and the card form's progress."""

    accepted: bool = False
    card: str = ""
    form_open: bool = False
    busy: bool = False
    error: str = ""
    _setup: str = ""
    _secret: str = ""

    def _admin(self) -> tuple[Identity, str] | None:
        identity = identity_of(self)
        customer_id = administered_customer(identity)
        return None if identity is None or customer_id is None else (identity, customer_id)

    @rx.event
    def load(self) -> None:
        """Read the saved card (admins only) and whether cards are taken here."""
        admin = self._admin()
        self.accepted = admin is not None and cards.cards_accepted()
        if admin is not None:
            view = cards.card_of(*admin)
            self.card = view.label if view else ""

    @rx.event
    def open_form(self) -> rx.event.EventSpec | None:
        """Start a card form with the provider and mount its card field in the dialog."""
        admin = self._admin()
        self.form_open, self.error, self.busy = True, "", False
        if admin is None:
            self.error = "Only an admin of this account can change its card."
            return None
        try:
            form = cards.start_card_form(*admin)
        except ServiceError as exc:
            self.error = str(exc)
            return None
        self._setup, self._secret = form.setup_reference, form.client_secret
        script = mount_card_script(form.publishable_key, form.stripe_js_url, CARD_BOX)
        return rx.call_script(script, callback=CardState.mounted)

    @rx.event
    def mounted(self, result: dict[str, Any]) -> None:
        """Say why the card field could not be shown, if it could not."""
        if result.get("error"):
            self.error = str(result["error"])

    @rx.event
    def set_form_open(self, value: bool) -> None:
        """Open or close the dialog (closing forgets the form; a new one starts next time)."""
        self.form_open = value
        if not value:
            self._setup = self._secret = ""

    @rx.event
    def save(self) -> rx.event.EventSpec | None:
        """Confirm the typed card in the browser; :meth:`confirmed` saves it."""
        if not self._secret:
            self.error = "The card form is not ready: close it and open it again."
            return None
        self.busy, self.error = True, ""
        return rx.call_script(confirm_card_script(self._secret), callback=CardState.confirmed)

    @rx.event
    def confirmed(self, result: dict[str, Any]) -> rx.event.EventSpec | None:
        """Save the card the browser confirmed as the account's default, or say why it was not."""
        self.busy = False
        admin = self._admin()
        if result.get("error") or admin is None:
            self.error = str(result.get("error") or "Only an admin of this account can change its card.")
            return None
        try:
            view = cards.save_card(*admin, self._setup)
        except ServiceError as exc:
            self.error = str(exc)
            return None
        self.card, self.form_open, self._setup, self._secret = view.label, False, "", ""
        return rx.toast.success(f"Card saved: {view.label}. Invoices are charged to it from now on.")


def _card_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(rx.cond(CardState.card != "", "Replace your card", "Add a card")),
            rx.dialog.description(
                "Invoices of this account are charged to this card when they are due.", size="2", margin_bottom="12px"
            ),
            rx.vstack(
                card_box(CARD_BOX),
                rx.cond(
                    CardState.error != "",
                    rx.callout(CardState.error, icon="triangle-alert", color_scheme="red", id="card-error"),
                ),
                dialog_buttons(
                    rx.button(
                        "Save card", type="button", on_click=CardState.save, loading=CardState.busy, id="save-card"
                    )
                ),
                spacing="3",
                width="100%",
            ),
            max_width="480px",
        ),
        open=CardState.form_open,
        on_open_change=CardState.set_form_open,
    )


def card_panel() -> rx.Component:
    """The card invoices are charged to, with Add / Replace (admins, when a payment provider is configured)."""
    return rx.box(
        rx.cond(
            CardState.accepted,
            panel(
                "Payment method",
                "Invoices are charged to this card when they are due.",
                rx.hstack(
                    rx.icon("credit-card", size=20, color="var(--gray-11)"),
                    rx.text(
                        rx.cond(
                            CardState.card != "", CardState.card, "No card on file: add one so invoices can be paid."
                        ),
                        id="card-on-file",
                    ),
                    align="center",
                    spacing="3",
                ),
                _card_dialog(),
                action=rx.button(
                    rx.cond(CardState.card != "", "Replace card", "Add card"),
                    variant="soft",
                    on_click=CardState.open_form,
                    id="open-card-form",
                ),
            ),
        ),
        on_mount=CardState.load,
        width="100%",
    )
