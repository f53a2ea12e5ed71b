"""Errors a use case reports to its caller (an API route or a UI handler).

Each carries a message meant for the person who caused it. Adapters map them:
:class:`NotFound` to 404, :class:`Forbidden` to 403, :class:`NotSignedIn` to
401, :class:`TooLarge` to 413, :class:`InvalidInput` to 422.
"""

from __future__ import annotations


class ServiceError(Exception):
    """A use case refused the request; ``str(error)`` says why."""


class InvalidInput(ServiceError):
    """The request named something wrong (a field, a value)."""


class TooLarge(InvalidInput):
    """The request is larger than a limit (body, decompressed body); the message names the limit."""


class NotFound(ServiceError):
    """What the request named does not exist (or is not visible to the caller)."""


class NotSignedIn(ServiceError):
    """The request needs a signed-in user and has none, or the session expired."""


class Forbidden(ServiceError):
    """The signed-in user may not do this."""
