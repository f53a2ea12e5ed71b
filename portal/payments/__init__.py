"""Payment collection behind a protocol of our own (:mod:`portal.payments.gateway`)."""

from __future__ import annotations

from portal.config import get_settings
from portal.payments.gateway import PaymentGateway
from portal.payments.offline import OfflineGateway


def configured_gateway() -> PaymentGateway:
    """Stripe when ``STRIPE_SECRET_KEY`` is set; else the offline gateway, which records amounts as due."""
    settings = get_settings()
    if settings.stripe_secret_key:
        from portal.payments.stripe_gateway import StripeGateway

        return StripeGateway(settings.stripe_secret_key, settings.stripe_api_base, settings.stripe_timeout_seconds)
    return OfflineGateway()
