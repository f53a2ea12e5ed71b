"""The payment gateway protocol: what the portal asks of a payment provider, and the answers it understands.

Everything outside ``portal/payments`` talks to a :class:`PaymentGateway`;
no other module imports a provider's SDK. A gateway collects the amount due
on one of our finalized invoices and says what happened: paid, failed (with
the reason a customer can act on), or left due because no provider is
configured. It never reports money it did not collect.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class PaymentStatus(Enum):
    """What a collection attempt achieved."""

    PAID = "paid"
    FAILED = "failed"
    DUE = "due"


@dataclass(frozen=True, slots=True)
class CollectionRequest:
    """Collect ``amount_minor`` of ``currency`` for one of our invoices (``attempt`` counts retries)."""

    invoice_id: str
    customer_id: str
    customer_name: str
    amount_minor: int
    currency: str
    description: str
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class CollectionResult:
    """The outcome: ``message`` is shown to the customer admin; ``reference`` is the provider's id, if any."""

    status: PaymentStatus
    provider: str
    message: str
    reference: str | None = None


class PaymentGateway(Protocol):
    """A payment provider."""

    @property
    def name(self) -> str:
        """Short name shown in the UI and stored with payments ("stripe", "offline")."""
        ...

    def collect(self, request: CollectionRequest) -> CollectionResult:
        """Collect the amount due on one invoice, at most once per invoice whatever happens."""
        ...
