"""The HTTP API served by uvicorn in a child process, for tests that must reach it over real HTTP.

:func:`running_api` starts ``uvicorn portal.api.app:create_api --factory`` on a free loopback port against a
database the caller prepared, waits until ``/api/health`` answers 200, yields the base URL and stops the server
by PID; the server's log is kept for the test to show when a request failed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.postgres import free_port
from tests.support.processes import stop
from tests.support.stripe import PROJECT_ROOT


@dataclass(frozen=True)
class ApiServer:
    """A running API server: its base URL, the file its output goes to, and its PID (to kill it mid-request)."""

    url: str
    log_path: Path
    pid: int

    def log_tail(self, size: int = 4000) -> str:
        """The end of the server's output (tracebacks of failed requests land here)."""
        return self.log_path.read_text(errors="replace")[-size:]


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            output = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"The API server did not become healthy: {output}")
        time.sleep(0.1)


@contextlib.contextmanager
def running_api(
    database_url: str, settings: Mapping[str, str] | None = None, timeout: float = 60
) -> Iterator[ApiServer]:
    """Serve the API on 127.0.0.1 over ``database_url`` (with more ``settings`` in its environment); yield it
    (``http://127.0.0.1:PORT``); stop it by PID."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "portal.api.app:create_api", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    with tempfile.TemporaryDirectory(prefix="portal-api-") as workdir:
        log_path = Path(workdir) / "api.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env={**os.environ, **(settings or {}), "REFLEX_DB_URL": database_url},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            url = f"http://127.0.0.1:{port}"
            try:
                _wait_healthy(url, process, log_path, timeout)
                yield ApiServer(url, log_path, process.pid)
            finally:
                stop(process, signal.SIGTERM, 10)
