"""A throwaway Redis server on loopback for the production tier (Reflex's state manager).

Uses Debian's ``redis-server`` (``make test`` installs it when missing). It runs in a temporary folder, listens on
a free 127.0.0.1 port, keeps nothing on disk (no snapshots, no append-only file), and is stopped by the PID it was
started with.
"""

from __future__ import annotations

import contextlib
import pickle
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis
from reflex.utils.token_manager import RedisTokenManager

from tests.support.postgres import free_port
from tests.support.processes import stop

STARTUP_TIMEOUT_S = 30


@dataclass(frozen=True)
class RedisServer:
    """A running server, without a password, database 0."""

    port: int
    pid: int

    @property
    def url(self) -> str:
        """The ``redis://`` URL of this server (what ``REFLEX_REDIS_URL`` takes)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A client of this server (close it after use)."""
        return redis.Redis(host="127.0.0.1", port=self.port, db=0, socket_timeout=5)

    def socket_owner(self, token: str) -> str | None:
        """Which backend worker holds the websocket of the browser tab ``token`` (the instance id in Reflex's token
        manager record), or None when no worker does."""
        with contextlib.closing(self.client()) as client:
            record = client.get(RedisTokenManager._token_socket_record_prefix + token)
        return None if record is None else pickle.loads(record).instance_id


def _binary() -> str:
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    if not found:
        raise RuntimeError("redis-server was not found: run `make test`, which installs Debian's redis-server package.")
    return found


@contextlib.contextmanager
def running_redis() -> Iterator[RedisServer]:
    """Start a fresh server, yield it, and stop it by PID (SIGTERM, then SIGKILL) at the end."""
    workdir = Path(tempfile.mkdtemp(prefix="portal-redis-"))
    port = free_port()
    log = open(workdir / "server.log", "wb")  # noqa: SIM115  (closed below)
    process = subprocess.Popen(
        [
            _binary(),
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(workdir),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
            "--daemonize", "no",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    server = RedisServer(port=port, pid=process.pid)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        with contextlib.closing(server.client()) as client:
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"Redis did not start: {(workdir / 'server.log').read_text(errors='replace')[-2000:]}"
                        ) from None
                    time.sleep(0.1)
        yield server
    finally:
        stop(process, signal.SIGTERM, 30)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
