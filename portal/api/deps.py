"""Shared request dependencies and response shapes: the API key behind a request, and the error body."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from portal.services.api_keys import ApiPrincipal, authenticate

Authorization = Annotated[str | None, Header(description="Bearer <API key>")]
"""The ``Authorization`` header of an API request (documented in the OpenAPI description)."""


async def api_principal(authorization: Authorization = None) -> ApiPrincipal:
    """The key a request is made with; 401 when it is missing, wrong or revoked."""
    return await run_in_threadpool(authenticate, authorization)


Principal = Annotated[ApiPrincipal, Depends(api_principal)]


class Problem(BaseModel):
    """An error: ``detail`` says what was wrong and what to do."""

    detail: str


ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": Problem, "description": "missing, wrong or revoked API key"},
    403: {"model": Problem, "description": "the key lacks the scope, or belongs to another customer"},
    404: {"model": Problem, "description": "no such object (or not visible to this key)"},
    413: {"model": Problem, "description": "the request body is larger than 1 MiB"},
    422: {"model": Problem, "description": "a field is wrong; detail names it"},
}
