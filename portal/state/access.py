"""Loading a protected page's data: resolve the user, run the query, record the access outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

import reflex as rx

from portal.components.access import FORBIDDEN, MISSING, OK, SIGNED_OUT
from portal.services.errors import Forbidden, NotFound
from portal.services.identity import Identity
from portal.state.session import identity_of

T = TypeVar("T")


class GuardedPage(Protocol):
    """A page state with the two access fields :func:`load_guarded` sets."""

    access: str
    denied_reason: str


def administered_customer(identity: Identity | None) -> str | None:
    """The customer ``identity`` is an admin of (who may manage its card, credits, caps and alerts), or None."""
    if identity is None or identity.customer_id is None or not identity.is_customer_admin:
        return None
    return identity.customer_id


def load_guarded(state: rx.State, query: Callable[[Identity], T]) -> T | None:
    """Run ``query`` for the signed-in user; set ``state.access`` to ok, signed_out, forbidden or missing."""
    page: GuardedPage = state  # type: ignore[assignment]
    identity = identity_of(state)
    if identity is None:
        page.access, page.denied_reason = SIGNED_OUT, ""
        return None
    try:
        result = query(identity)
    except Forbidden as exc:
        page.access, page.denied_reason = FORBIDDEN, str(exc)
        return None
    except NotFound as exc:
        page.access, page.denied_reason = MISSING, str(exc)
        return None
    page.access, page.denied_reason = OK, ""
    return result
