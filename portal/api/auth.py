"""Sign-in cookies and the OpenID Connect flow: the HTTP half of signing in and out.

* ``GET /api/auth/session`` exchanges a one-time sign-in token for an HTTP-only
  session cookie; ``GET /api/auth/logout`` ends the session server-side and
  clears the cookie. Both refuse requests another site started (cross-site
  request forgery: signing someone in to an attacker's account, or out).
* ``GET /api/auth/oidc/login`` sends the browser to the OpenID Connect provider;
  ``GET /api/auth/oidc/callback`` is where it comes back: the person is matched
  or created, and the same session cookie is set. The callback is cross-site by
  nature; the flow's ``state``, bound to a cookie of the browser that started
  it, and PKCE protect it.

Every redirect stays on this host or goes to ``PORTAL_PUBLIC_URL`` (no open
redirects). See ``portal/services/identity.py`` for the session design.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from portal.auth import oidc
from portal.auth.identity_provider import CANCELLED, ERROR_PARAM, SignInFlowFailed
from portal.auth.origin import is_cross_site, is_local_path
from portal.config import get_settings
from portal.services.errors import Forbidden, NotFound
from portal.services.identity import SESSION_COOKIE, activate_session, sign_out
from portal.services.oidc_accounts import ProviderSignInRefused, sign_in_with_provider

router = APIRouter(prefix="/api/auth", tags=["sign-in"])
log = logging.getLogger(__name__)


def safe_next(request: Request, next_url: str | None, default: str = "/") -> str:
    """``next_url`` when it is a local path or a URL on the request's own host, else ``default``."""
    if not next_url or "\\" in next_url or not next_url.isprintable():
        return default
    if is_local_path(next_url):
        return next_url
    parts = urlsplit(next_url)
    if parts.scheme in ("http", "https") and parts.hostname == request.url.hostname:
        return next_url
    return default


def same_site_only(request: Request) -> None:
    """Refuse a request that a page on another site made the browser send."""
    if is_cross_site(request.headers):
        raise Forbidden("This request came from another site, so it was refused: use the portal's own pages.")


def _signed_in(request: Request, ticket: str, landing: str) -> RedirectResponse:
    """Activate the one-time ``ticket``, set it as the session cookie, and go to ``landing`` (a checked address).

    A session the browser carried before is ended: it is replaced, never reused (no session fixation)."""
    activate_session(ticket)
    previous = request.cookies.get(SESSION_COOKIE)
    if previous and previous != ticket:
        sign_out(previous)
    response = RedirectResponse(landing, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        ticket,
        max_age=get_settings().session_days * 86_400,
        httponly=True,
        secure=request.url.scheme == "https" or get_settings().production,
        samesite="lax",
        path="/",
    )
    return response


@router.get("/session", status_code=303, include_in_schema=False, dependencies=[Depends(same_site_only)])
def start_session(request: Request, ticket: str, next: str | None = None) -> RedirectResponse:
    """Activate a one-time sign-in ticket and set the session cookie."""
    return _signed_in(request, ticket, safe_next(request, next))


@router.get("/logout", status_code=303, include_in_schema=False, dependencies=[Depends(same_site_only)])
def logout(request: Request, next: str | None = None) -> RedirectResponse:
    """End the session server-side, clear the cookie, and go to ``next``."""
    sign_out(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(safe_next(request, next), status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _provider() -> oidc.OidcProvider:
    provider = oidc.configured_provider()
    if provider is None:
        raise NotFound("Sign-in through an OpenID Connect provider is not configured on this portal.")
    return provider


def _ui_origin(url: str) -> str:
    """``scheme://host:port`` of ``url``; empty for a local path (the UI is served by this host)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""


def _back_to_sign_in(next_url: str, reason: str) -> RedirectResponse:
    """Back to the sign-in page of the UI ``next_url`` is on, which explains ``reason``."""
    query = urlencode({ERROR_PARAM: reason})
    response = RedirectResponse(f"{_ui_origin(next_url)}/sign-in?{query}", status_code=303)
    oidc.clear_flow_cookie(response)
    return response


def _flow_failed(failure: SignInFlowFailed) -> RedirectResponse:
    """Log why a provider sign-in did not complete (unless the person cancelled) and explain it on the sign-in page."""
    if failure.reason != CANCELLED:
        log.warning("Sign-in through the OpenID Connect provider did not complete (%s): %s", failure.reason, failure)
    return _back_to_sign_in(failure.return_to, failure.reason)


@router.get("/oidc/login", include_in_schema=False)
async def oidc_login(request: Request, next: str | None = None) -> Response:
    """Start signing in at the provider.

    ``next`` is the UI page to land on afterwards, on this host; when it is only
    the UI's address (no path), the user lands in their own area.
    """
    provider = _provider()
    next_url = safe_next(request, next, default=get_settings().public_url)
    try:
        return await provider.start(request, str(request.url_for("oidc_callback")), next_url)
    except SignInFlowFailed as failure:
        return _flow_failed(failure)


@router.get("/oidc/callback", name="oidc_callback", include_in_schema=False)
async def oidc_callback(request: Request) -> Response:
    """Finish the provider sign-in, set the session cookie, and go on to the page asked for, or the user's area."""
    provider = _provider()
    try:
        profile, next_url = await provider.finish(request)
    except SignInFlowFailed as failure:
        return _flow_failed(failure)
    try:
        pending = await run_in_threadpool(sign_in_with_provider, profile)
    except ProviderSignInRefused as refused:
        return _back_to_sign_in(next_url, refused.reason)
    parts = urlsplit(next_url)
    landing = next_url if parts.path.strip("/") else f"{_ui_origin(next_url)}{pending.identity.home_path}"
    response = await run_in_threadpool(_signed_in, request, pending.token, landing)
    oidc.clear_flow_cookie(response)
    return response
