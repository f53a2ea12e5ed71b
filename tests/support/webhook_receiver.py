"""A webhook receiver for tests: an HTTP server on a loopback port that verifies the portal's signatures and keeps
what it received (started and stopped by its handle, in a thread of the test process)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from portal.webhooks.verify import SIGNATURE_HEADER, SignatureError, verify


def free_port() -> int:
    """A loopback port nobody listens on (yet)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Receiver:
    """What the receiver got: every request's event id, in order, and the parsed bodies; ``answer`` is the HTTP status
    it replies with (500 to play a receiver in trouble); ``secret`` is the one it verifies with (when set)."""

    port: int
    secret: str = ""
    answer: int = 200
    event_ids: list[str] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where to send events."""
        return f"http://127.0.0.1:{self.port}/hooks"

    def unique_ids(self) -> list[str]:
        """The event ids received, each once (as a receiver deduplicating by id processes them), in order."""
        return list(dict.fromkeys(self.event_ids))

    def start(self) -> None:
        """Listen on the port (again)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    if receiver.secret:
                        verify(receiver.secret, body, self.headers.get(SIGNATURE_HEADER))
                except SignatureError as error:
                    receiver.rejected.append(str(error))
                    self.send_response(400)
                    self.end_headers()
                    return
                if receiver.answer < 300:
                    receiver.event_ids.append(self.headers.get("Portal-Event-Id", ""))
                    receiver.bodies.append(json.loads(body))
                self.send_response(receiver.answer)
                self.end_headers()
                self.wfile.write(b"ok" if receiver.answer < 300 else b"trouble")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (connections are refused until :meth:`start`)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


@contextlib.contextmanager
def listening() -> Iterator[Receiver]:
    """A receiver listening on a free loopback port for the duration, stopped by its handle afterwards."""
    receiver = Receiver(free_port())
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
