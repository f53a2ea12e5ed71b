"""Collection through Stripe with the official SDK's ``StripeClient``: the only module that imports ``stripe``.

Each of our invoices becomes one Stripe invoice (draft, one item per line, finalize, pay). Every request that
creates something carries an idempotency key derived from our ids, and the caller records the Stripe invoice id
with ours before it is paid (:meth:`StripeGateway.prepare` then :meth:`StripeGateway.settle`), so a retry or a
crash at any step never charges twice: a retry finds the recorded Stripe invoice and pays it only if it is not
paid already (an open invoice, or one marked uncollectible, which Stripe still lets be paid).

A request Stripe does not answer within ``STRIPE_TIMEOUT_SECONDS`` is given up: the attempt's outcome is unknown
(:class:`PaymentProviderError` says Stripe did not answer in time), and the billing job's retry settles the same
recorded Stripe invoice, which charges it only if the late request did not.

Webhooks: :func:`verify_event` checks a delivery's signature; what an event names is then re-fetched
(:meth:`StripeGateway.invoice_state`, :meth:`StripeGateway.payment_method_owner`, :meth:`StripeGateway.default_card`).
"""

from __future__ import annotations

import stripe
from stripe._base_address import BaseAddresses
from stripe.params import CustomerCreateParams, SetupIntentCreateParams

from portal.payments.gateway import (
    CardRefused,
    CardSetup,
    CollectionLine,
    CollectionRequest,
    CollectionResult,
    InvalidEvent,
    PaymentProviderError,
    PaymentStatus,
    ProviderEvent,
    ProviderInvoiceState,
    SavedCard,
)

NO_CARD = "No card on file: add a card, then pay the invoice again."
DECLINED = "Your card was declined: use another card or ask your bank, then pay the invoice again."
DEFAULT_TIMEOUT_SECONDS = 30.0
"""How long a request to Stripe may take before it is given up (``STRIPE_TIMEOUT_SECONDS``; the SDK's own is 80)."""
WEBHOOK_TOLERANCE_SECONDS = 300
"""A signed webhook older than this is refused as stale (the SDK's default tolerance): a captured one cannot be
replayed later."""


def verify_event(payload: bytes, header: str | None, secret: str) -> ProviderEvent:
    """The event in ``payload`` if ``header`` (``Stripe-Signature``) signs it with ``secret`` within the tolerance.

    :class:`InvalidEvent` says what is wrong: no signature, a signature that does not match, a stale timestamp,
    or a body that is not a Stripe event. Only the event's id, type and object id are read from the payload; what
    the object says is re-fetched from Stripe before anything is acted on.
    """
    if not header:
        raise InvalidEvent("No Stripe-Signature header: only events signed by Stripe are accepted.")
    try:
        event = stripe.Webhook.construct_event(payload, header, secret, tolerance=WEBHOOK_TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as error:
        if "tolerance" in str(error):
            raise InvalidEvent(
                f"The Stripe-Signature timestamp is more than {WEBHOOK_TOLERANCE_SECONDS} seconds old: "
                "the event is refused as stale."
            ) from error
        raise InvalidEvent(
            "The Stripe-Signature header does not sign this body with the configured STRIPE_WEBHOOK_SECRET."
        ) from error
    except ValueError as error:
        raise InvalidEvent(f"The body is not a Stripe event: {error}") from error
    data = getattr(event, "data", None)
    found = getattr(data, "object", None) if data is not None else None
    object_id = getattr(found, "id", None) if found is not None else None
    if not isinstance(getattr(event, "id", None), str) or not isinstance(getattr(event, "type", None), str):
        raise InvalidEvent("The body is not a Stripe event: it has no id or type.")
    return ProviderEvent(event.id, event.type, object_id if isinstance(object_id, str) else None)


class StripeGateway:
    """Collects through Stripe (or, with a ``sk_test_`` key, a Stripe-compatible server on loopback)."""

    name = "stripe"

    def __init__(
        self, secret_key: str, api_base: str | None = None, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        addresses: BaseAddresses = {"api": api_base} if api_base else {}
        self._timeout_seconds = timeout_seconds
        client = stripe.new_default_http_client(timeout=timeout_seconds)
        self._client = stripe.StripeClient(secret_key, base_addresses=addresses, http_client=client)

    def _provider_error(self, failed: str, error: stripe.StripeError) -> PaymentProviderError:
        """What ``failed`` ("Stripe did not ...") and why: Stripe's own words, or, when it did not answer (whether
        it acted is then unknown), that it was too slow or could not be reached."""
        if not isinstance(error, stripe.APIConnectionError):
            return PaymentProviderError(f"{failed}: {error.user_message or error}")
        if "Timeout" in type(error.__cause__).__name__:
            seconds = f"{self._timeout_seconds:g} second{'' if self._timeout_seconds == 1 else 's'}"
            return PaymentProviderError(f"{failed}: it did not answer within {seconds}.")
        return PaymentProviderError(f"{failed}: it could not be reached ({type(error.__cause__).__name__}).")

    def ensure_customer(
        self, customer_id: str, name: str, email: str | None, existing_reference: str | None
    ) -> str | None:
        """The Stripe customer for ours: the recorded one, else created once (keyed by our customer id)."""
        if existing_reference:
            return existing_reference
        params: CustomerCreateParams = {"name": name, "metadata": {"portal_customer_id": customer_id}}
        if email:
            params["email"] = email
        try:
            customer = self._client.v1.customers.create(params, {"idempotency_key": f"{customer_id}:customer"})
        except stripe.StripeError as error:
            raise self._provider_error("Stripe did not create the customer", error) from error
        return customer.id

    def set_default_card(self, customer_reference: str, payment_method: str) -> str | None:
        """Attach ``payment_method`` to the Stripe customer and charge invoices to it; a refusal's reason, or None."""
        try:
            self._client.v1.payment_methods.attach(payment_method, {"customer": customer_reference})
            self._client.v1.customers.update(
                customer_reference, {"invoice_settings": {"default_payment_method": payment_method}}
            )
        except stripe.CardError as error:
            return f"{error.user_message or 'The card was declined'}: try another card."
        except stripe.StripeError as error:
            raise self._provider_error("Stripe did not save the card", error) from error
        return None

    accepts_cards = True

    def start_card_setup(self, provider_customer: str | None, metadata: dict[str, str]) -> CardSetup:
        """A SetupIntent for off-session card payments; Stripe.js confirms it in the browser with its secret."""
        params: SetupIntentCreateParams = {
            "usage": "off_session",
            "metadata": metadata,
        }
        if provider_customer:
            params["customer"] = provider_customer
        try:
            intent = self._client.v1.setup_intents.create(params)
        except stripe.StripeError as error:
            raise self._provider_error("Stripe did not start the card form", error) from error
        assert intent.client_secret is not None
        return CardSetup(intent.id, intent.client_secret)

    def save_card(self, setup_reference: str, provider_customer: str, metadata: dict[str, str]) -> SavedCard:
        """Check the SetupIntent (succeeded, ours, this customer's), then charge invoices to its card by default."""
        try:
            intent = self._client.v1.setup_intents.retrieve(setup_reference)
        except stripe.StripeError as error:
            raise self._provider_error("Stripe did not return the card form", error) from error
        owner = _id_of(intent.customer)
        if (intent.metadata.to_dict() if intent.metadata else {}) != metadata or owner not in (None, provider_customer):
            raise CardRefused("This card form was not started for your account: open the card form again.")
        method_id = _id_of(intent.payment_method)
        if intent.status != "succeeded" or method_id is None:
            raise CardRefused("The card was not confirmed: enter it again.")
        refusal = self.set_default_card(provider_customer, method_id)
        if refusal is not None:
            raise CardRefused(refusal)
        try:
            card = self._client.v1.payment_methods.retrieve(method_id).card
        except stripe.StripeError as error:
            raise self._provider_error("Stripe did not return the card", error) from error
        if card is None:
            raise CardRefused("Only cards can be saved: enter a card.")
        return _saved_card(method_id, card)

    def default_card(self, provider_customer: str) -> SavedCard | None:
        """The card Stripe charges the customer's invoices to now, re-fetched (never taken from an event).

        That is the customer's ``invoice_settings.default_payment_method`` and its card; None when the customer has
        no default payment method, it is not a card or no longer attached to the customer, or Stripe has no such
        customer. :class:`PaymentProviderError` when Stripe cannot be asked.
        """
        try:
            customer = self._client.v1.customers.retrieve(provider_customer)
            settings = customer.invoice_settings
            method_id = _id_of(settings.default_payment_method) if settings else None
            if getattr(customer, "deleted", False) or method_id is None:
                return None
            method = self._client.v1.payment_methods.retrieve(method_id)
        except stripe.StripeError as error:
            if _missing(error):
                return None
            raise self._provider_error("Stripe did not return the customer's card", error) from error
        if method.card is None or _id_of(method.customer) != provider_customer:
            return None
        return _saved_card(method_id, method.card)

    def payment_method_owner(self, payment_method: str) -> str | None:
        """The Stripe customer ``payment_method`` is attached to now, re-fetched; None when it is detached (or Stripe
        has no such payment method). :class:`PaymentProviderError` when Stripe cannot be asked."""
        try:
            method = self._client.v1.payment_methods.retrieve(payment_method)
        except stripe.StripeError as error:
            if _missing(error):
                return None
            raise self._provider_error("Stripe did not return the payment method", error) from error
        return _id_of(method.customer)

    def prepare(self, request: CollectionRequest) -> str | None:
        """Create (or find again, by idempotency key) the draft Stripe invoice with its items; nothing is charged."""
        if request.amount_minor == 0:
            return None
        if not request.provider_customer:
            raise PaymentProviderError(f"Invoice {request.invoice_id} has no Stripe customer to bill.")
        currency = request.currency.lower()
        lines = request.lines
        if not lines or sum(line.amount_minor for line in lines) != request.amount_minor:
            lines = (CollectionLine(request.description, request.amount_minor),)
        try:
            invoice = self._client.v1.invoices.create(
                {
                    "customer": request.provider_customer,
                    "currency": currency,
                    "description": request.description,
                    "collection_method": "charge_automatically",
                    "auto_advance": False,
                    "pending_invoice_items_behavior": "exclude",
                    "metadata": {"portal_invoice_id": request.invoice_id},
                },
                {"idempotency_key": f"{request.invoice_id}:invoice"},
            )
            assert invoice.id is not None
            for number, line in enumerate(lines, start=1):
                self._client.v1.invoice_items.create(
                    {
                        "customer": request.provider_customer,
                        "invoice": invoice.id,
                        "amount": line.amount_minor,
                        "currency": currency,
                        "description": line.description,
                    },
                    {"idempotency_key": f"{request.invoice_id}:item:{number}"},
                )
        except stripe.StripeError as error:
            raise self._provider_error("Stripe did not create the invoice", error) from error
        return invoice.id

    def settle(self, request: CollectionRequest, reference: str | None) -> CollectionResult:
        """Finalize and pay the recorded Stripe invoice unless Stripe has it as paid already."""
        if reference is None:
            if request.amount_minor == 0:
                return CollectionResult(PaymentStatus.PAID, self.name, "Nothing to pay.")
            raise PaymentProviderError(f"Invoice {request.invoice_id} has no Stripe invoice to settle.")
        try:
            invoice = self._client.v1.invoices.retrieve(reference)
            if invoice.status == "draft":
                invoice = self.finalize(reference)
            if invoice.status in ("open", "uncollectible"):  # Stripe still takes payment of an uncollectible one
                billed = invoice.customer if isinstance(invoice.customer, str) else request.provider_customer
                if not self._has_card(billed):
                    return CollectionResult(PaymentStatus.FAILED, self.name, NO_CARD, reference)
                invoice = self.pay(reference, f"{request.invoice_id}:pay:{request.attempt}")
        except stripe.CardError as error:
            reason = error.user_message or str(error)
            return CollectionResult(PaymentStatus.FAILED, self.name, f"{DECLINED} ({reason})", reference)
        except stripe.StripeError as error:
            raise self._provider_error("Stripe did not settle the invoice", error) from error
        if invoice.status == "paid":
            return CollectionResult(PaymentStatus.PAID, self.name, "Paid by card.", reference)
        return CollectionResult(
            PaymentStatus.FAILED, self.name, f"Stripe has the invoice as {invoice.status}: it was not paid.", reference
        )

    def invoice_state(self, reference: str) -> ProviderInvoiceState | None:
        """What Stripe says of its invoice ``reference`` now, with the last charge's failure; None if it has none.

        :class:`PaymentProviderError` when Stripe cannot be asked (the event is then refused, and Stripe retries).
        """
        try:
            invoice = self._client.v1.invoices.retrieve(reference)
        except stripe.StripeError as error:
            if _missing(error):
                return None
            raise self._provider_error("Stripe did not return the invoice", error) from error
        status = invoice.status or "draft"
        failure = ""
        if status == "open":
            failure = self._last_failure(invoice)
        return ProviderInvoiceState(status, failure)

    def _last_failure(self, invoice: stripe.Invoice) -> str:
        """Why the last charge of an open invoice failed, as the customer should read it ("" if none failed)."""
        intent = getattr(invoice, "payment_intent", None)
        if not intent:
            return ""
        try:
            found = self._client.v1.payment_intents.retrieve(intent if isinstance(intent, str) else intent.id)
        except stripe.StripeError:
            return DECLINED
        error = found.last_payment_error
        if error is None:
            return ""
        return f"{DECLINED} ({error.message})" if error.message else DECLINED

    def _has_card(self, customer_reference: str | None) -> bool:
        """Whether invoices of the Stripe customer have a card (or source) to be charged to."""
        if not customer_reference:
            return False
        customer = self._client.v1.customers.retrieve(customer_reference)
        settings = customer.invoice_settings
        return bool((settings and settings.default_payment_method) or customer.default_source)

    def finalize(self, reference: str) -> stripe.Invoice:
        """Finalize the draft Stripe invoice (one step of :meth:`settle`; tests inject crashes around it)."""
        return self._client.v1.invoices.finalize_invoice(
            reference, {"auto_advance": False}, {"idempotency_key": f"{reference}:finalize"}
        )

    def pay(self, reference: str, idempotency_key: str) -> stripe.Invoice:
        """Charge the open (or uncollectible) Stripe invoice to the customer's default card (see :meth:`settle`)."""
        return self._client.v1.invoices.pay(reference, {}, {"idempotency_key": idempotency_key})


def _id_of(field: object) -> str | None:
    """The id of an expandable field of a Stripe object: the id itself, or the expanded object's (None if unset)."""
    if field is None or isinstance(field, str):
        return field
    found = getattr(field, "id", None)
    return found if isinstance(found, str) else None


def _missing(error: stripe.StripeError) -> bool:
    """Whether Stripe answered that the object asked for does not exist (rather than not answering)."""
    return isinstance(error, stripe.InvalidRequestError) and error.http_status == 404


def _saved_card(method_id: str, card: stripe.PaymentMethod.Card) -> SavedCard:
    """The payment method ``method_id`` as a person recognizes its card: brand, last four digits, MM/YYYY."""
    return SavedCard(method_id, card.brand, card.last4, f"{card.exp_month:02d}/{card.exp_year}")
