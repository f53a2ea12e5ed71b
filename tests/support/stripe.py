"""The local Stripe-compatible server the payment tests use (``tests/fakes/fake_stripe``, GPL-3.0-or-later).

:func:`running_fake_stripe` starts ``python -m tests.fakes.fake_stripe.server PORT`` on a free loopback port,
waits for its ``FAKE_STRIPE_READY`` line, yields its base URL and stops it by PID. The portal reaches it only
through the official SDK with a ``sk_test_`` key and ``STRIPE_API_BASE``; nothing in ``portal/`` imports it.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.postgres import free_port
from tests.support.processes import stop

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEST_SECRET_KEY = "sk_test_portal_tests"
TEST_PUBLISHABLE_KEY = "pk_test_portal_tests"
TEST_WEBHOOK_SECRET = "whsec_portal_tests"


def stripe_settings(api_base: str) -> dict[str, str]:
    """The settings that make the portal collect through the fake at ``api_base`` with the test keys."""
    return {
        "STRIPE_SECRET_KEY": TEST_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": TEST_PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": TEST_WEBHOOK_SECRET,
        "STRIPE_API_BASE": api_base,
    }


@contextlib.contextmanager
def running_fake_stripe(timeout: float = 30) -> Iterator[str]:
    """Start the fake on 127.0.0.1, yield ``http://127.0.0.1:PORT``, stop it by PID at the end."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="portal-stripe-") as workdir:
        log_path = Path(workdir) / "fake_stripe.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.fakes.fake_stripe.server", str(port)],
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                deadline = time.monotonic() + timeout
                while b"FAKE_STRIPE_READY" not in log_path.read_bytes():
                    if process.poll() is not None or time.monotonic() > deadline:
                        output = log_path.read_text(errors="replace")[-2000:]
                        raise RuntimeError(f"The fake Stripe server did not start: {output}")
                    time.sleep(0.05)
                yield f"http://127.0.0.1:{port}"
            finally:
                stop(process, signal.SIGTERM, 10)
