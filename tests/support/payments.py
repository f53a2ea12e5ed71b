"""Payment test helpers: test cards of the fake Stripe, a Stripe gateway with a saved card and crash points, a card
confirmed the way Stripe.js confirms it, the charges Stripe made, and the one invoice of the test buyer
(new@initech.test)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable

import stripe
from sqlmodel import select

from portal.db.models import Customer, InvoiceRow
from portal.db.uow import UnitOfWork
from portal.payments.stripe_gateway import StripeGateway
from portal.services import billing
from portal.services.identity import sign_in
from tests.support.stripe import TEST_PUBLISHABLE_KEY, TEST_SECRET_KEY

GOOD_CARD, DECLINED_AT_ATTACH, DECLINED_AT_CHARGE = (
    "pm_card_visa",
    "pm_card_visa_chargeDeclined",
    "pm_card_chargeCustomerFail",
)

VISA, VISA_DECLINED = "4242424242424242", "4000000000000002"
"""Card numbers typed in a card form: one the fake accepts, one it declines."""


class Crash(Exception):
    """Stands for the process dying at a chosen step."""


class CardOnFile(StripeGateway):
    """The Stripe gateway for a customer who has saved ``card`` (cards in the browser come later)."""

    def __init__(self, api_base: str, card: str | None = GOOD_CARD) -> None:
        super().__init__(TEST_SECRET_KEY, api_base)
        self.card = card
        self.crash_before_pay = self.crash_after_pay = False

    def ensure_customer(
        self, customer_id: str, name: str, email: str | None, existing_reference: str | None
    ) -> str | None:
        reference = super().ensure_customer(customer_id, name, email, existing_reference)
        if self.card and existing_reference is None:
            assert reference is not None
            assert self.set_default_card(reference, self.card) is None
        return reference

    def pay(self, reference: str, idempotency_key: str) -> stripe.Invoice:
        if self.crash_before_pay:
            self.crash_before_pay = False
            raise Crash("after finalize, before pay")
        paid = super().pay(reference, idempotency_key)
        if self.crash_after_pay:
            self.crash_after_pay = False
            raise Crash("after pay, before our database recorded it")
        return paid


def the_invoice() -> tuple[billing.InvoiceView, InvoiceRow, Customer]:
    """The buyer's one invoice, as the services show it and as stored, and its customer."""
    me = sign_in("new@initech.test", "pw-123456").identity
    assert me.customer_id is not None
    [view] = billing.invoices(me, me.customer_id)
    with UnitOfWork() as uow:
        [row] = uow.session.exec(select(InvoiceRow).where(InvoiceRow.customer_id == me.customer_id)).all()
        customer = uow.session.get(Customer, row.customer_id)
        assert customer is not None
        uow.session.expunge_all()
    return view, row, customer


def confirm_in_browser(api_base: str, client_secret: str, number: str = VISA) -> str | None:
    """Confirm a card form's SetupIntent as the fake's Stripe.js does from the browser (with the publishable key):
    None when the card was accepted, else the provider's message."""
    setup = client_secret.split("_secret_")[0]
    body = {
        "key": TEST_PUBLISHABLE_KEY,
        "client_secret": client_secret,
        "payment_method_data": {
            "type": "card",
            "card": {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"},
        },
    }
    request = urllib.request.Request(
        f"{api_base}/v1/setup_intents/{setup}/confirm", data=json.dumps(body).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            return None
    except urllib.error.HTTPError as error:
        message: str = json.loads(error.read())["error"]["message"]
        return message


def stripe_charges(api_base: str) -> Callable[[str | None], list[tuple[int, str]]]:
    """(amount, status) of every charge Stripe made to a customer (by its reference), oldest first."""
    client = stripe.StripeClient(TEST_SECRET_KEY, base_addresses={"api": api_base})

    def charges(customer: str | None) -> list[tuple[int, str]]:
        assert customer is not None
        return [(c.amount, c.status) for c in client.v1.charges.list({"customer": customer, "limit": 100}).data]

    return charges
