"""``python -m tests.faults.billing_job NOW [--hold-at POINT MARKER]``: one run of the billing job as of ``NOW`` (ISO
8601), in its own process.

It calls what the server's lifespan job calls each interval (:func:`portal.jobs.run_billing_once`), with the
settings of its environment (``REFLEX_DB_URL``, the Stripe keys and address), and prints what the run did; the
fault tests kill it with SIGKILL while it is talking to Stripe, or while it holds the transaction that stores an
invoice open (``--hold-at``: see :func:`hold_in_invoice_transaction`).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event

from portal.jobs import run_billing_once

HOLD_POINTS = ("invoice-insert", "commit")
"""Where the job stops inside the transaction that stores an invoice: right after the invoice row's INSERT ran (the
ledger entries and outgoing events of the same flush may not have), or at its COMMIT (everything written, nothing
committed)."""
HOLD_SECONDS = 120
INVOICE_INSERT = re.compile(r'\s*INSERT INTO "?invoice"?\s*\(', re.IGNORECASE)


def hold_in_invoice_transaction(point: str, marker: Path) -> None:
    """Make every connection of this process, once it has run the INSERT of an invoice row, write ``marker`` and
    sleep at ``point`` (one of :data:`HOLD_POINTS`) without committing: the test SIGKILLs the process there."""

    def hold() -> None:
        marker.write_text(point)
        time.sleep(HOLD_SECONDS)

    def after_execute(connection: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if INVOICE_INSERT.match(statement):
            if point == "invoice-insert":
                hold()
            connection.info["invoice_inserted"] = True

    def before_commit(connection: Connection) -> None:
        if connection.info.pop("invoice_inserted", False):
            hold()

    event.listen(Engine, "after_cursor_execute", after_execute)
    event.listen(Engine, "commit", before_commit)


def main() -> None:
    """Run the billing job once as of the time given on the command line (held where ``--hold-at`` says)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stdout)
    if sys.argv[2:3] == ["--hold-at"]:
        point, marker = sys.argv[3], Path(sys.argv[4])
        if point not in HOLD_POINTS:
            raise SystemExit(f"--hold-at takes one of {', '.join(HOLD_POINTS)}, not {point!r}.")
        hold_in_invoice_transaction(point, marker)
    result = run_billing_once(datetime.fromisoformat(sys.argv[1]))
    print(result.summary() if result is not None else "The billing job failed.", flush=True)


if __name__ == "__main__":
    main()
