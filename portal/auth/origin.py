"""Where a browser request came from: the checks against cross-site request forgery and websocket hijacking.

A page on another site can make the browser open our websocket, or navigate to
our sign-in routes, and the browser attaches our cookies. Browsers say where
such requests come from (``Origin``, ``Sec-Fetch-Site``) and scripts cannot
forge those headers, so the server compares them with the ``Host`` the request
was sent to. Only host names are compared: in development the UI and the
backend listen on different ports of the same host.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit


def _host_name(authority: str) -> str:
    """The lower-case host name in ``host[:port]`` (an IPv6 literal without its brackets)."""
    return (urlsplit(f"//{authority}").hostname or "").lower()


def origin_matches_host(origin: str | None, host: str | None) -> bool:
    """True when ``origin`` (a browser's ``Origin`` header) names the host the request was sent to.

    A missing or opaque (``null``) origin does not match: browsers always send
    one when they open a websocket.
    """
    if not origin or not host or origin == "null":
        return False
    origin_host = (urlsplit(origin).hostname or "").lower()
    return origin_host != "" and origin_host == _host_name(host)


def is_cross_site(headers: Mapping[str, str]) -> bool:
    """True when the browser says another site started this HTTP request.

    ``Sec-Fetch-Site: cross-site`` decides in current browsers, also for top-level
    navigations (which carry no ``Origin``); otherwise an ``Origin`` that names
    another host does.
    """
    if headers.get("sec-fetch-site", "").lower() == "cross-site":
        return True
    origin = headers.get("origin")
    return origin is not None and not origin_matches_host(origin, headers.get("host"))


def is_local_path(url: str) -> bool:
    """True when ``url`` is a path on this site (``/customer?x=1``), not an address elsewhere.

    Browsers read a backslash as a slash, so ``/\\evil.example`` would leave the site: it is not local.
    """
    return url.startswith("/") and not url.startswith("//") and "\\" not in url and url.isprintable()
