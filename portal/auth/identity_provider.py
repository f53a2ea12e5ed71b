"""What an external identity provider tells the portal about a person, and the protocol of such a provider.

The sign-in routes talk to a provider through :class:`IdentityProvider`; the
OpenID Connect implementation is :mod:`portal.auth.oidc`. Services only see
:class:`ExternalProfile`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

CANCELLED, FAILED, UNAVAILABLE = "cancelled", "failed", "unavailable"
"""Why a provider sign-in did not complete: the person cancelled, the exchange failed, the provider is unreachable."""

ERROR_PARAM = "provider_error"
"""The sign-in page's query parameter that says why a provider sign-in came back unfinished."""


@dataclass(frozen=True, slots=True)
class ExternalProfile:
    """A person as a provider vouches for them; ``issuer`` and ``subject`` together name them for good."""

    issuer: str
    subject: str
    email: str
    email_verified: bool
    name: str
    groups: tuple[str, ...] = ()
    claims: Mapping[str, Any] = field(default_factory=dict)


class SignInFlowFailed(Exception):
    """A provider sign-in did not complete: ``reason`` is :data:`CANCELLED`, :data:`FAILED` or :data:`UNAVAILABLE`.

    ``return_to`` is where the sign-in was meant to go on to, so the person can be sent back to try again.
    """

    def __init__(self, reason: str, detail: str, return_to: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.return_to = return_to


class IdentityProvider(Protocol):
    """A provider people sign in with through their browser (redirect out, come back to a callback)."""

    name: str

    async def start(self, request: Request, callback_url: str, return_to: str) -> Response:
        """Send the browser to the provider; it comes back to ``callback_url``, then goes on to ``return_to``."""
        ...

    async def finish(self, request: Request) -> tuple[ExternalProfile, str]:
        """Complete the sign-in at the callback: who signed in, and the ``return_to`` given to :meth:`start`.

        Raises :class:`SignInFlowFailed` when the person cancelled or the exchange with the provider failed.
        """
        ...
