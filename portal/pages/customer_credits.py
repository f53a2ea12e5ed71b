"""The account page's "Credits" panel: buy prepaid credits with a live price, past purchases, and auto-recharge.

Only the account's admins see it, and only when the plan has credits to buy. Every figure comes formatted from
:mod:`portal.services.credit_purchases`, which decides who may buy and charges before it grants. A purchase runs as
a background event (the panel shows its progress, then its outcome); the request key made when the confirmation
opens means a second click on "Buy" carries on the same purchase instead of buying twice.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

import reflex as rx
from reflex.event import EventHandler, EventSpec

from portal.components.account_forms import error_message
from portal.components.dialogs import dialog_buttons
from portal.components.invoice import status_badge
from portal.components.layout import labelled, panel
from portal.services import credit_purchases
from portal.services.credit_purchases import AutoRechargeView, PurchaseView
from portal.services.errors import ServiceError
from portal.services.identity import Identity
from portal.state.access import administered_customer
from portal.state.session import identity_of, session_ended

_BADGE_STATUS = {"pending": "finalized", "paid": "paid", "failed": "payment_failed", "void": "void"}
"""A purchase's status as the invoice status badge shows it (pending: due)."""


def _purchase_row(p: PurchaseView) -> dict[str, str]:
    return {
        "id": p.id,
        "date": f"{p.created_at:%b} {p.created_at.day}, {p.created_at:%Y %H:%M} UTC",
        "credits": p.credits,
        "price": p.price,
        "source": "Auto-recharge" if p.source == credit_purchases.AUTO else "Bought",
        "status": _BADGE_STATUS.get(p.status, p.status),
        "note": p.note if p.status != credit_purchases.PAID else "",
        "can_pay": "yes" if p.status in (credit_purchases.FAILED, credit_purchases.PENDING) else "",
    }


def _outcome(p: PurchaseView) -> tuple[str, bool]:
    """What a purchase attempt did, in words, and whether it succeeded."""
    if p.status == credit_purchases.PAID:
        return f"{p.credits} were added to your balance: {p.price} was charged to your card.", True
    if p.status == credit_purchases.FAILED:
        return f"The payment of {p.price} failed, so no credits were added. {p.note}", False
    return f"The payment of {p.price} is not complete yet; the credits are added once it is. {p.note}", False


class CreditsState(rx.State):
    """The Credits panel: the offer, the amount typed and its price, the purchase running, purchases, auto-recharge."""

    shown: bool = False
    credit_type: str = ""
    unit_price: str = ""
    limits: str = ""
    refusal: str = ""
    amount: str = ""
    price: str = ""
    error: str = ""
    question: str = ""
    confirm_open: bool = False
    buying: bool = False
    outcome: str = ""
    outcome_ok: bool = True
    purchases: list[dict[str, str]] = []
    auto_enabled: bool = False
    auto_threshold: str = ""
    auto_target: str = ""
    auto_error: str = ""
    auto_outcome: str = ""
    auto_turned_off: str = ""
    _request_key: str = ""

    @rx.event
    def load(self) -> None:
        """Read what the admin's account can buy, its purchases and auto-recharge (nothing for anyone else)."""
        customer_id = administered_customer(identity := identity_of(self))
        self.shown = False
        if identity is None or customer_id is None:
            return
        try:
            offer = credit_purchases.credit_offer(identity, customer_id)
        except ServiceError:  # no plan yet, or a plan without credits: there is nothing to buy
            return
        self.shown = True
        self.credit_type, self.unit_price, self.refusal = offer.credit_type, offer.unit_price, offer.refusal
        self.limits = f"From {offer.minimum} to {offer.maximum} at a time."
        self._refresh(identity, customer_id)

    def _refresh(self, identity: Identity, customer_id: str) -> None:
        self.purchases = [_purchase_row(p) for p in credit_purchases.purchases(identity, customer_id)]
        self._show_auto(credit_purchases.auto_recharge(identity, customer_id))

    def _show_auto(self, view: AutoRechargeView) -> None:
        self.auto_enabled, self.auto_outcome, self.auto_turned_off = view.enabled, view.last_outcome, view.turned_off
        self.auto_threshold, self.auto_target = view.threshold, view.target

    @rx.event
    def set_amount(self, value: str) -> None:
        """Price the number of credits typed, live (or say what is wrong with it)."""
        self.amount, self.outcome = value, ""
        self.price, self.error = "", ""
        customer_id = administered_customer(identity := identity_of(self))
        if not value.strip() or identity is None or customer_id is None:
            return
        try:
            quote = credit_purchases.quote_credits(identity, customer_id, value.strip())
        except ServiceError as exc:
            self.error = str(exc)
            return
        self.price = f"{quote.label} for {quote.price}"

    @rx.event
    def ask(self) -> EventSpec | None:
        """Open the confirmation ("Buy 10,000 AI credits for $100.00?") for the amount typed, if it can be bought."""
        customer_id = administered_customer(identity := identity_of(self))
        if identity is None or customer_id is None:
            return session_ended()
        try:
            quote = credit_purchases.quote_credits(identity, customer_id, self.amount.strip())
        except ServiceError as exc:
            self.error = str(exc)
            return None
        self.question, self.error, self.outcome = quote.question, "", ""
        self._request_key = f"ui-{secrets.token_hex(8)}"
        self.confirm_open = True
        return None

    @rx.event
    def set_confirm_open(self, value: bool) -> None:
        """Close (or reopen) the confirmation."""
        self.confirm_open = value

    @rx.event(background=True)
    async def buy(self) -> None:
        """Buy the confirmed credits: the card is charged, then the credits are added (progress shown meanwhile)."""
        async with self:
            self.confirm_open = False
            amount, key = self.amount.strip(), self._request_key
        await self._charge(
            lambda identity, customer_id: credit_purchases.buy_credits(identity, customer_id, amount, key)
        )

    @rx.event(background=True)
    async def pay_again(self, purchase_id: str) -> None:
        """Charge a purchase whose payment failed again (after the card was changed)."""
        await self._charge(lambda identity, customer_id: credit_purchases.pay_again(identity, customer_id, purchase_id))

    async def _charge(self, attempt: Callable[[Identity, str], PurchaseView]) -> None:
        """Run a charging ``attempt`` off the event loop with the progress shown, then show what it did."""
        async with self:
            if self.buying:
                return
            self.buying, self.outcome, self.error = True, "", ""
        identity = await asyncio.to_thread(identity_of, self)
        customer_id = administered_customer(identity)
        try:
            if identity is None or customer_id is None:
                raise ServiceError("Only an admin of this account can buy credits: sign in again.")
            result = await asyncio.to_thread(attempt, identity, customer_id)
        except ServiceError as exc:
            async with self:
                self.buying, self.error = False, str(exc)
            return
        async with self:
            self.buying = False
            self.outcome, self.outcome_ok = _outcome(result)
            if self.outcome_ok:
                self.amount, self.price = "", ""
            self._refresh(identity, customer_id)

    @rx.event
    def set_auto_enabled(self, value: bool) -> None:
        """Remember the switch (saved with the threshold and target)."""
        self.auto_enabled, self.auto_error = value, ""

    @rx.event
    def set_auto_threshold(self, value: str) -> None:
        """Remember the threshold typed."""
        self.auto_threshold, self.auto_error = value, ""

    @rx.event
    def set_auto_target(self, value: str) -> None:
        """Remember the target typed."""
        self.auto_target, self.auto_error = value, ""

    @rx.event
    def save_auto(self) -> EventSpec | None:
        """Save auto-recharge: on or off, below which balance, and up to which."""
        customer_id = administered_customer(identity := identity_of(self))
        if identity is None or customer_id is None:
            return session_ended()
        try:
            view = credit_purchases.set_auto_recharge(
                identity, customer_id, self.auto_enabled, self.auto_threshold.strip(), self.auto_target.strip()
            )
        except ServiceError as exc:
            self.auto_error = str(exc)
            return None
        self._show_auto(view)
        if not view.enabled:
            return rx.toast.success("Auto-recharge is off.")
        return rx.toast.success(
            f"Auto-recharge is on: below {view.threshold} {self.credit_type}, we buy up to {view.target}."
        )


# --- layout ----------------------------------------------------------------------------------------


def _credits_field(
    label: str, value: rx.Var[str], on_change: EventHandler, example: str, field_id: str
) -> rx.Component:
    """A labelled input for a whole number of credits."""
    return labelled(
        label,
        rx.input(value=value, on_change=on_change, placeholder=example, inputmode="numeric", id=field_id, width="100%"),
    )


def _confirm_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(CreditsState.question, id="buy-question"),
            rx.dialog.description(
                "Your card is charged now; the credits are added to the pool as soon as the payment succeeds.",
                size="2",
                margin_bottom="16px",
            ),
            dialog_buttons(rx.button("Buy", type="button", on_click=CreditsState.buy, id="confirm-buy")),
            max_width="440px",
        ),
        open=CreditsState.confirm_open,
        on_open_change=CreditsState.set_confirm_open,
    )


def _buy_form() -> rx.Component:
    return rx.vstack(
        rx.cond(
            CreditsState.refusal != "",
            rx.callout(CreditsState.refusal, icon="info", id="credits-refusal", width="100%"),
        ),
        rx.form(
            rx.hstack(
                _credits_field(
                    f"{CreditsState.credit_type} to buy",
                    CreditsState.amount,
                    CreditsState.set_amount,
                    "10000",
                    "credits-amount",
                ),
                rx.button(
                    "Buy credits",
                    type="submit",
                    disabled=CreditsState.buying | (CreditsState.refusal != ""),
                    id="buy-credits",
                ),
                align="end",
                spacing="3",
                width="100%",
                max_width="480px",
            ),
            on_submit=lambda _: CreditsState.ask(),
            reset_on_submit=False,
            width="100%",
        ),
        rx.text(
            rx.cond(CreditsState.price != "", CreditsState.price, CreditsState.limits),
            size="2",
            color_scheme="gray",
            id="credits-price",
        ),
        error_message(CreditsState.error, "credits-error"),
        rx.cond(
            CreditsState.buying,
            rx.hstack(
                rx.spinner(size="2"),
                rx.text("Charging your card… the credits are added once the payment succeeds.", size="2"),
                align="center",
                id="credits-progress",
            ),
        ),
        rx.cond(
            CreditsState.outcome != "",
            rx.callout(
                CreditsState.outcome,
                icon=rx.cond(CreditsState.outcome_ok, "circle-check", "triangle-alert"),
                color_scheme=rx.cond(CreditsState.outcome_ok, "green", "red"),
                id="credits-outcome",
                width="100%",
            ),
        ),
        _confirm_dialog(),
        spacing="2",
        width="100%",
    )


def _purchase(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["date"], white_space="nowrap"),
        rx.table.cell(row["credits"]),
        rx.table.cell(row["price"], text_align="right"),
        rx.table.cell(row["source"]),
        rx.table.cell(
            rx.vstack(
                status_badge(row["status"]),
                rx.cond(row["note"] != "", rx.text(row["note"], size="1", color_scheme="gray")),
                spacing="1",
            )
        ),
        rx.table.cell(
            rx.cond(
                row["can_pay"] != "",
                rx.button(
                    "Pay again",
                    size="1",
                    variant="soft",
                    on_click=CreditsState.pay_again(row["id"]),
                    disabled=CreditsState.buying,
                    class_name="pay-purchase-again",
                ),
            )
        ),
        class_name="credit-purchase",
    )


def _purchases() -> rx.Component:
    return rx.cond(
        CreditsState.purchases.length() > 0,
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h, text_align="right" if h == "Price" else "left")
                        for h in ("Date", "Credits", "Price", "How", "Status", "")
                    ]
                )
            ),
            rx.table.body(rx.foreach(CreditsState.purchases, _purchase)),
            variant="ghost",
            width="100%",
            id="credit-purchases",
        ),
        rx.text("No credits bought yet.", size="2", color_scheme="gray", id="no-credit-purchases"),
    )


def _auto_recharge() -> rx.Component:
    return rx.vstack(
        rx.heading("Auto-recharge", size="3"),
        rx.text(
            "When the pooled balance falls below the threshold after usage arrives, buy credits up to the target, "
            "charged to your card. A failed payment turns auto-recharge off and we email the account's admins.",
            size="2",
            color_scheme="gray",
        ),
        rx.cond(
            CreditsState.auto_turned_off != "",
            rx.callout(
                CreditsState.auto_turned_off,
                icon="circle-alert",
                color_scheme="red",
                id="auto-recharge-off",
                width="100%",
            ),
        ),
        rx.hstack(
            rx.switch(
                checked=CreditsState.auto_enabled, on_change=CreditsState.set_auto_enabled, id="auto-recharge-enabled"
            ),
            rx.text("Recharge automatically", size="2", weight="medium"),
            align="center",
            spacing="2",
        ),
        rx.hstack(
            _credits_field(
                "Below (credits)",
                CreditsState.auto_threshold,
                CreditsState.set_auto_threshold,
                "1000",
                "auto-threshold",
            ),
            _credits_field(
                "Buy up to (credits)", CreditsState.auto_target, CreditsState.set_auto_target, "5000", "auto-target"
            ),
            rx.button("Save", variant="soft", on_click=CreditsState.save_auto, id="save-auto-recharge"),
            align="end",
            spacing="3",
            max_width="560px",
        ),
        error_message(CreditsState.auto_error, "auto-recharge-error"),
        rx.cond(
            (CreditsState.auto_outcome != "") & (CreditsState.auto_turned_off == ""),
            rx.text("Last: ", CreditsState.auto_outcome, size="2", color_scheme="gray", id="auto-recharge-outcome"),
        ),
        spacing="2",
        width="100%",
        align="start",
        id="auto-recharge",
    )


def credits_panel() -> rx.Component:
    """Buy credits, past purchases and auto-recharge (admins of an account whose plan has credits to buy)."""
    return rx.box(
        rx.cond(
            CreditsState.shown,
            panel(
                "Credits",
                f"Prepaid {CreditsState.credit_type} at {CreditsState.unit_price} each, added to your team's pool "
                "once the payment succeeds. They last until your contract ends "
                f"({credit_purchases.VALID_MONTHS} months when it has no end date).",
                _buy_form(),
                rx.divider(),
                _purchases(),
                rx.divider(),
                _auto_recharge(),
                id="credits-panel",
            ),
        ),
        on_mount=CreditsState.load,
        width="100%",
    )
