"""``portal bench ingest`` against a live API over HTTP (a short run): it sends, counts what the portal answered,
probes the balance, and checks the stored usage against its own tally; and its lean HTTP client's behaviour."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from portal.bench.http_load import LoadConnection, LoadConnectionError
from portal.bench.ingest import run
from portal.db.uow import UnitOfWork
from portal.services.api_keys import create_api_key
from portal.services.demo_catalog import ensure_catalog, ensure_tiers
from tests.integration.conftest import STAFF
from tests.support.api_server import running_api


def test_a_short_benchmark_run_sends_counts_and_checks_what_was_stored(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with UnitOfWork() as uow:
        ensure_catalog(uow.session)
        ensure_tiers(uow.session)
    key = create_api_key(STAFF, "bench", ("staff",)).token
    with running_api(database) as server:
        code = run(argparse.Namespace(url=server.url, key=key, seconds=2.0, clients=2, customers=3, seed=5))
    report = capsys.readouterr().out
    assert code == 0, report
    assert "0 errors" in report
    assert "stored usage of 4 customers equals what was accepted" in report  # 3 customers and the probe's
    sent = int(report.split("events sent")[1].split()[0])
    accepted = int(report.split("events accepted")[1].split()[0])
    duplicates = int(report.split("duplicates acknowledged")[1].split()[0])
    assert sent == accepted + duplicates
    assert duplicates > 0
    assert sent >= 200


async def _serve(answers: list[bytes]) -> tuple[asyncio.Server, list[bytes]]:
    """A loopback server that reads one request per answer (each on a connection of its own when the answer says
    ``Connection: close``) and keeps the requests it read."""
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while answers:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            received.append(head + await reader.readexactly(length))
            answer = answers.pop(0)
            writer.write(answer)
            await writer.drain()
            if b"close" in answer or not answer.startswith(b"HTTP/1.1"):
                break
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0), received


def test_the_load_connection_keeps_alive_reopens_after_close_and_refuses_what_is_not_http() -> None:
    async def scenario() -> None:
        server, received = await _serve(
            [
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                b"HTTP/1.1 413 Too Large\r\ncontent-length: 5\r\nConnection: close\r\n\r\nlarge",
                b"SSH-2.0-OpenSSH\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            ]
        )
        port = server.sockets[0].getsockname()[1]
        connection = LoadConnection(f"http://127.0.0.1:{port}", {"Authorization": "Bearer k"})
        async with server:
            assert await connection.post("/api/v1/ingest", b"[1]") == (200, b"ok")
            assert await connection.post("/api/v1/ingest", b"[22]") == (413, b"large")  # then the server closes
            with pytest.raises(LoadConnectionError, match=r"not an HTTP/1\.1 answer"):
                await connection.post("/api/v1/ingest", b"[3]")  # a new connection: the answer is not HTTP
            assert await connection.post("/api/v1/ingest", b"") == (200, b"")  # and the next one works again
            await connection.close()
        assert received[0].startswith(b"POST /api/v1/ingest HTTP/1.1\r\nHost: 127.0.0.1:")
        assert b"Authorization: Bearer k\r\nContent-Length: 3\r\n\r\n[1]" in received[0]
        assert [r.rsplit(b"\r\n\r\n", 1)[1] for r in received] == [b"[1]", b"[22]", b"[3]", b""]

    asyncio.run(scenario())
    with pytest.raises(ValueError, match="plain HTTP"):
        LoadConnection("https://portal.test", {})
