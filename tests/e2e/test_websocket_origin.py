"""Cross-site websocket hijacking, against the running app: a page on another site can make a browser open the
portal's websocket with the portal's cookie attached, but the session only counts when ``Origin`` names the
portal's own host.

A Socket.IO client plays that browser: it connects with the session cookie and
an ``Origin`` header, sends the event every page sends on load, and reads who
the app says is signed in.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor

import socketio
from reflex.config import get_config
from reflex.testing import AppHarness

from portal.services.demo import DEMO_PASSWORD
from portal.services.identity import SESSION_COOKIE, activate_session, sign_in
from portal.state.session import SessionState

NAMESPACE = "/_event"  # Reflex's event namespace, also the Socket.IO path


async def _signed_in_email_seen(backend: str, cookie: str, origin: str) -> bool:
    """Open the websocket like a browser tab with ``cookie`` and ``origin``; True when the app names the user."""
    updates: list[dict[str, object]] = []
    loaded = asyncio.Event()
    client = socketio.AsyncClient(reconnection=False)

    @client.on("event", namespace=NAMESPACE)
    async def on_update(update: dict[str, object]) -> None:
        updates.append(update)
        if SessionState.get_full_name() in json.dumps(update.get("delta", {})):
            loaded.set()

    await client.connect(
        f"{backend}?token={uuid.uuid4()}",
        headers={"Cookie": f"{SESSION_COOKIE}={cookie}", "Origin": origin},
        transports=["websocket"],
        socketio_path=NAMESPACE,
        namespaces=[NAMESPACE],
    )
    try:
        await client.emit(
            "event",
            {
                "name": f"{SessionState.get_full_name()}.load",
                "payload": {},
                "router_data": {"pathname": "/customer", "asPath": "/customer"},
            },
            namespace=NAMESPACE,
        )
        await asyncio.wait_for(loaded.wait(), timeout=30)
    finally:
        await client.disconnect()
    return "admin@acme.test" in json.dumps(updates)


def _in_own_loop(work: Coroutine[object, object, bool]) -> bool:
    """Run ``work`` on an event loop of its own thread (Playwright's sync API owns this thread's loop)."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, work).result()


def test_the_session_counts_only_on_a_websocket_from_the_portals_own_pages(portal_app: AppHarness) -> None:
    pending = sign_in("admin@acme.test", DEMO_PASSWORD)
    activate_session(pending.token)
    assert portal_app.frontend_url is not None
    own_pages = portal_app.frontend_url.rstrip("/").replace("://localhost:", "://127.0.0.1:")
    backend = get_config().api_url.rstrip("/")
    seen = _in_own_loop(_signed_in_email_seen(backend, pending.token, own_pages))
    assert seen, "the portal's own pages must see the signed-in user"
    assert not _in_own_loop(_signed_in_email_seen(backend, pending.token, "https://evil.example"))
