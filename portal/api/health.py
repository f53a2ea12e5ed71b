"""``GET /api/health``: is the portal up and can it reach its database?"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from portal.services.status import system_status

router = APIRouter(prefix="/api", tags=["health"])


class Health(BaseModel):
    """What the health check found."""

    status: str
    database: str
    schema_revision: str | None
    payments: str
    sign_in: list[str]


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health() -> JSONResponse:
    """200 when the database answers and its schema is current, else 503 naming what is wrong."""
    report = system_status()
    body = Health(
        status="ok" if report.healthy else "unavailable",
        database=report.database,
        schema_revision=report.schema_revision,
        payments=report.payments,
        sign_in=list(report.sign_in),
    )
    return JSONResponse(body.model_dump(), status_code=200 if report.healthy else 503)
