"""Cross-page state: who is signed in.

The session cookie is HTTP-only; the browser's scripts never see it. It
reaches the backend with the websocket connection, and :func:`identity_of`
resolves it against the database on every page load and in every handler
that needs a user, so a forged, expired or signed-out session yields nobody.
"""

from __future__ import annotations

import json
from http.cookies import CookieError, SimpleCookie
from urllib.parse import quote

import reflex as rx
from reflex.event import EventSpec

from portal.services import identity as identity_service
from portal.services.identity import SESSION_COOKIE, Identity


def session_token(state: rx.State) -> str | None:
    """The session token from the cookie header of this browser tab's connection."""
    header = state.router.headers.cookie
    if not header:
        return None
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(header)
    except CookieError:
        return None
    morsel = cookies.get(SESSION_COOKIE)
    return morsel.value if morsel else None


def identity_of(state: rx.State) -> Identity | None:
    """The signed-in identity of the tab ``state`` belongs to, or None."""
    return identity_service.resolve_session(session_token(state))


def backend_url(state: rx.State, path: str) -> str:
    """An absolute URL of ``path`` on the backend this tab is connected to (for full-page navigation)."""
    origin = state.router.headers.origin or ""
    scheme = "https" if origin.startswith("https") else "http"
    return f"{scheme}://{state.router.headers.host}{path}"


def frontend_url(state: rx.State, path: str) -> str:
    """An absolute URL of ``path`` on the frontend this tab was loaded from."""
    return f"{state.router.headers.origin}{path}"


class SessionState(rx.State):
    """The signed-in user, as small view fields (no ids the browser does not need)."""

    user_name: str = ""
    user_email: str = ""
    customer_name: str = ""
    is_staff: bool = False
    is_customer_user: bool = False
    is_enterprise_admin: bool = False
    can_manage_keys: bool = False
    checked: bool = False

    @rx.var
    def signed_in(self) -> bool:
        """True when someone is signed in."""
        return self.user_email != ""

    @rx.event
    def load(self) -> None:
        """Resolve the session cookie into the view fields (every page runs this on load)."""
        identity = identity_of(self)
        self.user_name = identity.name if identity else ""
        self.user_email = identity.email if identity else ""
        self.customer_name = identity.customer_name if identity else ""
        self.is_staff = bool(identity and identity.is_staff)
        self.is_customer_user = bool(identity and identity.customer_id)
        self.is_enterprise_admin = bool(identity and identity.is_enterprise_admin)
        self.can_manage_keys = bool(identity and (identity.is_staff or identity.is_customer_admin))
        self.checked = True

    @rx.event
    def sign_out(self) -> EventSpec:
        """End the session server-side, then let the API clear the cookie and come back to the pricing page."""
        identity_service.sign_out(session_token(self))
        return navigate_to(backend_url(self, f"/api/auth/logout?next={quote(frontend_url(self, '/'), safe='')}"))


def navigate_to(url: str) -> EventSpec:
    """A full-page navigation (not a client-side route change), so a new cookie reaches the server."""
    return rx.call_script(f"window.location.assign({json.dumps(url)})")
