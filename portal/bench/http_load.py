"""A lean HTTP/1.1 client for the ingest benchmark's load clients: one kept-alive connection per client.

The clients share the machine's two cores with the portal they measure. httpx spends about as much processor time
per request as the portal does to store a hundred events, so the load clients write requests and read answers
themselves (status line, headers, a body of ``Content-Length`` bytes); the probe and the checks keep httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 64 * 1024


class LoadConnectionError(OSError):
    """The connection failed or the answer was not HTTP/1.1 as expected; the next request opens a new one."""


class LoadConnection:
    """POSTs over one kept-alive connection to ``url``'s host (reopened after an error or a ``Connection: close``)."""

    def __init__(self, url: str, headers: Mapping[str, str]) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"The load clients speak plain HTTP: {url!r} is not an http:// URL.")
        self._host = parts.hostname
        self._port = parts.port or 80
        fixed = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._fixed = f"Host: {parts.netloc}\r\n{fixed}"
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """Send ``body`` to ``path``; the answer's status and body. Raises :class:`LoadConnectionError`."""
        try:
            if self._streams is None:
                self._streams = await asyncio.open_connection(self._host, self._port, limit=MAX_HEAD_BYTES)
            reader, writer = self._streams
            writer.write(f"POST {path} HTTP/1.1\r\n{self._fixed}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            status, length, close = _head(await reader.readuntil(b"\r\n\r\n"))
            answer = await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            await self.close()
            raise LoadConnectionError(f"{type(exc).__name__}: {exc}") from exc
        if close:
            await self.close()
        return status, answer

    async def close(self) -> None:
        """Close the connection (if open)."""
        streams, self._streams = self._streams, None
        if streams is not None:
            streams[1].close()
            with contextlib.suppress(OSError):
                await streams[1].wait_closed()


def _head(head: bytes) -> tuple[int, int, bool]:
    """The status, body length and whether the server closes the connection, from an answer's head."""
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise LoadConnectionError(f"not an HTTP/1.1 answer: {status_line[:80]!r}")
    fields = {}
    for line in lines:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    if not fields.get("content-length", "").isdigit():
        raise LoadConnectionError(f"an answer without Content-Length (status {rest[:3]})")
    return int(rest[:3]), int(fields["content-length"]), fields.get("connection", "").lower() == "close"
