"""Cross-page state: who is signed in.

The session cookie is HTTP-only; the browser's scripts never see it. It
reaches the backend with the websocket connection, and :func:`identity_of`
resolves it against the database on every page load and in every handler
that needs a user, so a forged, expired or signed-out session yields nobody.

A page on another site can open our websocket too, and the browser would send
the cookie along (cross-site websocket hijacking): the cookie only counts when
the connection's ``Origin`` names the host it was sent to.

A handler that needs a user and finds none returns :func:`session_ended`,
which tells the person "Your session has ended: sign in again".
"""

from __future__ import annotations

import json
from http.cookies import CookieError, SimpleCookie
from urllib.parse import quote

import reflex as rx
from reflex.event import EventSpec

from portal.auth.origin import is_local_path, origin_matches_host
from portal.services import identity as identity_service
from portal.services import local_accounts
from portal.services.errors import InvalidInput
from portal.services.identity import SESSION_COOKIE, Identity


def session_token(state: rx.State) -> str | None:
    """The session token from the cookie header of this browser tab's connection (None from another site)."""
    headers = state.router.headers
    if not headers.cookie or not origin_matches_host(headers.origin, headers.host):
        return None
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(headers.cookie)
    except CookieError:
        return None
    morsel = cookies.get(SESSION_COOKIE)
    return morsel.value if morsel else None


def identity_of(state: rx.State) -> Identity | None:
    """The signed-in identity of the tab ``state`` belongs to, or None."""
    return identity_service.resolve_session(session_token(state))


def client_address(state: rx.State) -> str:
    """The network address of the browser this tab runs in (for sign-in limits)."""
    return state.router.session.client_ip


def backend_url(state: rx.State, path: str) -> str:
    """An absolute URL of ``path`` on the backend this tab is connected to (for full-page navigation)."""
    origin = state.router.headers.origin or ""
    scheme = "https" if origin.startswith("https") else "http"
    return f"{scheme}://{state.router.headers.host}{path}"


def frontend_url(state: rx.State, path: str) -> str:
    """An absolute URL of ``path`` on the frontend this tab was loaded from."""
    return f"{state.router.headers.origin}{path}"


def requested_page(state: rx.State) -> str:
    """The local page named by this page's ``next`` parameter (where to go after signing in), or empty."""
    next_path = state.router.url.query_parameters.get("next", "")
    return next_path if is_local_path(next_path) else ""


def next_query(state: rx.State) -> str:
    """``?next=…`` passing this page's ``next`` parameter on to another account page, or empty."""
    page = requested_page(state)
    return f"?next={quote(page, safe='')}" if page else ""


def start_session(state: rx.State, pending: identity_service.PendingSignIn) -> EventSpec:
    """Hand a pending sign-in's one-time token to the API, which sets the cookie and goes on to the next page.

    That page is the one the ``next`` parameter asked for, else the user's own area.
    """
    landing = quote(frontend_url(state, requested_page(state) or pending.identity.home_path), safe="")
    return navigate_to(backend_url(state, f"/api/auth/session?ticket={pending.token}&next={landing}"))


def session_ended() -> EventSpec:
    """What a handler that needs a user returns when there is none: the "sign in again" notice."""
    return SessionState.end_session()


class SessionState(rx.State):
    """The signed-in user, as small view fields (no ids the browser does not need)."""

    user_name: str = ""
    user_email: str = ""
    customer_name: str = ""
    is_staff: bool = False
    is_customer_user: bool = False
    is_enterprise_admin: bool = False
    is_department_admin: bool = False
    can_manage_keys: bool = False
    needs_verification: bool = False
    ended: bool = False
    sign_in_again_url: str = "/sign-in"
    checked: bool = False

    @rx.var
    def signed_in(self) -> bool:
        """True when someone is signed in."""
        return self.user_email != ""

    def _show(self, identity: Identity | None) -> None:
        self.user_name = identity.name if identity else ""
        self.user_email = identity.email if identity else ""
        self.customer_name = identity.customer_name if identity else ""
        self.is_staff = bool(identity and identity.is_staff)
        self.is_customer_user = bool(identity and identity.customer_id)
        self.is_enterprise_admin = bool(identity and identity.is_enterprise_admin)
        self.is_department_admin = bool(identity and identity.is_department_admin)
        self.can_manage_keys = bool(identity and (identity.is_staff or identity.is_customer_admin))
        self.needs_verification = bool(identity and not identity.email_verified)

    @rx.event
    def load(self) -> None:
        """Resolve the session cookie into the view fields (every page runs this on load)."""
        self._show(identity_of(self))
        self.ended = False
        self.checked = True

    @rx.event
    def end_session(self) -> None:
        """Show that the session has ended (expired, or signed out elsewhere), and nobody is signed in here."""
        self._show(None)
        url = self.router.url
        here = f"{url.path}?{url.query}" if url.query else url.path
        self.sign_in_again_url = f"/sign-in?next={quote(here, safe='')}"
        self.ended = True

    @rx.event
    def resend_verification(self) -> EventSpec:
        """Mail a new verification link to the signed-in user."""
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        try:
            local_accounts.resend_verification(identity)
        except InvalidInput as exc:
            return rx.toast.info(str(exc))
        return rx.toast.success(f"We sent a new link to {identity.email}.")

    @rx.event
    def sign_out(self) -> EventSpec:
        """End the session server-side, then let the API clear the cookie and come back to the pricing page."""
        identity_service.sign_out(session_token(self))
        return navigate_to(backend_url(self, f"/api/auth/logout?next={quote(frontend_url(self, '/'), safe='')}"))


def navigate_to(url: str) -> EventSpec:
    """A full-page navigation (not a client-side route change), so a new cookie reaches the server."""
    return rx.call_script(f"window.location.assign({json.dumps(url)})")
