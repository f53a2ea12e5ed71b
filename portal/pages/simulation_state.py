"""State of the simulation panel: simulate a proposal over real usage, follow the run, review it, then act on it.

One panel serves two kinds of proposal (a :class:`Subject`): a package draft,
which is then published, and a price change on a rate card, which is then
scheduled. The page's address names the proposal; the state keeps its kind and
id. A run starts in a thread of the server (:mod:`portal.services.simulation`);
:meth:`SimulationState.follow`, a background event, reads its progress every
:data:`POLL_SECONDS` until it is no longer running. The final action stays
disabled, with the service's reason shown, until a simulation of exactly this
proposal has finished and been acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from portal.pages.package_editor_state import EditorState
from portal.pages.staff_packages import ROUTE as PACKAGES_ROUTE
from portal.pages.staff_routes import RATE_CHANGES_ROUTE, id_in_path, rate_card_href
from portal.services import packages, rate_changes, simulation
from portal.services.errors import ServiceError
from portal.services.identity import Identity
from portal.services.simulation import DEFAULT_PERIODS, MAX_PERIODS, RUNNING, SimulationView
from portal.state.session import identity_of, session_ended

POLL_SECONDS = 0.3
"""How often a running simulation's progress is read."""
PERIOD_CHOICES = [str(n) for n in range(1, MAX_PERIODS + 1)]

_SORT_KEYS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "customer": lambda row: (str(row["customer"]).casefold(), row["contract_id"]),
    "current": lambda row: row["current_minor"],
    "proposed": lambda row: row["proposed_minor"],
    "difference": lambda row: row["difference_minor"],
    "burn_change": lambda row: Decimal(str(row["burn_change"])),
}
"""The columns the per-customer table sorts by, each with the exact figure it sorts on."""


def _trend(number: int | Decimal) -> str:
    return "up" if number > 0 else "down" if number < 0 else "same"


def _runs_out(row: Mapping[str, Any]) -> str:
    """Whether the customer runs out of seat credits, now and with the draft, in words."""
    now, proposed = bool(row["ran_out_current"]), bool(row["ran_out_proposed"])
    if now and proposed:
        return "Both"
    if proposed:
        return "Newly"
    return "No longer" if now else "—"


def customer_row(row: Mapping[str, Any]) -> dict[str, str]:
    """One affected customer as the table shows it (all figures preformatted by the service)."""
    return {
        "customer": str(row["customer"]),
        "contract_id": str(row["contract_id"]),
        "currency": str(row["currency"]),
        "periods": str(row["periods"]),
        "current": str(row["current"]),
        "proposed": str(row["proposed"]),
        "difference": str(row["difference"]),
        "trend": _trend(int(row["difference_minor"])),
        "burn_change": str(row["burn_change_label"]),
        "burn_trend": _trend(Decimal(str(row["burn_change"]))),
        "runs_out": _runs_out(row),
        "newly_runs_out": "yes" if row["newly_runs_out"] else "",
    }


def total_row(total: Mapping[str, Any]) -> dict[str, str]:
    """One currency's totals as the summary shows them."""
    return {
        "currency": str(total["currency"]),
        "customers": str(total["customers"]),
        "current": str(total["current"]),
        "proposed": str(total["proposed"]),
        "difference": str(total["difference"]),
        "trend": _trend(int(total["difference_minor"])),
        "paying_more": str(total["paying_more"]),
        "paying_less": str(total["paying_less"]),
        "paying_same": str(total["paying_same"]),
        "newly_running_out": str(total["newly_running_out"]),
    }


def sorted_rows(rows: Sequence[Mapping[str, Any]], column: str, descending: bool) -> list[Mapping[str, Any]]:
    """The service's rows sorted by ``column`` (exact figures, not their labels)."""
    return sorted(rows, key=_SORT_KEYS.get(column, _SORT_KEYS["customer"]), reverse=descending)


Finished = tuple[str, list[EventSpec]]
"""After the final action: the proposal's blocker now, and what the page does next (a toast, a reload...)."""


@dataclass(frozen=True)
class Subject:
    """A kind of proposal the panel simulates: where its id is in the address, and the services it calls."""

    kind: str
    route: str
    """The proposal's page is at ``<route>/<id>``."""
    blocker: Callable[[Identity, str], str]
    """Why the final action is refused yet ('' when it is allowed)."""
    start: Callable[[Identity, str, int], SimulationView]
    """Start simulating the proposal over that many closed periods."""
    finish: Callable[[Identity, str], Finished]
    """The final action (publish, schedule)."""
    acknowledged: str
    """What staff are told once they acknowledged the results."""


def _publish(identity: Identity, version_id: str) -> Finished:
    """Publish a package draft: new customers get it from now on; the editor turns read-only."""
    published = packages.publish(identity, version_id)
    return published.publish_blocker, [
        rx.toast.success(f"Published {published.name} v{published.version}: new customers get it."),
        EditorState.load,
    ]


def _schedule(identity: Identity, change_id: str) -> Finished:
    """Schedule a price change, then show its rate card with the new rate in the timeline."""
    change = rate_changes.schedule(identity, change_id)
    return change.schedule_blocker, [
        rx.toast.success(
            f"Scheduled: {change.product} at {change.price_label} from {change.starting_at:%Y-%m-%d %H:%M} UTC, "
            "for every subscriber of the card."
        ),
        rx.redirect(rate_card_href(change.rate_card_id)),
    ]


PACKAGE_DRAFT = Subject(
    kind="package_draft",
    route=PACKAGES_ROUTE,
    blocker=lambda identity, version_id: packages.version_detail(identity, version_id).publish_blocker,
    start=simulation.start,
    finish=_publish,
    acknowledged="Results acknowledged: the draft may be published.",
)
PRICE_CHANGE = Subject(
    kind="price_change",
    route=RATE_CHANGES_ROUTE,
    blocker=lambda identity, change_id: rate_changes.change_detail(identity, change_id).schedule_blocker,
    start=simulation.start_price_change,
    finish=_schedule,
    acknowledged="Results acknowledged: the change may be scheduled.",
)
SUBJECTS = {subject.kind: subject for subject in (PACKAGE_DRAFT, PRICE_CHANGE)}


def subject_in_address(state: rx.State) -> tuple[Subject, str] | None:
    """The kind of proposal this tab's page shows, and its id (None on another page)."""
    for subject in SUBJECTS.values():
        subject_id = id_in_path(state, subject.route)
        if subject_id:
            return subject, subject_id
    return None


class SimulationState(rx.State):
    """The newest simulation of the proposal on the page, and whether its final action is allowed yet."""

    periods: str = str(DEFAULT_PERIODS)
    blocker: str = ""
    has_run: bool = False
    status: str = ""
    percent: int = 0
    progress_label: str = ""
    error: str = ""
    current: bool = True
    simulated_periods: str = ""
    created: str = ""
    acknowledged_by: str = ""
    totals: list[dict[str, str]] = []
    rows: list[dict[str, str]] = []
    sort_column: str = "customer"
    sort_descending: bool = False
    confirm_open: bool = False
    _kind: str = ""
    _subject_id: str = ""
    _simulation_id: str = ""
    _rows: list[dict[str, Any]] = []

    def _subject(self) -> Subject:
        return SUBJECTS[self._kind]

    @rx.event
    def load(self) -> EventSpec | None:
        """Read the newest simulation of the proposal in the address; follow it when it is still running."""
        self.reset()
        found = subject_in_address(self)
        identity = identity_of(self)
        if identity is None or found is None:
            return None
        self._kind, self._subject_id = found[0].kind, found[1]
        if not self._reload(identity):  # the page shows why it is not available
            return None
        return SimulationState.follow if self.status == RUNNING else None

    @rx.event
    def refresh(self) -> EventSpec | None:
        """Read the blocker and the newest simulation again (after the proposal was edited)."""
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        if self._kind:
            self._reload(identity)
        return None

    def _blocker(self, identity: Identity) -> str:
        return self._subject().blocker(identity, self._subject_id)

    def _reload(self, identity: Identity) -> bool:
        """Read the blocker and the newest simulation; False when the service refused."""
        try:
            self.blocker = self._blocker(identity)
            latest = simulation.latest(identity, self._subject_id)
        except ServiceError:
            return False
        self._show(latest)
        return True

    def _show(self, view: SimulationView | None) -> None:
        self.has_run = view is not None
        if view is None:
            self._simulation_id, self.status, self._rows, self.rows, self.totals = "", "", [], [], []
            return
        self._simulation_id, self.status, self.percent, self.error = view.id, view.status, view.percent, view.error
        self.current, self.acknowledged_by = view.current, view.acknowledged_by
        self.simulated_periods = str(view.periods)
        self.created = f"{view.created_by}, {view.created_at:%Y-%m-%d %H:%M} UTC"
        self.progress_label = (
            f"Simulating… {view.done} of {view.total} accounts" if view.total else "Simulating… finding the customers"
        )
        self._rows = [dict(row) for row in view.rows]
        self.totals = [total_row(t) for t in view.totals]
        self._sort()

    def _sort(self) -> None:
        self.rows = [customer_row(r) for r in sorted_rows(self._rows, self.sort_column, self.sort_descending)]

    @rx.event
    def set_periods(self, periods: str) -> None:
        """Choose how many closed periods the next run replays."""
        self.periods = periods if periods in PERIOD_CHOICES else str(DEFAULT_PERIODS)

    @rx.event
    def run(self) -> EventSpec | None:
        """Start simulating the proposal, then follow its progress."""
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        if not self._kind:
            return None
        try:
            started = self._subject().start(identity, self._subject_id, int(self.periods))
            self.blocker = self._blocker(identity)
        except ServiceError as exc:
            return rx.toast.error(str(exc))
        self._show(started)
        return SimulationState.follow if started.status == RUNNING else None

    @rx.event(background=True, supersedes=True)
    async def follow(self) -> EventSpec | None:
        """Read the running simulation's progress until it has finished or failed (while its page is open)."""
        while True:
            await asyncio.sleep(POLL_SECONDS)
            found = subject_in_address(self)
            if found is None or found[1] != self._subject_id or not self._simulation_id:
                return None
            identity = await asyncio.to_thread(identity_of, self)
            if identity is None:
                return session_ended()
            try:
                view = await asyncio.to_thread(simulation.view, identity, self._simulation_id)
                finished = view.status != RUNNING
                blocker = await asyncio.to_thread(self._blocker, identity) if finished else ""
            except ServiceError:
                return None
            async with self:
                if view.id != self._simulation_id:
                    return None
                self._show(view)
                if finished:
                    self.blocker = blocker
                    return None

    @rx.event
    def sort_by(self, column: str) -> None:
        """Sort the per-customer table by ``column``; a second click on it reverses the order."""
        if identity_of(self) is None or column not in _SORT_KEYS:
            return
        if column == self.sort_column:
            self.sort_descending = not self.sort_descending
        else:
            self.sort_column, self.sort_descending = column, column != "customer"
        self._sort()

    @rx.event
    def download_csv(self) -> EventSpec | None:
        """Download the per-customer rows of the shown simulation as CSV."""
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        try:
            view = simulation.view(identity, self._simulation_id)
        except ServiceError as exc:
            return rx.toast.error(str(exc))
        return rx.download(data=simulation.as_csv(view), filename=f"simulation-{view.id}.csv", mime_type="text/csv")

    @rx.event
    def acknowledge(self) -> EventSpec | None:
        """Record that the results were reviewed, which the final action (publish, schedule) needs."""
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        try:
            view = simulation.acknowledge(identity, self._simulation_id)
            self.blocker = self._blocker(identity)
        except ServiceError as exc:
            return rx.toast.error(str(exc))
        self._show(view)
        return rx.toast.success(self._subject().acknowledged)

    @rx.event
    def set_confirm_open(self, is_open: bool) -> None:
        """Ask for (or drop) the confirmation before the final action; only while it is allowed."""
        self.confirm_open = is_open and self.blocker == ""

    @rx.event
    def finish(self) -> list[EventSpec] | EventSpec | None:
        """The final action: publish the package draft, or schedule the price change."""
        identity = identity_of(self)
        self.confirm_open = False
        if identity is None:
            return session_ended()
        if not self._kind:
            return None
        try:
            self.blocker, then = self._subject().finish(identity, self._subject_id)
        except ServiceError as exc:
            self._reload(identity)
            return rx.toast.error(str(exc))
        return then
