"""Driving the UI's Reflex event handlers in the test process, as a browser tab's websocket would.

A tab is the root state with every substate of the imported pages, carrying the headers of a websocket opened by
the portal's own pages (the session cookie, an ``Origin`` naming the host) and the address of the page it is on.
:func:`fire` runs one handler on the tab's substate with the arguments a browser would send; a handler that needs
the running app's state manager (a background event) cannot run this way.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from typing import Any

import reflex as rx
from reflex.event import EventHandler

import portal.pages
import portal.state
from portal.services.identity import SESSION_COOKIE

HOST = "portal.test:8000"


def portal_states() -> list[type[rx.State]]:
    """Every state class of the portal's pages and cross-page state (importing all of their modules)."""
    for package in (portal.pages, portal.state):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")

    def below(cls: type[rx.State]) -> Iterator[type[rx.State]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from below(sub)

    return sorted({c for c in below(rx.State) if c.__module__.startswith("portal.")}, key=lambda c: c.__name__)


def browser_arguments(handler: EventHandler) -> list[str]:
    """The parameters of ``handler`` a browser fills in (all but ``self``)."""
    return list(inspect.signature(handler.fn).parameters)[1:]


def tab(session: str | None, path: str = "/") -> rx.State:
    """A tab on ``path`` signed in with the session token ``session`` (None: signed out)."""
    portal_states()
    root = rx.State(_reflex_internal_init=True)
    cookie = f"{SESSION_COOKIE}={session}" if session else ""
    headers = {"cookie": cookie, "origin": f"http://{HOST}", "host": HOST}
    root._update_router_vars({"headers": headers, "pathname": path, "asPath": path}, {})
    return root


def fire(root: rx.State, handler: EventHandler, *args: Any) -> Any:
    """Run ``handler`` with ``args`` on the tab's substate it belongs to; what it returned (events to send back)."""
    state = root.get_substate(handler.state_full_name.split("."))
    result = handler.fn(state, *args)
    return asyncio.run(result) if inspect.iscoroutine(result) else result


def substate(root: rx.State, cls: type[rx.State]) -> Any:
    """The tab's instance of ``cls``, to read what a handler left in it."""
    return root.get_substate(cls.get_full_name().split("."))


def reported_success(result: Any) -> bool:
    """True when a handler's answer includes a success toast."""
    return '["success"]' in repr(result)
