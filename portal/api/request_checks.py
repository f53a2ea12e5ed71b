"""Checks and messages for requests the routes never see: bodies FastAPI cannot parse or validate, and text
no database can store (a NUL character, an unpaired surrogate), each refused with a message naming the field."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request

from portal.services.errors import InvalidInput
from portal.services.text import unstorable

_PLACES = {"body": "body field", "query": "query parameter", "path": "path parameter", "header": "header"}
MAX_NAMED_ERRORS = 3


def _named(error: Mapping[str, Any]) -> str:
    """One request validation error as a sentence naming the parameter or body field."""
    if error.get("type") == "json_invalid":
        return f"The body is not valid JSON: {error.get('ctx', {}).get('error', error['msg'])}"
    place, *path = (str(part) for part in error["loc"])
    if not path:
        return f"The request {place}: {error['msg']}"
    return f"{_PLACES.get(place, place)} {'.'.join(path)!r}: {error['msg']}"


def validation_detail(errors: Sequence[Mapping[str, Any]]) -> str:
    """The message of a 422 for a request FastAPI could not validate: the first few fields and what is wrong."""
    named = [_named(error) for error in errors[:MAX_NAMED_ERRORS]]
    more = len(errors) - MAX_NAMED_ERRORS
    return "; ".join(named) + (f" (and {more} more)" if more > 0 else "")


def unreadable_body(cause: BaseException | None) -> str | None:
    """Why a body could not be read as JSON at all (not UTF-8, nested too deeply), or None for other causes."""
    if isinstance(cause, UnicodeDecodeError):
        return f"The body is not valid JSON: it is not UTF-8 text ({cause.reason} at byte {cause.start})."
    if isinstance(cause, RecursionError):
        return "The body is not valid JSON: it is nested too deeply."
    return None


def _unstorable_at(value: Any, path: str) -> tuple[str, str] | None:
    """The first place in a parsed JSON value whose text (a string or an object's key) cannot be stored, and why."""
    if isinstance(value, str):
        reason = unstorable(value)
        return (path, reason) if reason else None
    children: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            reason = unstorable(key)
            if reason:
                return (f"{path}.{key}" if path else key, f"is a key that {reason}")
            children.append((f"{path}.{key}" if path else key, item))
    elif isinstance(value, list):
        children = [(f"{path}.{index}" if path else str(index), item) for index, item in enumerate(value)]
    return next((found for child, item in children if (found := _unstorable_at(item, child))), None)


async def refuse_unstorable_text(request: Request) -> None:
    """Refuse (422) a path parameter, query parameter or JSON body field holding text no database can store: a NUL
    character (``\\u0000``) or an unpaired surrogate (``\\ud800``); no name, id or search term needs either."""
    params = [("path parameter", name, value) for name, value in request.path_params.items()]
    params += [("query parameter", name, value) for name, value in request.query_params.multi_items()]
    for place, name, value in params:
        reason = unstorable(name) or unstorable(str(value))
        if reason:
            raise InvalidInput(f"{place} {name!r} {reason}; remove it.")
    body = await request.body()
    if b"\\u0000" not in body and b"\\ud" not in body.lower():
        return
    try:
        found = _unstorable_at(json.loads(body), "")
    except (ValueError, RecursionError):
        return  # not JSON: the route's own parsing names what is wrong
    if found is not None:
        path, reason = found
        raise InvalidInput(f"body field {path or '(the body)'!r} {reason}; remove it.")
