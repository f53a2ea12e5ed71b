"""Faults while an invoice is finalized and paid: the billing job killed with SIGKILL while it talks to Stripe
(creating, finalizing, paying the Stripe invoice), and Stripe answering too slowly. On SQLite and PostgreSQL,
against the fake Stripe behind a proxy that holds the request the test names (:mod:`tests.support.holding_proxy`).

Initech (the ``initech`` fixture) has a card on file (``card_on_file``); its first period closes at
:func:`~tests.faults.conftest.closing_time` with an invoice of $10.00. Whatever happens, the invoice ends paid and
Stripe charged it exactly once.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import stripe

from portal.domain.payment_retries import next_retry
from portal.jobs import run_billing_once
from portal.services.billing import COLLECTION_LEASE
from portal.services.period_close import close_periods, retry_payments
from tests.faults.conftest import CLOSING_AMOUNT, SEATS_AMOUNT, billing_job, closing_invoice, closing_time
from tests.support.holding_proxy import HoldingProxy, holding_proxy
from tests.support.payments import stripe_charges
from tests.support.settings import settings_env
from tests.support.stripe import TEST_SECRET_KEY, stripe_settings

pytestmark = [pytest.mark.faults, pytest.mark.slow]

PAY = r"/v1/invoices/[^/]+/pay"
STEPS = {"create": r"/v1/invoices", "finalize": r"/v1/invoices/[^/]+/finalize", "pay": PAY}
"""The requests to Stripe the job is killed during (the answer held): creating the Stripe invoice (its id is not
recorded with ours yet), finalizing it (not charged yet), paying it (charged)."""


@pytest.fixture
def proxy(fake_stripe: str) -> Iterator[HoldingProxy]:
    """The fake Stripe behind a proxy that holds what the test says."""
    with holding_proxy(fake_stripe) as started:
        yield started


def _stripe_invoices(api_base: str, customer: str) -> list[str]:
    """The ids of the Stripe invoices of ``customer``."""
    client = stripe.StripeClient(TEST_SECRET_KEY, base_addresses={"api": api_base})
    return [invoice.id for invoice in client.v1.invoices.list({"customer": customer, "limit": 100}).data if invoice.id]


def _run_job_and_kill_it_while_stripe_answers(
    database: str, proxy: HoldingProxy, step: str, at: datetime, log: Path
) -> None:
    """Run the billing job as of ``at`` in its own process and SIGKILL it while the answer to its request to Stripe
    ``step`` is held (Stripe has done what was asked, the job has not heard)."""
    proxy.hold("POST", STEPS[step], seconds=120, after_forwarding=True)
    try:
        with billing_job(database, proxy.url, at, log) as job:
            held = proxy.holding.wait(120)
            assert held, f"the job never asked Stripe to {step}: {log.read_text(errors='replace')[-3000:]}"
            assert job.poll() is None, "the job ended before it was killed"
            os.kill(job.pid, signal.SIGKILL)
            assert job.wait(10) == -signal.SIGKILL
    finally:
        proxy.release()


@pytest.mark.parametrize("step", list(STEPS))
def test_the_billing_job_killed_while_talking_to_stripe_is_collected_once_after_the_lease(
    database: str, initech: str, card_on_file: str, proxy: HoldingProxy, fake_stripe: str, tmp_path: Path, step: str
) -> None:
    t0 = closing_time()
    _run_job_and_kill_it_while_stripe_answers(database, proxy, step, t0, tmp_path / "job.log")
    killed = closing_invoice(initech)
    assert (killed.status, killed.next_payment_at) == ("finalized", t0 + COLLECTION_LEASE), "our database never knew"
    charges = stripe_charges(fake_stripe)
    assert charges(card_on_file) == ([(CLOSING_AMOUNT, "succeeded")] if step == "pay" else [])
    with settings_env(stripe_settings(fake_stripe)):
        before = run_billing_once(t0 + COLLECTION_LEASE - timedelta(seconds=1))
        assert before is not None
        assert before.retried == (), "the invoice is left alone while the killed attempt's lease runs"
        after = run_billing_once(t0 + COLLECTION_LEASE)
    assert after is not None
    assert [(invoice.id, invoice.status) for invoice in after.retried] == [(killed.id, "paid")]
    assert closing_invoice(initech).status == "paid"
    assert sorted(charges(card_on_file)) == [(CLOSING_AMOUNT, "succeeded"), (SEATS_AMOUNT, "succeeded")]
    assert len(_stripe_invoices(fake_stripe, card_on_file)) == 2, "one Stripe invoice per invoice of ours"


@pytest.mark.parametrize("forward", [True, False], ids=["answered_after_the_timeout", "lost"])
def test_a_payment_provider_too_slow_fails_the_attempt_and_a_later_retry_charges_once(
    initech: str, card_on_file: str, proxy: HoldingProxy, fake_stripe: str, forward: bool
) -> None:
    t0 = closing_time()
    proxy.hold("POST", PAY, seconds=5, forward=forward)
    with settings_env({**stripe_settings(proxy.url), "STRIPE_TIMEOUT_SECONDS": "1"}):
        [invoice] = close_periods(t0).closed
    proxy.release()
    proxy.wait_idle()  # a request that was answered late has reached Stripe by now
    assert invoice.status == "finalized", "the invoice is not paid, and nothing is known to have failed"
    assert invoice.payment_note == (
        "The payment could not be completed: Stripe did not settle the invoice: it did not answer within 1 second."
    )
    retry_at = next_retry(t0, t0)
    assert retry_at is not None
    assert closing_invoice(initech).next_payment_at == retry_at
    with settings_env(stripe_settings(fake_stripe)):
        [retried] = retry_payments(retry_at).retried
    assert (retried.id, retried.status) == (invoice.id, "paid")
    assert stripe_charges(fake_stripe)(card_on_file) == [(CLOSING_AMOUNT, "succeeded")]
