"""``portal bench ingest``: usage ingest over HTTP against a live portal, under concurrent load.

Several clients send batches of 100 events for a fixed time: about 5% of
each batch repeats transaction ids the client sent before (duplicates that
must be acknowledged and never counted), about 2% are backfilled from one
hour to 30 days into the past. A probe client meanwhile sends small batches
for its own customer and, as soon as each ingest returns, reads that
customer's balance through the API until the balance reflects the batch.

Reported: events/s sent and accepted, p50/p99 request latency, p50/p99 time
from an ingest request's start until the balance read reflects it, and a
final check through the API that each customer's stored usage equals what
was sent minus duplicates.

Without ``--url`` it starts its own portal (``portal run``: the production
build on a fresh SQLite file) on a free loopback port, and stops it by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from portal.bench.http_load import LoadConnection, LoadConnectionError
from portal.services.demo_catalog import CREDITS, TOKENS_METRIC

BATCH = 100
INGEST_PATH = "/api/v1/ingest"
PROBE_BATCH = 10
TOKENS_PER_EVENT = 1000
CREDITS_PER_EVENT = Decimal(10)  # the demo rate: 10 AI credits per 1,000 tokens
PROBE_GRANT = "1000000000"
"""Credits granted to the probe's customer: 100 million probe events' worth."""
STARTUP_TIMEOUT_S = 600
_EVENT = (
    '{"transaction_id":"%s","customer_id":"%s","event_type":"ai_usage","timestamp":"%s",'
    '"properties":{"tokens":"1000","user_id":"u%d","model":"gpt-4o"}}'
)
DUPLICATE_SHARE = 0.05
BACKFILL_SHARE = 0.02


@dataclass
class Tally:
    """What the clients saw."""

    requests: int = 0
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: int = 0
    error_reasons: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    visible_after: list[float] = field(default_factory=list)
    stale_reads: int = 0
    tokens_by_customer: dict[str, int] = field(default_factory=dict)

    def refused(self, reason: str) -> None:
        """Count a request that failed or was refused, and why."""
        self.errors += 1
        self.error_reasons[reason] += 1


def _refusal(status: int, body: bytes) -> str:
    """A refused request's status and the start of its reason."""
    try:
        detail = str(json.loads(body).get("detail", ""))
    except (ValueError, AttributeError):
        detail = body.decode(errors="replace")
    return f"{status} {detail[:160]}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes] | None, log: Path | None) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise SystemExit(f"the portal at {url} did not become healthy\n{tail}")
        time.sleep(1)


@contextmanager
def own_portal(workdir: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """Start ``portal run`` on a fresh SQLite file; yield its URL and environment; stop it by PID."""
    port = _free_port()
    env = {
        **os.environ,
        "REFLEX_DB_URL": f"sqlite:///{workdir / 'bench.db'}",
        "REFLEX_WEB_WORKDIR": str(workdir / "web"),
        "REFLEX_STATES_WORKDIR": str(workdir / "states"),
    }
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("portal")), "run", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, process, log_path)
            yield url, env
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def staff_key(env: dict[str, str]) -> str:
    """Create a staff key with the CLI against the portal's database."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("portal")), "api-key", "create", "--staff", "--name", "bench"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Load:
    """The clients: event generation, sending, and the probe."""

    def __init__(self, url: str, key: str, customers: list[str], probe: str, seed: int) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.customers = customers
        self.probe = probe
        self.random = random.Random(seed)
        self.tally = Tally()
        self.sequence = 0
        self.run_id = f"{self.random.randrange(16**8):08x}-{time.time_ns():x}"

    def _event(self, transaction_id: str, customer: str, stamp: str) -> str:
        return _EVENT % (transaction_id, customer, stamp, self.random.randrange(20))

    def batch(self, client_id: int, sent: list[tuple[str, str]]) -> tuple[bytes, list[tuple[str, str]]]:
        """100 events as a JSON body (built as text: the load generator must stay cheap), and their
        (transaction id, customer): fresh ones, ~5% repeats of earlier transaction ids, ~2% backfilled."""
        now = datetime.now(UTC)
        stamp = _stamp(now)
        texts, ids = [], []
        for _ in range(BATCH):
            if sent and self.random.random() < DUPLICATE_SHARE:
                transaction_id, customer = self.random.choice(sent)
            else:
                self.sequence += 1
                transaction_id = f"bench-{self.run_id}-{client_id}-{self.sequence}"
                customer = self.random.choice(self.customers)
            when = stamp
            if self.random.random() < BACKFILL_SHARE:
                when = _stamp(now - timedelta(seconds=self.random.uniform(3600, 30 * 86400)))
            texts.append(self._event(transaction_id, customer, when))
            ids.append((transaction_id, customer))
        return ("[" + ",".join(texts) + "]").encode(), ids

    def _count(self, ids: list[tuple[str, str]], body: dict[str, Any], sent: list[tuple[str, str]]) -> None:
        tally = self.tally
        tally.requests += 1
        tally.sent += len(ids)
        tally.accepted += body["accepted"]
        tally.duplicates += body["duplicates"]
        tally.rejected += body["rejected"]
        for (transaction_id, customer), result in zip(ids, body["results"], strict=True):
            if result["status"] == "accepted":
                tally.tokens_by_customer[customer] = tally.tokens_by_customer.get(customer, 0) + TOKENS_PER_EVENT
                sent.append((transaction_id, customer))

    async def client(self, client_id: int, until: float) -> None:
        """Send batches over one kept-alive connection until ``until`` (monotonic seconds)."""
        sent: list[tuple[str, str]] = []
        connection = LoadConnection(self.url, self.headers)
        try:
            while time.monotonic() < until:
                body, ids = self.batch(client_id, sent)
                started = time.perf_counter()
                try:
                    status, answer = await connection.post(INGEST_PATH, body)
                except LoadConnectionError as exc:
                    self.tally.refused(str(exc)[:160])
                    await asyncio.sleep(0.05)
                    continue
                self.tally.latencies.append(time.perf_counter() - started)
                if status != 200:
                    self.tally.refused(_refusal(status, answer))
                    continue
                self._count(ids, json.loads(answer), sent)
        finally:
            await connection.close()

    async def _pooled(self, http: httpx.AsyncClient) -> Decimal:
        response = await http.get(f"{self.url}/api/v1/customers/{self.probe}/balances", headers=self.headers)
        response.raise_for_status()
        return Decimal(response.json()["pooled"][0]["remaining_units"])

    async def probe_client(self, http: httpx.AsyncClient, until: float) -> None:
        """Small batches for the probe customer; after each, read its balance until it reflects the batch."""
        expected = await self._pooled(http)
        sent: list[tuple[str, str]] = []
        while time.monotonic() < until:
            stamp = _stamp(datetime.now(UTC))
            ids = []
            for _ in range(PROBE_BATCH):
                self.sequence += 1
                ids.append((f"probe-{self.run_id}-{self.sequence}", self.probe))
            started = time.perf_counter()
            body = ("[" + ",".join(self._event(t, c, stamp) for t, c in ids) + "]").encode()
            response = await http.post(f"{self.url}{INGEST_PATH}", content=body, headers=self.headers)
            if response.status_code != 200:  # refused (the server is shedding load): counted, then tried again
                self.tally.refused(_refusal(response.status_code, response.content))
                await asyncio.sleep(0.05)
                continue
            body = json.loads(response.content)
            self._count(ids, body, sent)
            expected -= CREDITS_PER_EVENT * body["accepted"]
            while await self._pooled(http) != expected:
                self.tally.stale_reads += 1
                if time.perf_counter() - started > 10:
                    raise SystemExit("the probe's balance did not reflect its events within 10 s")
            self.tally.visible_after.append(time.perf_counter() - started)
            await asyncio.sleep(0.05)


def _setup(url: str, key: str, customers: int) -> tuple[list[str], str]:
    """Create the bench customers and the probe customer (on Team, so it has a pooled balance)."""
    headers = {"Authorization": f"Bearer {key}"}
    suffix = random.randrange(10**9)
    ids = []
    for number in range(customers):
        response = httpx.post(f"{url}/api/v1/customers", json={"name": f"Bench {suffix}-{number}"}, headers=headers)
        response.raise_for_status()
        ids.append(response.json()["id"])
    probe = httpx.post(f"{url}/api/v1/customers", json={"name": f"Bench probe {suffix}"}, headers=headers)
    probe.raise_for_status()
    probe_id = probe.json()["id"]
    provisioned = httpx.post(
        f"{url}/api/v1/customers/{probe_id}/contract",
        json={"package": "team", "seats": 50},
        headers=headers,
        timeout=60,
    )
    provisioned.raise_for_status()
    # The pool of 50 seats (100,000 credits) would run out within minutes of probing (a soak runs 10), and a
    # balance at zero cannot show the next batch: a hand grant keeps the pool above zero for any run.
    granted = httpx.post(
        f"{url}/api/v1/staff/customers/{probe_id}/grants",
        json={"amount": PROBE_GRANT, "credit_type_id": CREDITS, "reason": "ingest benchmark probe"},
        headers=headers,
        timeout=60,
    )
    granted.raise_for_status()
    return ids, probe_id


def _stored_tokens(url: str, key: str, customer: str) -> int:
    now = datetime.now(UTC)
    params = {
        "metric_id": TOKENS_METRIC,
        "start": (now - timedelta(days=35)).isoformat(),
        "end": (now + timedelta(days=2)).isoformat(),
    }
    response = httpx.get(
        f"{url}/api/v1/customers/{customer}/usage",
        params=params,
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    response.raise_for_status()
    return sum(int(Decimal(p["quantity"])) for p in response.json())


async def _drive(load: Load, clients: int, seconds: float) -> float:
    until = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=60) as http:
        started = time.perf_counter()
        await asyncio.gather(load.probe_client(http, until), *(load.client(number, until) for number in range(clients)))
        return time.perf_counter() - started


def _report(load: Load, elapsed: float, url: str, key: str) -> int:
    tally = load.tally
    mismatches = [
        (customer, tokens, stored)
        for customer, tokens in tally.tokens_by_customer.items()
        if (stored := _stored_tokens(url, key, customer)) != tokens
    ]
    print(f"duration                {elapsed:8.1f} s, {tally.requests} requests, {tally.errors} errors")
    for reason, count in tally.error_reasons.most_common(5):
        print(f"  {count:>6} × {reason}")
    print(f"events sent             {tally.sent:8d}  ({tally.sent / elapsed:,.0f} events/s)")
    print(f"events accepted         {tally.accepted:8d}  ({tally.accepted / elapsed:,.0f} events/s)")
    print(f"duplicates acknowledged {tally.duplicates:8d}  rejected {tally.rejected}")
    print(
        f"request latency         p50 {_percentile(tally.latencies, 0.5) * 1000:6.1f} ms   "
        f"p99 {_percentile(tally.latencies, 0.99) * 1000:6.1f} ms"
    )
    print(
        f"ingest start -> balance p50 {_percentile(tally.visible_after, 0.5) * 1000:6.1f} ms   "
        f"p99 {_percentile(tally.visible_after, 0.99) * 1000:6.1f} ms   "
        f"({len(tally.visible_after)} probes, {tally.stale_reads} stale reads)"
    )
    if mismatches:
        print(
            f"CHECK FAILED: stored usage differs from what was accepted for {len(mismatches)} customers: "
            f"{mismatches[:3]}"
        )
        return 1
    print(
        f"check                   stored usage of {len(tally.tokens_by_customer)} customers equals what was "
        "accepted (sent minus duplicates)"
    )
    return 0 if tally.errors == 0 and tally.rejected == 0 else 1


def run(args: argparse.Namespace) -> int:
    """Run the ingest benchmark (see the module docstring)."""
    url: str | None = args.url
    if url:
        if not args.key:
            raise SystemExit("--url needs --key: a staff API key of that portal")
        _wait_healthy(url, None, None)
        return _measure(url, args.key, args)
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as workdir, own_portal(Path(workdir)) as (own, env):
        return _measure(own, staff_key(env), args)


def _measure(url: str, key: str, args: argparse.Namespace) -> int:
    customers, probe = _setup(url, key, args.customers)
    load = Load(url, key, customers, probe, args.seed)
    print(
        f"portal {url}: {args.clients} clients x batches of {BATCH} for {args.seconds} s, "
        f"{args.customers} customers, ~{DUPLICATE_SHARE:.0%} duplicates, ~{BACKFILL_SHARE:.0%} backfill"
    )
    elapsed = asyncio.run(_drive(load, args.clients, args.seconds))
    return _report(load, elapsed, url, key)
