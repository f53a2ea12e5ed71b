"""An HTTP proxy on loopback that holds chosen requests on their way to a server: a slow or stalled provider.

:func:`holding_proxy` starts a :class:`HoldingProxy` in front of ``upstream`` (the fake Stripe) on a free
127.0.0.1 port and yields it. Requests pass through unchanged (one connection per request) until
:meth:`HoldingProxy.hold` names a method and path pattern: a matching request is then held for the given seconds
before it is forwarded (a provider that answers too slowly), after it (the charge is made, the answer is late), or
forwarded not at all (``forward=False``: lost on the way). :attr:`HoldingProxy.holding` is set once one is held,
so a test can act at that moment; :meth:`HoldingProxy.release` lets every held request go on at once.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

FORWARDED_HEADERS = ("content-type", "authorization", "idempotency-key", "stripe-version", "user-agent")
ANSWERED_HEADERS = ("content-type", "idempotent-replayed", "request-id")


@dataclass(frozen=True)
class Hold:
    """Which requests to hold (``method`` and a regular expression on the path), for how long, and where."""

    method: str
    path: str
    seconds: float
    after_forwarding: bool = False
    forward: bool = True


class HoldingProxy:
    """The proxy's state: the hold in force, and whether a request is being held now."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.url = ""
        self.holding = threading.Event()
        self._hold: Hold | None = None
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)

    def hold(
        self, method: str, path: str, seconds: float, after_forwarding: bool = False, forward: bool = True
    ) -> None:
        """Hold the requests ``method`` ``path`` (a regular expression) from now on (see the module notes)."""
        with self._lock:
            self._hold = Hold(method, path, seconds, after_forwarding, forward)
            self._released.clear()
            self.holding.clear()

    def release(self) -> None:
        """Hold nothing more, and let the requests held now go on."""
        with self._lock:
            self._hold = None
            self._released.set()

    def _matching(self, method: str, path: str) -> Hold | None:
        with self._lock:
            hold = self._hold
        return hold if hold is not None and hold.method == method and re.fullmatch(hold.path, path) else None

    def _wait(self, hold: Hold) -> None:
        self.holding.set()
        self._released.wait(hold.seconds)

    def wait_idle(self, timeout: float = 30) -> None:
        """Wait until no request is on its way (those released have reached the server and been answered)."""
        with self._idle:
            assert self._idle.wait_for(lambda: self._in_flight == 0, timeout), "a request is still on its way"

    def exchange(self, method: str, path: str, headers: dict[str, str], body: bytes) -> httpx.Response | None:
        """Forward one request (held as the hold in force says); None when it is not forwarded."""
        with self._lock:
            self._in_flight += 1
        try:
            return self._exchange(method, path, headers, body)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _exchange(self, method: str, path: str, headers: dict[str, str], body: bytes) -> httpx.Response | None:
        hold = self._matching(method, path)
        if hold is not None and not hold.after_forwarding:
            self._wait(hold)
            if not hold.forward:
                return None
        answer = httpx.request(method, f"{self.upstream}{path}", headers=headers, content=body, timeout=60)
        if hold is not None and hold.after_forwarding:
            self._wait(hold)
        return answer


def _handler(proxy: HoldingProxy) -> type[BaseHTTPRequestHandler]:
    class Forward(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name: self.headers[name] for name in FORWARDED_HEADERS if self.headers.get(name)}
            answer = proxy.exchange(self.command, self.path, headers, body)
            with contextlib.suppress(OSError):  # the client may have given up (or been killed) meanwhile
                if answer is None:
                    self.close_connection = True
                    return
                self.send_response(answer.status_code)
                for name in ANSWERED_HEADERS:
                    if name in answer.headers:
                        self.send_header(name, answer.headers[name])
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

        do_GET = do_POST = do_DELETE = _forward

        def log_message(self, format: str, *args: object) -> None:
            return

    return Forward


@contextlib.contextmanager
def holding_proxy(upstream: str) -> Iterator[HoldingProxy]:
    """Serve a :class:`HoldingProxy` in front of ``upstream`` on 127.0.0.1 (a free port) in a thread; stop it at
    the end (held requests are released first)."""
    proxy = HoldingProxy(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = False
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="holding-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.release()
        server.shutdown()
        server.server_close()
        thread.join(10)
