"""``POST /api/v1/ingest``: send 1 to 100 usage events (JSON, optionally gzip-compressed)."""

from __future__ import annotations

import asyncio
import json
import zlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from portal.api.body_limit import MIB, too_large
from portal.api.deps import ERRORS, Authorization, Problem
from portal.api.request_checks import unreadable_body
from portal.services import alerts, credit_purchases, enterprise_alerts
from portal.services import ingest as ingest_service
from portal.services.api_keys import INGEST, authenticate
from portal.services.errors import InvalidInput, TooLarge
from portal.services.ingest_writer import WriterStopped, writer

router = APIRouter(prefix="/api/v1", tags=["usage"])
MAX_BODY_BYTES = 5 * MIB
"""The largest body accepted, before and after gzip decompression (100 events fit many times over)."""


class EventIn(BaseModel):
    """One usage event (documentation of the request shape; the route validates each event itself)."""

    transaction_id: str = Field(description="Idempotency key: a second event with this id is a duplicate.")
    customer_id: str = Field(description="The customer's id or one of its ingest aliases.")
    event_type: str
    timestamp: str = Field(description="RFC 3339 with a timezone, e.g. 2026-11-23T10:00:00Z.")
    properties: dict[str, str] = Field(default_factory=dict, description="String values; numbers as strings.")


class EventOutcome(BaseModel):
    """What happened to one event of the request."""

    index: int
    transaction_id: str | None
    status: str = Field(description="accepted, duplicate or rejected")
    reason: str = ""
    warnings: list[str] = Field(default_factory=list, description="metrics that could not use the event, and why")


class IngestResponse(BaseModel):
    """Every event's outcome, in request order, with totals."""

    accepted: int
    duplicates: int
    rejected: int
    results: list[EventOutcome]


def _too_large(what: str) -> TooLarge:
    return TooLarge(f"{too_large(what, MAX_BODY_BYTES)} Send fewer or smaller events per request.")


async def read_body(request: Request) -> bytes:
    """The raw body, refused (413) once it passes :data:`MAX_BODY_BYTES`: before reading any of it when
    ``Content-Length`` says so, otherwise as soon as that much has arrived."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large("The request body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large("The request body")
        chunks.append(chunk)
    return b"".join(chunks)


def _gunzip(body: bytes) -> bytes:
    """Decompress gzip data (one or more members), inflating at most one byte past :data:`MAX_BODY_BYTES`, so
    that a small body that would inflate to gigabytes (a gzip bomb) is refused without inflating it."""
    inflated = bytearray()
    rest = body
    try:
        while rest:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            inflated += inflater.decompress(rest, MAX_BODY_BYTES + 1 - len(inflated))
            if len(inflated) > MAX_BODY_BYTES:
                raise _too_large("The decompressed body")
            if not inflater.eof:
                raise InvalidInput("The body is marked gzip but the gzip data is cut short.")
            rest = inflater.unused_data
    except zlib.error:
        raise InvalidInput("The body is marked gzip but is not valid gzip data.") from None
    return bytes(inflated)


def decode_body(body: bytes, content_encoding: str = "") -> Any:
    """The JSON value of an ingest request body, gunzipped first when ``content_encoding`` is gzip.

    Refuses with :class:`InvalidInput` (422: not gzip, not JSON, an unsupported encoding) or :class:`TooLarge`
    (413: over :data:`MAX_BODY_BYTES` once decompressed), each saying what was wrong; never raises anything else.
    """
    encoding = content_encoding.strip().lower()
    if encoding == "gzip":
        body = _gunzip(body)
    elif encoding not in ("", "identity"):
        raise InvalidInput(f"Content-Encoding {content_encoding!r} is not supported: send gzip or no encoding.")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(unreadable_body(exc) or f"The body is not valid JSON: {exc}") from None


def _checked(
    authorization: str | None, body: bytes, content_encoding: str
) -> tuple[list[ingest_service.ValidEvent], list[ingest_service.EventResult]]:
    """The key, then the body, checked in one trip to a worker thread (a request per hundred events: each trip
    costs): nothing of the body is decoded for a request without a valid key with the ingest scope."""
    principal = authenticate(authorization)
    principal.require(INGEST)
    return ingest_service.prepare(principal, decode_body(body, content_encoding))


@router.post(
    "/ingest",
    response_model=IngestResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "array", "maxItems": 100, "minItems": 1, "items": EventIn.model_json_schema()}
                }
            },
        }
    },
    responses={
        **ERRORS,
        413: {"model": Problem, "description": "the body is larger than 5 MiB (also once decompressed)"},
        503: {"model": Problem, "description": "the writer is restarting; nothing was stored"},
    },
)
async def ingest(request: Request, authorization: Authorization = None) -> Response:
    """Store a batch of usage events; valid events are stored, invalid ones reported by index with a reason.

    Duplicates (a transaction_id received in the last 34 days) are acknowledged and never counted twice.
    When this returns, balances and draft invoices include the accepted events.
    """
    body = await read_body(request)
    accepted, refused = await run_in_threadpool(
        _checked, authorization, body, request.headers.get("content-encoding", "")
    )
    events = [a.event for a in accepted]
    try:
        stored = await asyncio.wrap_future(writer().submit(events)) if events else {}
    except WriterStopped as exc:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})
    report = ingest_service.report(accepted, refused, stored)
    if events:
        touched = frozenset(event.customer_id for event in events)
        enterprise_alerts.watcher().touched(touched)
        credit_purchases.recharge_watcher().touched(touched)
        alerts.watcher().stored(events, touched)
    return Response(response_body(report), media_type="application/json")


def response_body(report: ingest_service.IngestReport) -> str:
    """The JSON of an :class:`IngestResponse` for ``report``, built directly: validating 100 outcomes per request
    would cost more than storing them."""
    body = {
        "accepted": report.count(ingest_service.ACCEPTED),
        "duplicates": report.count(ingest_service.DUPLICATE),
        "rejected": report.count(ingest_service.REJECTED),
        "results": [
            {
                "index": r.index,
                "transaction_id": r.transaction_id,
                "status": r.status,
                "reason": r.reason,
                "warnings": list(r.warnings),
            }
            for r in report.results
        ],
    }
    return json.dumps(body, separators=(",", ":"))
