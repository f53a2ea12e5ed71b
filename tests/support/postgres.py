"""A throwaway PostgreSQL server on loopback for the database tests.

Uses Debian's PostgreSQL binaries (``make test`` installs them when missing).
The cluster lives in a temporary folder, listens on a free 127.0.0.1 port,
trusts local connections, and is stopped by the PID it was started with.
When the tests run as root, the server runs as the ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.support.processes import stop


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(name: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    found = candidates[0] if candidates else shutil.which(name)
    if not found:
        raise RuntimeError(
            f"PostgreSQL's {name} was not found: run `make test`, which installs Debian's postgresql package."
        )
    return found


@dataclass(frozen=True)
class PostgresServer:
    """A running server: connect as ``postgres`` without a password."""

    port: int
    pid: int

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of ``database`` on this server (psycopg 3 driver)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        """Run one statement in autocommit mode on the maintenance database."""
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as c:
            c.execute(sql)  # type: ignore[arg-type]


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a fresh cluster, yield it, and stop it by PID (fast shutdown) at the end."""
    as_root = os.geteuid() == 0
    owner = pwd.getpwnam("postgres") if as_root else None
    workdir = Path(tempfile.mkdtemp(prefix="portal-pg-"))
    data, socket_dir = workdir / "data", workdir / "sock"
    socket_dir.mkdir()
    if owner is not None:
        for path in (workdir, socket_dir):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    user = owner.pw_name if owner else None
    subprocess.run(
        [_binary("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync"],
        check=True,
        capture_output=True,
        user=user,
    )
    port = free_port()
    log = open(workdir / "server.log", "wb")  # noqa: SIM115  (closed below)
    process = subprocess.Popen(
        [
            _binary("postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(socket_dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        user=user,
        start_new_session=True,
    )
    server = PostgresServer(port=port, pid=process.pid)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                server.execute("SELECT 1")
                break
            except psycopg.OperationalError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL did not start: {(workdir / 'server.log').read_text(errors='replace')[-2000:]}"
                    ) from None
                time.sleep(0.2)
        yield server
    finally:
        stop(process, signal.SIGINT, 30)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
