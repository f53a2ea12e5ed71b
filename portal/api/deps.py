"""Shared request dependencies: the API key behind a request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header
from starlette.concurrency import run_in_threadpool

from portal.services.api_keys import ApiPrincipal, authenticate


async def api_principal(
    authorization: Annotated[str | None, Header(description="Bearer <API key>")] = None,
) -> ApiPrincipal:
    """The key a request is made with; 401 when it is missing, wrong or revoked."""
    return await run_in_threadpool(authenticate, authorization)


Principal = Annotated[ApiPrincipal, Depends(api_principal)]
