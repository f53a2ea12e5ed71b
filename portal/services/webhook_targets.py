"""Where outgoing webhooks may go: public internet addresses only, unless the installation allows private ones.

An endpoint URL is chosen by a customer's admin, and the portal's server sends requests to it: without a check,
an admin could make the server call addresses only it can reach (its own loopback services, the cloud's metadata
service at 169.254.169.254, databases on the private network): server-side request forgery. So the URL's host is
resolved and every address it resolves to must be publicly routable: loopback, private, shared (carrier-grade NAT),
link-local, multicast, reserved, unspecified and documentation ranges are refused, in IPv4 and IPv6 alike, also when
an IPv6 address embeds an IPv4 one (``::ffff:127.0.0.1``, 6to4, Teredo, NAT64).

The check runs when an endpoint is added and again before every delivery, since what a name resolves to can change
after it was added. (The HTTP client resolves the name once more when it connects; a name whose answer flips within
that moment is not caught.) Redirects are not followed, so a public receiver cannot bounce a delivery inward.
``PORTAL_WEBHOOKS_ALLOW_PRIVATE=true`` turns the check off, for on-premise installations whose receivers live on the
private network.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from portal.config import get_settings
from portal.services.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver; an IP literal resolves to itself)."""
    answers = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(answer[4][0]) for answer in answers))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64), which are what it reaches."""
    embedded = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if address in _NAT64:
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [a for a in embedded if a is not None]


def _kind(address: IPAddress) -> str:
    """Why ``address`` is not a public one, in words, or empty when it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        for inner in _embedded_ipv4(address):
            if why := _kind(inner):
                return f"{why} (inside the IPv6 address {address})"
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((why for refused, why in checks if refused), "")


def refusal(address: str) -> str:
    """Why a webhook may not be sent to ``address`` (an IP address), or empty when it may."""
    return _kind(ipaddress.ip_address(address.split("%", 1)[0]))


def check_target(url: str) -> None:
    """Refuse (:class:`InvalidInput`, naming the URL and why) an http(s) ``url`` whose host does not resolve or
    resolves to an address that is not public; nothing is checked when private targets are allowed."""
    if get_settings().webhooks_allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        addresses = resolve(host, port)
    except (OSError, UnicodeError, ValueError) as exc:
        raise InvalidInput(
            f"The webhook URL {url[:200]!r} cannot be used: its host {host!r} does not resolve ({exc})."
        ) from None
    if not addresses:
        raise InvalidInput(f"The webhook URL {url[:200]!r} cannot be used: its host {host!r} resolves to no address.")
    for address in addresses:
        if why := refusal(address):
            raise InvalidInput(
                f"The webhook URL {url[:200]!r} is refused: its host {host!r} resolves to {address}, {why}. "
                "Webhooks go to public internet addresses only (an on-premise installation can allow private "
                "ones with PORTAL_WEBHOOKS_ALLOW_PRIVATE=true)."
            )
