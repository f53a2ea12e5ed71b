"""``POST /api/v1/ingest``: send 1 to 100 usage events (JSON, optionally gzip-compressed)."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from portal.api.deps import ERRORS, Principal, Problem
from portal.services import alerts, credit_purchases, enterprise_alerts
from portal.services import ingest as ingest_service
from portal.services.errors import InvalidInput
from portal.services.ingest_writer import WriterStopped, writer

router = APIRouter(prefix="/api/v1", tags=["usage"])
MAX_BODY_BYTES = 5 * 1024 * 1024


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


async def _payload(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise InvalidInput(f"The request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB.")
    if request.headers.get("content-encoding", "").lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            raise InvalidInput("The body is marked gzip but is not valid gzip data.") from None
        if len(body) > MAX_BODY_BYTES:
            raise InvalidInput(f"The decompressed body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB.")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"The body is not valid JSON: {exc}") from None


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
    responses={**ERRORS, 503: {"model": Problem, "description": "the writer is restarting; nothing was stored"}},
)
async def ingest(request: Request, principal: Principal) -> Response:
    """Store a batch of usage events; valid events are stored, invalid ones reported by index with a reason.

    Duplicates (a transaction_id received in the last 34 days) are acknowledged and never counted twice.
    When this returns, balances and draft invoices include the accepted events.
    """
    payload = await _payload(request)
    accepted, refused = await run_in_threadpool(ingest_service.prepare, principal, payload)
    try:
        stored = await asyncio.wrap_future(writer().submit([a.event for a in accepted])) if accepted else {}
    except WriterStopped as exc:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})
    report = ingest_service.report(accepted, refused, stored)
    if accepted:
        touched = {a.event.customer_id for a in accepted}
        enterprise_alerts.watcher().touched(touched)
        credit_purchases.recharge_watcher().touched(touched)
        alerts.watcher().stored(a.event for a in accepted)
    # Built directly (the shape is IngestResponse): validating 100 outcomes per request would cost more
    # than storing them.
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
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")
