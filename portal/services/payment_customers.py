"""Our customers at the payment provider: one provider customer per customer, created once and recorded (never
found again by searching the provider)."""

from __future__ import annotations

import logging

from sqlmodel import Session, select

from portal.db.models import Customer, User
from portal.db.uow import UnitOfWork
from portal.payments import configured_gateway
from portal.payments.gateway import PaymentGateway, PaymentProviderError
from portal.services.errors import NotFound

log = logging.getLogger(__name__)


def provider_customer(gateway: PaymentGateway, customer_id: str) -> str | None:
    """The provider's customer for ours (None without a provider), created and recorded the first time.

    :class:`PaymentProviderError` when the provider cannot be reached.
    """
    with UnitOfWork() as uow:
        customer = customer_row(uow.session, customer_id)
        name, known = customer.name, customer.payment_customer_id
        email = uow.session.exec(
            select(User.email).where(User.customer_id == customer_id, User.role == "admin").order_by(User.email)
        ).first()
    reference = gateway.ensure_customer(customer_id, name, email, known)
    if reference is not None and reference != known:
        with UnitOfWork() as uow:
            customer = customer_row(uow.session, customer_id)
            customer.payment_customer_id = reference
            uow.session.add(customer)
    return reference


def register(customer_id: str) -> None:
    """Create the new customer's provider customer now, if a provider is configured; when it cannot be reached,
    the first card form or payment creates it instead (logged, never an error for the caller)."""
    try:
        provider_customer(configured_gateway(), customer_id)
    except PaymentProviderError as error:
        log.warning("customer %s has no payment provider customer yet: %s", customer_id, error)


def customer_row(session: Session, customer_id: str) -> Customer:
    """The customer's row; :class:`NotFound` names the id when there is none."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"There is no customer {customer_id}.")
    return customer
