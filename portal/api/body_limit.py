"""A size limit on the bodies of ``/api`` requests: 1 MiB, except ingest, which allows 5 MiB and checks that
itself (see :mod:`portal.api.ingest`). Anything larger is refused with 413 naming the limit, before the route
reads it: at once when ``Content-Length`` says so, otherwise as soon as that much has arrived."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.services.errors import TooLarge

MIB = 1024 * 1024
MAX_BODY_BYTES = MIB
CHECKED_PREFIX = "/api/"
SELF_LIMITED = frozenset({"/api/v1/ingest"})


def too_large(what: str, limit: int) -> TooLarge:
    """The refusal of a body over ``limit`` bytes."""
    return TooLarge(f"{what} is larger than the {limit / MIB:g} MiB limit.")


class BodyLimit:
    """ASGI middleware refusing ``/api`` request bodies over :data:`MAX_BODY_BYTES` (the routes that read a body
    raise :class:`TooLarge` from it; the app's handlers answer 413)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(CHECKED_PREFIX) or path in SELF_LIMITED:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            refusal = too_large("The request body", self.limit)
            await JSONResponse({"detail": str(refusal)}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise too_large("The request body", self.limit)
            return message

        await self.app(scope, limited_receive, send)
