"""``python -m tests.faults.billing_job NOW``: one run of the billing job as of ``NOW`` (ISO 8601), in its own process.

It calls what the server's lifespan job calls each interval (:func:`portal.jobs.run_billing_once`), with the
settings of its environment (``REFLEX_DB_URL``, the Stripe keys and address), and prints what the run did; the
fault tests kill it with SIGKILL while it is talking to Stripe.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime

from portal.jobs import run_billing_once


def main() -> None:
    """Run the billing job once as of the time given on the command line."""
    logging.basicConfig(level=logging.INFO, stream=sys.stdout)
    result = run_billing_once(datetime.fromisoformat(sys.argv[1]))
    print(result.summary() if result is not None else "The billing job failed.", flush=True)


if __name__ == "__main__":
    main()
