"""A throwaway PostgreSQL server on loopback for the database tests.

Uses Debian's PostgreSQL binaries (``make test`` installs them when missing).
The cluster lives in a temporary folder, listens on a free 127.0.0.1 port,
trusts local connections, and is stopped by the PID it was started with.
When the tests run as root, the server runs as the ``postgres`` user. :func:`restartable_postgres` gives the
cluster itself, for tests that restart the server under a running client.
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


class PostgresCluster:
    """A cluster in a temporary folder, served on one port by a ``postgres`` process that can be restarted."""

    def __init__(self) -> None:
        self._as_root = os.geteuid() == 0
        owner = pwd.getpwnam("postgres") if self._as_root else None
        self.workdir = Path(tempfile.mkdtemp(prefix="portal-pg-"))
        self._data, self._socket_dir = self.workdir / "data", self.workdir / "sock"
        self._socket_dir.mkdir()
        if owner is not None:
            for path in (self.workdir, self._socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._user = owner.pw_name if owner else None
        initdb = [_binary("initdb"), "-D", str(self._data), "-U", "postgres", "--auth=trust", "--encoding=UTF8"]
        subprocess.run(
            [*initdb, "--no-sync"],
            check=True,
            capture_output=True,
            user=self._user,
        )
        self.port = free_port()
        self._log = open(self.workdir / "server.log", "ab")  # noqa: SIM115  (closed by remove)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def server(self) -> PostgresServer:
        """The running server (its PID changes with each restart)."""
        assert self._process is not None, "the cluster is not running"
        return PostgresServer(port=self.port, pid=self._process.pid)

    def start(self) -> None:
        """Start ``postgres`` on the cluster's port and wait until it answers."""
        self._process = subprocess.Popen(
            [
                _binary("postgres"),
                "-D",
                str(self._data),
                "-p",
                str(self.port),
                "-k",
                str(self._socket_dir),
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
            stdout=self._log,
            stderr=subprocess.STDOUT,
            user=self._user,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.server.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    log = (self.workdir / "server.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"PostgreSQL did not start: {log}") from None
                time.sleep(0.2)

    def stop(self, first: signal.Signals = signal.SIGINT) -> None:
        """Stop the server by PID: ``SIGINT`` is PostgreSQL's fast shutdown (open connections are cut)."""
        if self._process is not None:
            stop(self._process, first, 30)
            self._process = None

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop the server (fast shutdown), leave it down for ``down_seconds``, start it again on the same port."""
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def remove(self) -> None:
        """Stop the server and delete the cluster's folder."""
        self.stop()
        self._log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def restartable_postgres() -> Iterator[PostgresCluster]:
    """Start a fresh cluster, yield it (:meth:`PostgresCluster.restart` restarts it), remove it at the end."""
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a fresh cluster, yield it, and stop it by PID (fast shutdown) at the end."""
    with restartable_postgres() as cluster:
        yield cluster.server
