"""The HTTP API, mounted into the Reflex app under ``/api`` (see ``portal/portal.py``).

Routes are thin: validate, call one service, map service errors to HTTP
errors with a clear ``detail``. Interactive docs live at ``/api/docs``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from portal.api import auth, billing, catalog, customers, health, ingest, staff, stripe_webhooks
from portal.domain.errors import DomainError
from portal.services.errors import Forbidden, InvalidInput, NotFound, NotSignedIn, ServiceError

_STATUS: dict[type[Exception], int] = {
    InvalidInput: 422,
    DomainError: 422,
    NotFound: 404,
    NotSignedIn: 401,
    Forbidden: 403,
}


def _refused(_request: Request, exc: Exception) -> JSONResponse:
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)


def _database_unavailable(_request: Request, _exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": "The database is unavailable right now; nothing was written. Try again shortly."},
        status_code=503,
        headers={"Retry-After": "5"},
    )


def create_api() -> FastAPI:
    """Build the FastAPI app with every router."""
    api = FastAPI(
        title="Portal API",
        version="0.1.0",
        description="Usage ingest, customers, contracts, balances and invoices of the Portal billing portal.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    api.add_exception_handler(ServiceError, _refused)
    api.add_exception_handler(DomainError, _refused)
    api.add_exception_handler(OperationalError, _database_unavailable)
    for module in (health, catalog, auth, ingest, customers, billing, staff, stripe_webhooks):
        api.include_router(module.router)
    return api
