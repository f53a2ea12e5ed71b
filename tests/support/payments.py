"""Payment test helpers: test cards of the fake Stripe, a Stripe gateway with a saved card and crash points, and
the one invoice of the test buyer (new@initech.test)."""

from __future__ import annotations

import stripe
from sqlmodel import select

from portal.db.models import Customer, InvoiceRow
from portal.db.uow import UnitOfWork
from portal.payments.stripe_gateway import StripeGateway
from portal.services import billing
from portal.services.identity import sign_in
from tests.support.stripe import TEST_SECRET_KEY

GOOD_CARD, DECLINED_AT_ATTACH, DECLINED_AT_CHARGE = (
    "pm_card_visa",
    "pm_card_visa_chargeDeclined",
    "pm_card_chargeCustomerFail",
)


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
