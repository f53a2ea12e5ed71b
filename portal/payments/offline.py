"""The gateway used when no payment provider is configured: it records what is due and never pretends to collect."""

from __future__ import annotations

from portal.payments.gateway import CollectionRequest, CollectionResult, PaymentStatus

NOT_CONFIGURED = "Payments not configured: the amount is recorded as due and has not been charged."


class OfflineGateway:
    """Leaves every amount due, labelled "payments not configured"; nothing is charged."""

    name = "offline"

    def ensure_customer(
        self, customer_id: str, name: str, email: str | None, existing_reference: str | None
    ) -> str | None:
        """No provider, no customer there."""
        return None

    def prepare(self, request: CollectionRequest) -> str | None:
        """No provider invoice to create."""
        return None

    def settle(self, request: CollectionRequest, reference: str | None) -> CollectionResult:
        """Nothing to collect with: the invoice stays due (a zero amount is simply settled)."""
        if request.amount_minor == 0:
            return CollectionResult(PaymentStatus.PAID, self.name, "Nothing to pay.")
        return CollectionResult(PaymentStatus.DUE, self.name, NOT_CONFIGURED)
