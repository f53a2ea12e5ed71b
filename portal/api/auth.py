"""Sign-in cookies: the HTTP half of signing in and out (see ``portal/services/identity.py``).

``GET /api/auth/session`` exchanges a one-time sign-in token for an HTTP-only
session cookie; ``GET /api/auth/logout`` ends the session server-side and
clears the cookie. Both then redirect to ``next``, which must stay on this
host (no open redirects).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from portal.config import get_settings
from portal.services.identity import SESSION_COOKIE, activate_session, sign_out

router = APIRouter(prefix="/api/auth", tags=["sign-in"])


def safe_next(request: Request, next_url: str | None, default: str = "/") -> str:
    """``next_url`` when it is a local path or a URL on the request's own host, else ``default``."""
    if not next_url:
        return default
    parts = urlsplit(next_url)
    if not parts.scheme and not parts.netloc and next_url.startswith("/") and not next_url.startswith("//"):
        return next_url
    if parts.scheme in ("http", "https") and parts.hostname == request.url.hostname:
        return next_url
    return default


@router.get("/session", status_code=303, include_in_schema=False)
def start_session(request: Request, ticket: str, next: str | None = None) -> RedirectResponse:
    """Activate a one-time sign-in ticket and set the session cookie."""
    activate_session(ticket)
    response = RedirectResponse(safe_next(request, next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        ticket,
        max_age=get_settings().session_days * 86_400,
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="lax",
        path="/",
    )
    return response


@router.get("/logout", status_code=303, include_in_schema=False)
def logout(request: Request, next: str | None = None) -> RedirectResponse:
    """End the session server-side, clear the cookie, and go to ``next``."""
    sign_out(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(safe_next(request, next), status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
