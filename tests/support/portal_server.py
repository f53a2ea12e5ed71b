"""`portal run` (the production build, frontend and backend on one port) in its own process group, for tests.

Each server gets its own build folder and state folder under ``work``, listens on a free loopback port, writes its
output to ``work/server.log`` and is stopped by its PID (its whole process group) at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from portal.config import PROJECT_ROOT
from tests.support.mail import outbox_from_log
from tests.support.postgres import free_port
from tests.support.processes import stop

STARTUP_TIMEOUT_S = 600


def http_get(url: str) -> tuple[int, bytes]:
    """Status and body of ``GET url`` (status 0 when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except OSError:
        return 0, b""


@dataclass(frozen=True)
class PortalServer:
    """A running `portal run`: its address, the PID of its process group leader and its log file."""

    url: str
    port: int
    pid: int
    log: Path

    def output(self) -> str:
        """What the server has written so far."""
        return self.log.read_text(errors="replace")

    def last_link(self, address: str, path: str) -> str:
        """The link to ``path`` in the newest message to ``address`` the server wrote to its log instead of mailing
        it (no mail server is configured): path and query, ready to open."""
        return outbox_from_log(self.output()).last_link(address, path)

    def worker_pids(self) -> list[int]:
        """The processes under this server that accept connections on its port: the backend workers."""
        workers = []
        for process in psutil.Process(self.pid).children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                sockets = process.net_connections("tcp")
                if any(s.status == psutil.CONN_LISTEN and s.laddr.port == self.port for s in sockets):
                    workers.append(process.pid)
        return sorted(workers)


@contextlib.contextmanager
def running_portal(work: Path, env: Mapping[str, str]) -> Iterator[PortalServer]:
    """Start `portal run` with the environment ``env`` added, wait until its API and first page answer, yield it,
    and stop its process group (SIGTERM, then SIGKILL) at the end."""
    port = free_port()
    log_path = work / "server.log"
    full_env = {
        **os.environ,
        "REFLEX_WEB_WORKDIR": str(work / "web"),
        "REFLEX_STATES_WORKDIR": str(work / "states"),
        **env,
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("portal")), "run", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = PortalServer(url=f"http://127.0.0.1:{port}", port=port, pid=process.pid, log=log_path)
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while http_get(f"{server.url}/api/health")[0] != 200 or http_get(server.url + "/")[0] != 200:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("portal run did not come up:\n" + server.output()[-3000:])
                time.sleep(1)
            yield server
        finally:
            stop(process, signal.SIGTERM, 30, group=True)
