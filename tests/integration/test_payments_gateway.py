"""The payment gateways' contract, offline and Stripe (the official SDK against the local fake), through billing.

Collecting an invoice charges it once whatever happens: a retry, a crash after the Stripe invoice was finalized
and before it was paid, or a crash after it was paid and before our database recorded it. Declined cards are a
failed payment with a reason the customer can act on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from pydantic import ValidationError

from portal.config import STRIPE_JS_URL, Settings
from portal.payments import configured_gateway
from portal.payments.gateway import PaymentGateway, PaymentProviderError
from portal.payments.offline import NOT_CONFIGURED, OfflineGateway
from portal.payments.stripe_gateway import DECLINED, DEFAULT_TIMEOUT_SECONDS, NO_CARD, StripeGateway
from portal.services import billing
from portal.services.identity import Identity
from portal.services.purchase import purchase
from tests.support.payments import (
    DECLINED_AT_ATTACH,
    DECLINED_AT_CHARGE,
    GOOD_CARD,
    CardOnFile,
    Crash,
    stripe_charges,
    the_invoice,
)
from tests.support.postgres import free_port
from tests.support.settings import settings_env
from tests.support.stripe import TEST_SECRET_KEY, stripe_settings


@dataclass
class Provider:
    """A gateway under test and what the contract expects of it."""

    gateway: PaymentGateway
    charges: Callable[[str | None], list[tuple[int, str]]]
    """(amount, status) of every charge the provider made to a customer (by its reference)."""
    settled_status: str
    settled_note: str


@pytest.fixture(params=["offline", "stripe"])
def provider(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Provider:
    if request.param == "offline":
        chosen = Provider(OfflineGateway(), lambda customer: [], "finalized", NOT_CONFIGURED)
    else:
        api_base: str = request.getfixturevalue("fake_stripe")
        chosen = Provider(CardOnFile(api_base), stripe_charges(api_base), "paid", "Paid by card.")
    monkeypatch.setattr(billing, "configured_gateway", lambda: chosen.gateway)
    return chosen


def test_collecting_charges_once_and_a_retry_charges_nothing_more(buyer: Identity, provider: Provider) -> None:
    bought = purchase(buyer, "team", 3, "Initech")
    assert bought.invoice is not None
    assert (bought.invoice.status, bought.invoice.payment_note) == (provider.settled_status, provider.settled_note)
    view, row, customer = the_invoice()
    reference = customer.payment_customer_id
    assert provider.charges(reference) == ([] if provider.settled_status != "paid" else [(12000, "succeeded")])
    again = billing.collect(view)
    assert again is not None
    assert again.status == provider.settled_status
    _, row_after, customer_after = the_invoice()
    assert customer_after.payment_customer_id == reference, "the provider's customer is created once"
    assert row_after.payment_reference == row.payment_reference
    assert provider.charges(reference) == ([] if provider.settled_status != "paid" else [(12000, "succeeded")])


def test_the_offline_gateway_never_pretends_to_collect(buyer: Identity) -> None:
    assert isinstance(configured_gateway(), OfflineGateway)
    purchase(buyer, "team", 3, "Initech")
    _, row, customer = the_invoice()
    assert (row.status, row.payment_provider, row.payment_reference, customer.payment_customer_id) == (
        "finalized",
        "offline",
        None,
        None,
    )


@pytest.mark.parametrize("crash", ["crash_before_pay", "crash_after_pay"])
def test_a_crash_at_any_step_then_a_retry_charges_exactly_once(
    buyer: Identity, fake_stripe: str, crash: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = CardOnFile(fake_stripe)
    setattr(gateway, crash, True)
    monkeypatch.setattr(billing, "configured_gateway", lambda: gateway)
    with pytest.raises(Crash):
        purchase(buyer, "team", 3, "Initech")
    view, row, customer = the_invoice()
    assert row.status == "finalized", "nothing recorded the outcome"
    assert row.payment_provider == "stripe", "the Stripe invoice was recorded before paying"
    assert row.payment_reference
    charges = stripe_charges(fake_stripe)
    assert charges(customer.payment_customer_id) == ([] if crash == "crash_before_pay" else [(12000, "succeeded")])
    retried = billing.collect(view)
    assert retried is not None
    assert (retried.status, retried.payment_note) == ("paid", "Paid by card.")
    _, row_after, _ = the_invoice()
    assert (row_after.payment_reference, row_after.payment_attempts) == (row.payment_reference, 2)
    assert charges(customer.payment_customer_id) == [(12000, "succeeded")]


def test_a_card_declined_at_charge_fails_the_payment_with_the_reason(
    buyer: Identity, fake_stripe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = CardOnFile(fake_stripe, DECLINED_AT_CHARGE)
    monkeypatch.setattr(billing, "configured_gateway", lambda: gateway)
    bought = purchase(buyer, "team", 3, "Initech")
    assert bought.invoice is not None
    assert bought.invoice.status == "payment_failed"
    assert bought.invoice.payment_note.startswith(DECLINED)
    view, row, customer = the_invoice()
    assert customer.payment_customer_id is not None
    charges = stripe_charges(fake_stripe)
    assert [status for _, status in charges(customer.payment_customer_id)] == ["failed"]
    # The customer saves a good card and pays again: one successful charge, on the same Stripe invoice.
    assert gateway.set_default_card(customer.payment_customer_id, GOOD_CARD) is None
    paid = billing.collect(view)
    assert paid is not None
    assert paid.status == "paid"
    _, row_after, _ = the_invoice()
    assert row_after.payment_reference == row.payment_reference
    assert [status for _, status in charges(customer.payment_customer_id)] == ["failed", "succeeded"]


def test_a_card_declined_at_attach_is_refused_and_nothing_is_charged(
    buyer: Identity, fake_stripe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = CardOnFile(fake_stripe, card=None)
    monkeypatch.setattr(billing, "configured_gateway", lambda: gateway)
    bought = purchase(buyer, "team", 3, "Initech")
    assert bought.invoice is not None
    assert (bought.invoice.status, bought.invoice.payment_note) == ("payment_failed", NO_CARD)
    _, _, customer = the_invoice()
    assert customer.payment_customer_id is not None
    refusal = gateway.set_default_card(customer.payment_customer_id, DECLINED_AT_ATTACH)
    assert refusal is not None
    assert "try another card" in refusal
    assert stripe_charges(fake_stripe)(customer.payment_customer_id) == []


def test_stripe_is_the_gateway_when_a_secret_key_is_set(fake_stripe: str) -> None:
    assert isinstance(configured_gateway(), OfflineGateway)
    with settings_env(stripe_settings(fake_stripe)):
        assert isinstance(configured_gateway(), StripeGateway)


@pytest.mark.parametrize(
    ("key", "base", "refusal"),
    [
        ("sk_live_123", "http://127.0.0.1:12111", "STRIPE_API_BASE is only accepted with a test key"),
        (None, "http://127.0.0.1:12111", "STRIPE_API_BASE is only accepted with a test key"),
        ("sk_test_123", "https://api.example.com", "STRIPE_API_BASE must point at this machine"),
        ("sk_test_123", "http://10.0.0.5:12111", "STRIPE_API_BASE must point at this machine"),
        ("sk_test_123", "ftp://127.0.0.1", "STRIPE_API_BASE must be an http"),
    ],
)
def test_an_api_base_needs_a_test_key_and_a_loopback_address(
    monkeypatch: pytest.MonkeyPatch, key: str | None, base: str, refusal: str
) -> None:
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    if key:
        monkeypatch.setenv("STRIPE_SECRET_KEY", key)
    monkeypatch.setenv("STRIPE_API_BASE", base)
    with pytest.raises(ValidationError, match=refusal):
        Settings()


@pytest.mark.parametrize(
    "base", ["http://127.0.0.1:12111", "http://127.5.0.1", "http://[::1]:8080", "http://localhost:1"]
)
def test_a_loopback_api_base_with_a_test_key_is_accepted(monkeypatch: pytest.MonkeyPatch, base: str) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_123")
    monkeypatch.setenv("STRIPE_PUBLISHABLE_KEY", "pk_test_123")
    monkeypatch.setenv("STRIPE_API_BASE", base)
    settings = Settings()
    assert settings.stripe_api_base == base
    assert settings.stripe_js_url == f"{base}/js.stripe.com/v3/"


@pytest.mark.parametrize(
    ("publishable", "refusal"),
    [
        (None, "STRIPE_PUBLISHABLE_KEY is required with STRIPE_SECRET_KEY"),
        ("pk_live_123", "STRIPE_SECRET_KEY is a test key but STRIPE_PUBLISHABLE_KEY is a live key"),
        ("sk_test_123", "STRIPE_PUBLISHABLE_KEY must start with 'pk_test_' or 'pk_live_'"),
    ],
)
def test_a_secret_key_needs_its_publishable_key_of_the_same_mode(
    monkeypatch: pytest.MonkeyPatch, publishable: str | None, refusal: str
) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_123")
    monkeypatch.delenv("STRIPE_API_BASE", raising=False)
    if publishable:
        monkeypatch.setenv("STRIPE_PUBLISHABLE_KEY", publishable)
    else:
        monkeypatch.delenv("STRIPE_PUBLISHABLE_KEY", raising=False)
    with pytest.raises(ValidationError, match=refusal):
        Settings()


def test_without_an_api_base_cards_load_stripes_own_stripe_js(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_live_123")
    monkeypatch.setenv("STRIPE_PUBLISHABLE_KEY", "pk_live_123")
    monkeypatch.delenv("STRIPE_API_BASE", raising=False)
    assert Settings().stripe_js_url == STRIPE_JS_URL


def test_the_stripe_timeout_is_a_positive_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_TIMEOUT_SECONDS", raising=False)
    assert Settings().stripe_timeout_seconds == DEFAULT_TIMEOUT_SECONDS
    monkeypatch.setenv("STRIPE_TIMEOUT_SECONDS", "2.5")
    assert Settings().stripe_timeout_seconds == 2.5
    monkeypatch.setenv("STRIPE_TIMEOUT_SECONDS", "0")
    with pytest.raises(ValidationError, match=r"STRIPE_TIMEOUT_SECONDS\n  Input should be greater than 0"):
        Settings()


def test_stripe_that_cannot_be_reached_is_a_provider_error_that_says_so() -> None:
    gateway = StripeGateway(TEST_SECRET_KEY, f"http://127.0.0.1:{free_port()}", timeout_seconds=5)
    with pytest.raises(PaymentProviderError) as refused:
        gateway.ensure_customer("cus_x", "X", None, None)
    assert str(refused.value) == "Stripe did not create the customer: it could not be reached (ConnectionError)."
