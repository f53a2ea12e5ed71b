"""Work that follows stored usage, off the request path: the ingest API tells each :class:`UsageWatcher` which
customers had usage stored, and the watcher's own thread handles them within a second (enterprise alerts,
auto-recharge). Customers touched while a round runs are gathered for the next round, so a busy ingest costs one
round at a time, never one per request.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable

ROUND_SECONDS = 0.25
"""The shortest time from the start of one round to the start of the next: usage is handled within a second, and
a busy ingest costs at most four rounds a second."""


class UsageWatcher(ABC):
    """Handles, on its own thread, the customers whose usage was stored since it last looked.

    A subclass names its thread (:attr:`name`) and implements :meth:`handle`. An error there is logged and never
    reaches ingest: the customers' next usage handles them again.
    """

    name = "usage-watcher"
    """The thread's name (shown in thread dumps)."""

    def __init__(self) -> None:
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def touched(self, customer_ids: Iterable[str]) -> None:
        """Note that usage of ``customer_ids`` was stored: they are handled within a second (cheap: the watcher's
        thread does the reading)."""
        with self._lock:
            self._dirty.update(customer_ids)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        self._wake.set()

    @abstractmethod
    def handle(self, customer_ids: set[str]) -> None:
        """Do this watcher's work for customers whose usage was stored (on the watcher's thread)."""

    def _run(self) -> None:
        log = logging.getLogger(type(self).__module__)
        while True:
            self._wake.wait(timeout=30)
            self._wake.clear()
            with self._lock:
                dirty, self._dirty = self._dirty, set()
            if not dirty:
                continue
            started = time.monotonic()
            try:
                self.handle(dirty)
            except Exception:  # work after ingest must never take ingest down; the next usage tries again
                log.exception("%s: handling stored usage failed", self.name)
            # Under steady ingest, gather the customers of the next round for a while rather than starting it at
            # once: rounds stay a fraction of a second apart, and the work of a round is shared by more usage.
            time.sleep(max(0.0, ROUND_SECONDS - (time.monotonic() - started)))
