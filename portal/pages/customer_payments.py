"""The failed-payment banner of the customer dashboard, with a "Pay again" button per failed invoice.

The dashboard (:mod:`portal.pages.customer`) lists the failed payments it read
(:attr:`portal.services.dashboard.Dashboard.failed_payments`: only an admin's
dashboard has invoices) and keeps them live; this module draws them and pays
again: :class:`PayAgainState` runs :func:`portal.services.billing.pay_again`
in the background, shows which invoice is being paid, then the outcome. A
paid invoice leaves the banner when the dashboard next reads its invoices
(its live loop notices the changed status within a second).
"""

from __future__ import annotations

import asyncio

import reflex as rx
from reflex.event import EventSpec

from portal.services import billing
from portal.services.errors import ServiceError
from portal.state.session import identity_of, session_ended


class PayAgainState(rx.State):
    """Which invoice is being paid again (``paying``), and what the last attempt said, for which invoice."""

    paying: str = ""
    outcome_invoice: str = ""
    outcome: str = ""

    @rx.event(background=True)
    async def pay_again(self, invoice_id: str) -> EventSpec | None:
        """Collect the invoice again now (its admin's explicit request): progress while it runs, then the outcome."""
        async with self:
            if self.paying:
                return None
            self.paying, self.outcome_invoice, self.outcome = invoice_id, "", ""
        paid = False
        try:
            identity = await asyncio.to_thread(identity_of, self)
            if identity is None:
                return session_ended()
            try:
                invoice = await asyncio.to_thread(billing.pay_again, identity, invoice_id)
            except ServiceError as error:
                message = str(error)
            else:
                paid = invoice.status == "paid"
                message = (
                    f"Paid {invoice.total_due} for {invoice.period}: thank you."
                    if paid
                    else invoice.payment_note or "The payment did not go through."
                )
        finally:
            async with self:
                self.paying = ""
        async with self:
            self.outcome_invoice, self.outcome = invoice_id, message
        return rx.toast.success(message) if paid else None


def _failed_payment(alert: rx.Var) -> rx.Component:
    invoice_id = alert["invoice_id"]
    return rx.callout.root(
        rx.callout.icon(rx.icon("credit-card")),
        rx.callout.text(alert["message"], class_name="payment-failed-message"),
        rx.hstack(
            rx.button(
                rx.icon("refresh-cw", size=14),
                "Pay again",
                on_click=PayAgainState.pay_again(invoice_id),
                loading=PayAgainState.paying == invoice_id,
                disabled=PayAgainState.paying != "",
                color_scheme="red",
                size="2",
                class_name="pay-again",
            ),
            rx.cond(
                PayAgainState.paying == invoice_id,
                rx.text("Paying…", size="2", class_name="pay-again-progress"),
            ),
            rx.cond(
                PayAgainState.outcome_invoice == invoice_id,
                rx.text(PayAgainState.outcome, size="2", weight="medium", class_name="pay-again-outcome"),
            ),
            align="center",
            spacing="3",
            wrap="wrap",
        ),
        color_scheme="red",
        class_name="payment-failed",
        width="100%",
    )


def payment_banner(alerts: rx.Var) -> rx.Component:
    """A red banner per failed payment (``alerts``: dicts of ``invoice_id`` and ``message``), each with its own
    "Pay again" button."""
    return rx.foreach(alerts, _failed_payment)
