"""The HTTP API, mounted into the Reflex app under ``/api`` (see ``portal/portal.py``).

Routes are thin: validate, call one service, map service errors to HTTP
errors with a clear ``detail``. Interactive docs live at ``/api/docs``.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from portal.api import auth, billing, catalog, customers, health, ingest, staff, stripe_webhooks
from portal.api.body_limit import BodyLimit
from portal.api.request_checks import refuse_unstorable_text, unreadable_body, validation_detail
from portal.domain.errors import DomainError
from portal.services.errors import Forbidden, InvalidInput, NotFound, NotSignedIn, ServiceError, TooLarge

_STATUS: dict[type[Exception], int] = {
    TooLarge: 413,
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


def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": validation_detail(exc.errors())}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's vague 400 for a body it cannot read becomes a 413 (too large) or a 422 saying why; other HTTP errors
    stay as they are."""
    assert isinstance(exc, HTTPException)
    if isinstance(exc.__cause__, TooLarge):
        return _refused(request, exc.__cause__)
    detail = unreadable_body(exc.__cause__) if exc.status_code == 400 else None
    if detail is not None:
        return JSONResponse({"detail": detail}, status_code=422)
    return await http_exception_handler(request, exc)


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
    api.add_middleware(BodyLimit)
    api.add_exception_handler(RequestValidationError, _invalid_request)
    api.add_exception_handler(HTTPException, _http_error)
    api.add_exception_handler(ServiceError, _refused)
    api.add_exception_handler(DomainError, _refused)
    api.add_exception_handler(OperationalError, _database_unavailable)
    for module in (health, catalog, auth, ingest, customers, billing, staff, stripe_webhooks):
        # Ingest checks each event itself (one bad event does not refuse its batch); Stripe's body is verified whole.
        checks = [] if module in (ingest, stripe_webhooks) else [Depends(refuse_unstorable_text)]
        api.include_router(module.router, dependencies=checks)
    return api
