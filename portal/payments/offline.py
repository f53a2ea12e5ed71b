"""The gateway used when no payment provider is configured: it records what is due and never pretends to collect."""

from __future__ import annotations

from portal.payments.gateway import (
    CardRefused,
    CardSetup,
    CollectionRequest,
    CollectionResult,
    PaymentStatus,
    SavedCard,
)

NOT_CONFIGURED = "Payments not configured: the amount is recorded as due and has not been charged."
NO_CARDS = "Cards cannot be saved: payments are not configured (set STRIPE_SECRET_KEY and STRIPE_PUBLISHABLE_KEY)."


class OfflineGateway:
    """Leaves every amount due, labelled "payments not configured"; nothing is charged."""

    name = "offline"

    def ensure_customer(
        self, customer_id: str, name: str, email: str | None, existing_reference: str | None
    ) -> str | None:
        """No provider, no customer there."""
        return None

    accepts_cards = False

    def start_card_setup(self, provider_customer: str | None, metadata: dict[str, str]) -> CardSetup:
        """No provider to save a card with."""
        raise CardRefused(NO_CARDS)

    def save_card(self, setup_reference: str, provider_customer: str, metadata: dict[str, str]) -> SavedCard:
        """No provider to save a card with."""
        raise CardRefused(NO_CARDS)

    def prepare(self, request: CollectionRequest) -> str | None:
        """No provider invoice to create."""
        return None

    def settle(self, request: CollectionRequest, reference: str | None) -> CollectionResult:
        """Nothing to collect with: the invoice stays due (a zero amount is simply settled)."""
        if request.amount_minor == 0:
            return CollectionResult(PaymentStatus.PAID, self.name, "Nothing to pay.")
        return CollectionResult(PaymentStatus.DUE, self.name, NOT_CONFIGURED)
