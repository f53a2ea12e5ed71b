"""Checkout: a tier and a seat count, what is due today and per period (from the rating engine), then buy."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote as url_quote

import reflex as rx

from portal.components.card_form import card_box, confirm_card_script, mount_card_script
from portal.components.layout import page_header, shell
from portal.config import get_settings
from portal.services import cards
from portal.services.errors import ServiceError
from portal.services.purchase import check_purchase, purchase, quote
from portal.state.session import identity_of

DEFAULT_TIER = "team"
CARD_BOX = "checkout-card"


class CheckoutState(rx.State):
    """The chosen tier and seats, the quote, and the outcome of buying."""

    tier: str = DEFAULT_TIER
    tier_name: str = ""
    seats: int = 0
    min_seats: int = 1
    max_seats: str = ""
    due_today: str = ""
    per_period: str = ""
    first_period: str = ""
    error: str = ""
    signed_in: bool = False
    has_account: bool = False
    company: str = ""
    busy: bool = False
    card_payments: bool = False
    _card_setup: str = ""

    def _quote(self, seats: int | None) -> None:
        try:
            priced = quote(self.tier, seats)
        except ServiceError as exc:
            self.error, self.due_today, self.per_period = str(exc), "", ""
            return
        self.error, self.seats = "", priced.seats
        self.tier_name, self.due_today, self.per_period = priced.name, priced.due_today, priced.per_period
        self.first_period = priced.first_period
        self.min_seats, self.max_seats = priced.min_seats, "" if priced.max_seats is None else str(priced.max_seats)

    @rx.event
    def load(self) -> rx.event.EventSpec | None:
        """Read ``tier`` and ``seats`` from the address and price them; show the card field when cards are taken."""
        params = self.router.url.query_parameters
        self.tier = params.get("tier", DEFAULT_TIER)
        seats = params.get("seats", "")
        identity = identity_of(self)
        self.signed_in = identity is not None
        self.has_account = bool(identity and identity.customer_id)
        self.company = identity.company_name if identity else ""
        self._quote(int(seats) if seats.isdigit() else None)
        self.card_payments = cards.cards_accepted()
        if not (self.card_payments and self.signed_in and not self.has_account):
            return None
        settings = get_settings()
        key, js_url = settings.stripe_publishable_key or "", settings.stripe_js_url
        return rx.call_script(mount_card_script(key, js_url, CARD_BOX), callback=CheckoutState.card_ready)

    @rx.event
    def card_ready(self, result: dict[str, Any]) -> None:
        """Say why the card field could not be shown, if it could not."""
        if result.get("error"):
            self.error = str(result["error"])

    @rx.event
    def set_seats(self, value: str) -> None:
        """Reprice for a new seat count typed by the buyer."""
        if not value.strip().isdigit():
            self.error = "Enter a whole number of seats."
            return
        self.seats = int(value)
        self._quote(self.seats)

    @rx.event
    def buy(self, form: dict[str, str]) -> rx.event.EventSpec | None:
        """Buy the tier for the signed-in user's new company: the card is confirmed in the browser first, when
        cards are taken (:meth:`card_confirmed` then buys)."""
        self.busy, self.company = True, form.get("company", "")
        try:
            identity, _ = check_purchase(identity_of(self), self.tier, self.seats, self.company)
            if not self.card_payments:
                purchase(identity, self.tier, self.seats, self.company)
                return rx.redirect("/customer")
            started = cards.start_checkout_card(identity)
        except ServiceError as exc:
            self.error, self.busy = str(exc), False
            return None
        self._card_setup = started.setup_reference
        return rx.call_script(confirm_card_script(started.client_secret), callback=CheckoutState.card_confirmed)

    @rx.event
    def card_confirmed(self, result: dict[str, Any]) -> rx.event.EventSpec | None:
        """The browser confirmed the card (or says why not): save it on the new customer and buy."""
        try:
            if result.get("error"):
                self.error = str(result["error"])
                return None
            purchase(identity_of(self), self.tier, self.seats, self.company, card_setup=self._card_setup)
        except ServiceError as exc:
            self.error = str(exc)
            return None
        finally:
            self.busy = False
        return rx.redirect("/customer")

    @rx.var
    def next_url(self) -> str:
        """Where sign-up and sign-in send the buyer back to."""
        return url_quote(f"/checkout?tier={self.tier}&seats={self.seats}", safe="")


def _summary() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(CheckoutState.tier_name, size="5", id="checkout-tier"),
            rx.hstack(
                rx.text("Seats", weight="medium"),
                rx.input(
                    value=CheckoutState.seats.to_string(),
                    on_change=CheckoutState.set_seats.debounce(300),
                    type="number",
                    min=CheckoutState.min_seats,
                    width="90px",
                    id="checkout-seats",
                ),
                rx.text(
                    rx.cond(
                        CheckoutState.max_seats != "",
                        f"{CheckoutState.min_seats} to {CheckoutState.max_seats} seats",
                        f"at least {CheckoutState.min_seats} seats",
                    ),
                    size="1",
                    color_scheme="gray",
                ),
                align="center",
                spacing="3",
            ),
            rx.separator(size="4"),
            rx.hstack(
                rx.text("Due today"),
                rx.spacer(),
                rx.text(CheckoutState.due_today, weight="bold", size="5", id="due-today"),
                width="100%",
            ),
            rx.text("Covers " + CheckoutState.first_period, size="1", color_scheme="gray"),
            rx.hstack(
                rx.text("Then each month"),
                rx.spacer(),
                rx.text(CheckoutState.per_period, id="per-period"),
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
    )


def _buy_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.text("Company name", as_="label", html_for="company", weight="medium", size="2"),
            rx.input(
                id="company",
                name="company",
                default_value=CheckoutState.company,
                key=CheckoutState.company,  # filled in once the state has loaded
                placeholder="e.g. Initech",
                width="100%",
                size="3",
            ),
            rx.cond(CheckoutState.card_payments, card_box(CARD_BOX)),
            rx.button("Buy now", type="submit", size="3", width="100%", id="buy", loading=CheckoutState.busy),
            rx.text("You become the admin of the new account and hold its first seat.", size="1", color_scheme="gray"),
            spacing="2",
            width="100%",
        ),
        on_submit=CheckoutState.buy,
        reset_on_submit=False,
        width="100%",
    )


def _account_needed() -> rx.Component:
    return rx.vstack(
        rx.text("Create an account or sign in to buy.", weight="medium"),
        rx.hstack(
            rx.link(
                rx.button("Create account", size="3"), href="/sign-up?next=" + CheckoutState.next_url, id="to-sign-up"
            ),
            rx.link(
                rx.button("Sign in", size="3", variant="soft"),
                href="/sign-in?next=" + CheckoutState.next_url,
                id="to-sign-in",
            ),
            spacing="3",
        ),
        spacing="3",
    )


def checkout_page() -> rx.Component:
    """Price the tier for the chosen seats, then buy (or sign up first)."""
    return shell(
        page_header("Checkout", "Pick the number of seats; you see what is due today before you buy."),
        rx.grid(
            _summary(),
            rx.card(
                rx.vstack(
                    rx.cond(
                        CheckoutState.error != "",
                        rx.callout(CheckoutState.error, icon="triangle-alert", color_scheme="red", id="checkout-error"),
                    ),
                    rx.cond(
                        CheckoutState.has_account,
                        rx.callout(
                            "Your account already has a plan: change it from your plan page.",
                            icon="info",
                            id="already-customer",
                        ),
                        rx.cond(CheckoutState.signed_in, _buy_form(), _account_needed()),
                    ),
                    spacing="3",
                    width="100%",
                ),
                size="3",
            ),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="5",
            width="100%",
        ),
    )
