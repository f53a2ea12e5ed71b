"""The usage watcher's rounds: every touched customer is handled, and rounds under steady ingest are spaced."""

from __future__ import annotations

import threading
import time
from itertools import pairwise

from portal.services.usage_watch import ROUND_SECONDS, UsageWatcher


class _Recorder(UsageWatcher):
    name = "test-recorder"

    def __init__(self) -> None:
        super().__init__()
        self.rounds: list[tuple[float, set[str]]] = []
        self.done = threading.Event()

    def handle(self, customer_ids: set[str]) -> None:
        self.rounds.append((time.monotonic(), set(customer_ids)))
        if "last" in customer_ids:
            self.done.set()


def test_steady_touches_are_gathered_into_spaced_rounds_and_none_is_lost() -> None:
    watcher = _Recorder()
    touched = [f"cus_{n}" for n in range(60)]
    for customer in touched:  # a busy ingest: a touch every 10 ms for 0.6 s
        watcher.touched([customer])
        time.sleep(0.01)
    watcher.touched(["last"])
    assert watcher.done.wait(5)
    starts = [at for at, _ in watcher.rounds]
    assert all(later - earlier >= ROUND_SECONDS for earlier, later in pairwise(starts))
    assert len(watcher.rounds) < len(touched) / 5  # dozens of touches, a handful of rounds
    assert set().union(*(customers for _, customers in watcher.rounds)) == {*touched, "last"}


def test_a_failing_round_is_logged_and_the_next_touch_is_still_handled() -> None:
    class Flaky(_Recorder):
        def handle(self, customer_ids: set[str]) -> None:
            super().handle(customer_ids)
            if "boom" in customer_ids:
                raise RuntimeError("the database went away")

    watcher = Flaky()
    watcher.touched(["boom"])
    time.sleep(0.05)
    watcher.touched(["last"])
    assert watcher.done.wait(5)
    assert [customers for _, customers in watcher.rounds] == [{"boom"}, {"last"}]
