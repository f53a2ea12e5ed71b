"""The payment gateway protocol: what the portal asks of a payment provider, and the answers it understands.

Everything outside ``portal/payments`` talks to a :class:`PaymentGateway`;
no other module imports a provider's SDK. A gateway collects the amount due
on one of our finalized invoices and says what happened: paid, failed (with
the reason a customer can act on), or left due because no provider is
configured. It never reports money it did not collect.

Collection has two phases so that a crash at any step never charges twice:
:meth:`PaymentGateway.prepare` creates (or finds again) the provider's invoice
for ours and returns its id, which the caller commits to our database before
:meth:`PaymentGateway.settle` finalizes and pays it. A retry settles the
recorded provider invoice again, which is never paid twice.
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
class CollectionLine:
    """One line of the invoice as the provider shows it: what it is and what it costs (minor units)."""

    description: str
    amount_minor: int


@dataclass(frozen=True, slots=True)
class CollectionRequest:
    """Collect ``amount_minor`` of ``currency`` for one of our invoices (``attempt`` counts retries).

    ``provider_customer`` is the provider's customer (from :meth:`PaymentGateway.ensure_customer`); ``lines``,
    when given, add up to ``amount_minor`` and become the provider invoice's items (else one item for the amount).
    """

    invoice_id: str
    customer_id: str
    customer_name: str
    amount_minor: int
    currency: str
    description: str
    attempt: int = 1
    provider_customer: str | None = None
    lines: tuple[CollectionLine, ...] = ()


@dataclass(frozen=True, slots=True)
class CardSetup:
    """A card form's start: the provider's setup reference (kept on the server) and the secret the browser uses."""

    reference: str
    client_secret: str


@dataclass(frozen=True, slots=True)
class SavedCard:
    """The card now charged by default: the provider's payment method and what a person recognizes it by."""

    reference: str
    brand: str
    last4: str
    expires: str


class CardRefused(Exception):
    """The card could not be saved (declined, not confirmed, or not this customer's): ``str(error)`` tells the
    customer what to do."""


class PaymentProviderError(Exception):
    """The provider could not be reached or refused the request for a reason that is not the customer's card.

    Whether money moved is unknown to the caller; settling the same recorded reference again is safe.
    """


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

    def ensure_customer(
        self, customer_id: str, name: str, email: str | None, existing_reference: str | None
    ) -> str | None:
        """The provider's customer for ours, created once (``existing_reference`` when we have one already).

        None when the provider has no customers (offline).
        """
        ...

    @property
    def accepts_cards(self) -> bool:
        """Whether customers can save a card with this provider (:meth:`start_card_setup`)."""
        ...

    def start_card_setup(self, provider_customer: str | None, metadata: dict[str, str]) -> CardSetup:
        """Begin saving a card for ``provider_customer`` (None: a buyer whose customer does not exist yet).

        ``metadata`` marks whose setup it is; :meth:`save_card` checks it.
        """
        ...

    def save_card(self, setup_reference: str, provider_customer: str, metadata: dict[str, str]) -> SavedCard:
        """Make the card confirmed in the browser for ``setup_reference`` the customer's default.

        :class:`CardRefused` when the setup did not succeed, was started for someone else (its metadata differs,
        or it belongs to another provider customer), or the card is declined.
        """
        ...

    def prepare(self, request: CollectionRequest) -> str | None:
        """Create, or find again, the provider's invoice for ``request.invoice_id`` and return its id.

        Nothing is charged. The caller records the id with our invoice before calling :meth:`settle`;
        None means there is nothing to record (offline, or nothing to pay).
        """
        ...

    def settle(self, request: CollectionRequest, reference: str | None) -> CollectionResult:
        """Collect the provider invoice ``reference`` (from :meth:`prepare`), at most once whatever happens.

        An invoice the provider already has as paid is reported paid without a new charge; a declined card is
        FAILED with a message the customer can act on; :class:`PaymentProviderError` when the outcome is unknown.
        """
        ...


class InvalidEvent(Exception):
    """A webhook that cannot be trusted: no or a wrong signature, a stale timestamp, or a body that is not an event.

    ``str(error)`` says which, for the sender's delivery log; nothing was acted on.
    """


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A verified provider event: its id (unique at the provider), its type and the id of the object it names."""

    id: str
    type: str
    object_id: str | None


@dataclass(frozen=True, slots=True)
class ProviderInvoiceState:
    """What the provider says of one of its invoices now (re-fetched, never taken from an event's payload).

    ``status`` is the provider's: ``paid``, ``open``, ``uncollectible``, ``void`` or ``draft``; ``failure_message``
    is why the last charge failed, when one did, in words the customer can act on.
    """

    status: str
    failure_message: str = ""
