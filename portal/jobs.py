"""App-wide periodic work, run as lifespan tasks of the server (registered in :mod:`portal.portal`).

:func:`billing_job` closes ended billing periods and retries failed payments
(:func:`portal.services.period_close.run_billing`) every ``BILLING_JOB_INTERVAL_SECONDS``, from startup to
shutdown. Each run works in a thread, so the server keeps answering; what it did is logged; an error is logged
and the next run goes ahead (the job never takes the server down). At shutdown the job stops between two
invoices and is waited for a few seconds; an attempt cut short by the process ending is safe, because an invoice
that did not record its outcome is collected again later without charging twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from datetime import datetime

from portal.config import get_settings
from portal.services.period_close import BillingRun, run_billing

logger = logging.getLogger(__name__)

SHUTDOWN_WAIT_SECONDS = 10.0
"""How long shutdown waits for a run in progress to reach the end of the invoice it is collecting."""


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


async def _every(interval: float, stopping: threading.Event, stopped: asyncio.Event) -> None:
    while not stopping.is_set():
        await asyncio.to_thread(run_billing_once, None, stopping)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopped.wait(), interval)


@contextlib.asynccontextmanager
async def billing_job() -> AsyncIterator[None]:
    """Lifespan task: run the billing job now and then every ``BILLING_JOB_INTERVAL_SECONDS`` until shutdown."""
    interval = get_settings().billing_job_interval_seconds
    stopping, stopped = threading.Event(), asyncio.Event()
    task = asyncio.create_task(_every(interval, stopping, stopped), name="billing-job")
    logger.info("Billing job started: every %s seconds", interval)
    try:
        yield
    finally:
        stopping.set()
        stopped.set()
        try:
            await asyncio.wait_for(task, SHUTDOWN_WAIT_SECONDS)
        except TimeoutError:
            logger.warning(
                "The billing job did not stop within %s seconds; its run is cut short", SHUTDOWN_WAIT_SECONDS
            )
        except Exception:
            logger.exception("The billing job ended with an error")
