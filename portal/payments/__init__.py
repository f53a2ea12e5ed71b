"""Payment collection behind a protocol of our own (:mod:`portal.payments.gateway`)."""

from __future__ import annotations

from portal.payments.gateway import PaymentGateway
from portal.payments.offline import OfflineGateway


def configured_gateway() -> PaymentGateway:
    """The gateway that collects payments: the offline one, which records amounts as due.

    (Collection through Stripe is a gateway of its own, added with its settings.)
    """
    return OfflineGateway()
