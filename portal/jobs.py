"""App-wide periodic work, run as lifespan tasks of the server (registered in :mod:`portal.portal`).

:func:`billing_job` closes ended billing periods and retries failed payments
(:func:`portal.services.period_close.run_billing`) every ``BILLING_JOB_INTERVAL_SECONDS``, from startup to
shutdown. Each run works in a thread, so the server keeps answering; what it did is logged; an error is logged
and the next run goes ahead (the job never takes the server down). At shutdown the job stops between two
invoices and is waited for a few seconds; an attempt cut short by the process ending is safe, because an invoice
that did not record its outcome is collected again later without charging twice.

:func:`webhook_sender` sends the outgoing webhooks due (:func:`portal.services.outgoing_webhooks.deliver_due`)
every ``WEBHOOK_SENDER_INTERVAL_SECONDS``, the same way; a delivery cut short by shutdown is sent again once its
claim expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from portal.config import get_settings
from portal.services.outgoing_webhooks import DeliveryRun, deliver_due
from portal.services.period_close import BillingRun, run_billing

logger = logging.getLogger(__name__)

SHUTDOWN_WAIT_SECONDS = 10.0
"""How long shutdown waits for a run in progress to reach the end of the invoice it is collecting."""
WEBHOOK_SENDER_INTERVAL_SECONDS = 2.0
"""How often the webhook sender looks for deliveries due (an event goes out within about this long)."""


def run_billing_once(now: datetime | None = None, stopping: threading.Event | None = None) -> BillingRun | None:
    """One iteration of the billing job as of ``now`` (the current time): run it and log what it did; an error is
    logged instead of raised (None then). It stops between two invoices once ``stopping`` is set."""
    stop = stopping or threading.Event()
    try:
        result = run_billing(now, keep_going=lambda: not stop.is_set())
    except Exception:
        logger.exception("The billing job failed; it runs again at the next interval")
        return None
    if result.closed or result.retried or result.failures:
        log = logger.warning if result.failures else logger.info
        log("Billing job: %s", result.summary())
    else:
        logger.debug("Billing job: nothing due")
    return result


def send_webhooks_once(now: datetime | None = None, stopping: threading.Event | None = None) -> DeliveryRun | None:
    """One iteration of the webhook sender as of ``now``: send what is due and log it; an error is logged instead of
    raised (None then). It stops between two deliveries once ``stopping`` is set."""
    stop = stopping or threading.Event()
    try:
        result = deliver_due(now, keep_going=lambda: not stop.is_set())
    except Exception:
        logger.exception("The webhook sender failed; it runs again at the next interval")
        return None
    if result.delivered or result.retrying or result.failed:
        logger.info("Webhook sender: %s", result.summary())
    return result


Run = Callable[[datetime | None, threading.Event], object]


async def _every(interval: float, run: Run, stopping: threading.Event, stopped: asyncio.Event) -> None:
    while not stopping.is_set():
        await asyncio.to_thread(run, None, stopping)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopped.wait(), interval)


@contextlib.asynccontextmanager
async def _periodic(name: str, interval: float, run: Run) -> AsyncIterator[None]:
    """Run ``run`` now and then every ``interval`` seconds in a thread until shutdown (waited for a few seconds)."""
    stopping, stopped = threading.Event(), asyncio.Event()
    task = asyncio.create_task(_every(interval, run, stopping, stopped), name=name)
    logger.info("The %s started: every %s seconds", name, interval)
    try:
        yield
    finally:
        stopping.set()
        stopped.set()
        try:
            await asyncio.wait_for(task, SHUTDOWN_WAIT_SECONDS)
        except TimeoutError:
            logger.warning("The %s did not stop within %s seconds; its run is cut short", name, SHUTDOWN_WAIT_SECONDS)
        except Exception:
            logger.exception("The %s ended with an error", name)


@contextlib.asynccontextmanager
async def billing_job() -> AsyncIterator[None]:
    """Lifespan task: run the billing job now and then every ``BILLING_JOB_INTERVAL_SECONDS`` until shutdown."""
    async with _periodic("billing job", get_settings().billing_job_interval_seconds, run_billing_once):
        yield


@contextlib.asynccontextmanager
async def webhook_sender() -> AsyncIterator[None]:
    """Lifespan task: send the outgoing webhooks due now and then every ``WEBHOOK_SENDER_INTERVAL_SECONDS``."""
    async with _periodic("webhook sender", WEBHOOK_SENDER_INTERVAL_SECONDS, send_webhooks_once):
        yield
