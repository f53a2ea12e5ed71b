"""State of the package editor at ``/staff/packages/<version id>``: the draft's form and the line-up preview.

The form is uncontrolled: the browser keeps what was typed, and Save sends it
all to :func:`portal.services.packages.update_draft`, which checks every field
and names the wrong one; nothing is saved unless all are right. After a save
the form is drawn again from what the service stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from portal.components.access import LOADING
from portal.components.tier_card import TierRow, tier_rows
from portal.pages.staff_packages import ROUTE as PACKAGES_ROUTE
from portal.pages.staff_routes import id_in_path
from portal.services import package_migrations, packages, rate_changes
from portal.services.catalog import TierCard, lineup_preview
from portal.services.errors import InvalidInput, ServiceError
from portal.services.identity import Identity
from portal.services.packages import VersionView
from portal.state.access import load_guarded
from portal.state.session import identity_of, session_ended

ROUTE = f"{PACKAGES_ROUTE}/[package_version_id]"
TERMS = (
    "tagline",
    "seat_price",
    "min_seats",
    "max_seats",
    "credits_per_seat",
    "credit_type_id",
    "credit_allocation",
    "pool_per_seat",
    "trial_days",
    "features",
    "seat_increases",
    "seat_decreases",
    "credit_proration",
    "billing_frequency",
    "rate_card_id",
    "entitlements",
    "overrides",
    "included_grants",
)
"""The draft's terms the form edits (the service's field names)."""
PACKAGE_FIELDS = ("name", "rank")
"""Fields of the tier itself, editable until the tier is first published."""
NO_CREDIT_TYPE = "none"
"""The credit-type choice meaning "no credits" (a select cannot offer an empty value)."""


def version_id_of(state: rx.State) -> str:
    """The version id in this tab's address (``/staff/packages/<id>``), or empty."""
    return id_in_path(state, PACKAGES_ROUTE)


def form_values(view: VersionView) -> dict[str, str]:
    """The form's starting values: the version's terms and its tier's name and rank, as text."""
    terms = view.terms
    values = {name: "" if terms.get(name) is None else str(terms[name]) for name in TERMS}
    values["features"] = "\n".join(terms.get("features") or [])
    values["entitlements"] = "\n".join(f"{k} = {json.dumps(v)}" for k, v in (terms.get("entitlements") or {}).items())
    values["overrides"] = json.dumps(terms["overrides"], indent=2) if terms.get("overrides") else ""
    values["included_grants"] = "\n".join(
        f"{g['kind']} {g['amount']} {g['credit_type_id']}" for g in terms.get("included_grants") or []
    )
    values["credit_type_id"] = values["credit_type_id"] or NO_CREDIT_TYPE
    values["name"], values["rank"] = view.name, str(view.rank)
    return values


def changes_from(form: dict[str, Any], new_package: bool) -> dict[str, Any]:
    """The fields of a submitted form as :func:`portal.services.packages.update_draft` takes them."""
    names = (*PACKAGE_FIELDS, *TERMS) if new_package else TERMS
    changes: dict[str, Any] = {name: str(form[name]) for name in names if name in form}
    if changes.get("credit_type_id") == NO_CREDIT_TYPE:
        changes["credit_type_id"] = ""
    if "entitlements" in changes:
        changes["entitlements"] = entitlements_from(changes["entitlements"])
    if "included_grants" in changes:
        changes["included_grants"] = included_from(changes["included_grants"])
    if "overrides" in changes:
        text = changes["overrides"].strip()
        try:
            changes["overrides"] = json.loads(text) if text else []
        except ValueError as exc:
            raise InvalidInput(f"The overrides are not valid JSON: {exc}.") from None
    return changes


def included_from(text: str) -> list[dict[str, str]]:
    """``credit 1000 ai-credits`` lines (kind, amount, unit) as the service takes them; it checks each."""
    included: list[dict[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words:
            continue
        if len(words) != 3:
            raise InvalidInput(f"Included line {number} ({line.strip()!r}) is not 'kind amount unit'.")
        kind, amount, unit = words
        included.append({"kind": kind, "amount": amount.replace(",", ""), "credit_type_id": unit})
    return included


def entitlements_from(text: str) -> dict[str, Any]:
    """``api_access = true`` lines as a mapping (true/false and whole numbers as such; anything else as written,
    for the service to refuse by name)."""
    found: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = (part.strip() for part in line.partition("="))
        if not sep or not name:
            raise InvalidInput(f"Entitlement line {number} ({line.strip()!r}) is not 'name = value'.")
        lowered = value.lower()
        found[name] = True if lowered == "true" else False if lowered == "false" else value
    return found


@dataclass(frozen=True)
class _Loaded:
    """What the editor shows of a version."""

    view: VersionView
    lineup: list[TierCard]
    credit_types: list[str]
    rate_cards: list[list[str]]
    migration: tuple[int, str]


def _read(identity: Identity, version_id: str) -> _Loaded:
    """The version, the line-up with it in place, the credit types a tier's credits may be in, and (for a
    published version) how many contracts are on older versions and why they cannot move yet (staff only)."""
    view = packages.version_detail(identity, version_id)
    cards = [list(card) for card in rate_changes.list_rate_cards(identity)]
    pending = package_migrations.pending_count(identity, version_id) if view.status == packages.PUBLISHED else (0, "")
    return _Loaded(view, lineup_preview(identity, version_id), packages.credit_type_ids(identity), cards, pending)


class EditorState(rx.State):
    """One package version: its header, the form's values, the preview, and the discard confirmation."""

    access: str = LOADING
    denied_reason: str = ""
    version_id: str = ""
    tier_name: str = ""
    tier_key: str = ""
    version_label: str = ""
    status: str = ""
    is_draft: bool = False
    new_package: bool = False
    published_at: str = ""
    values: dict[str, str] = {}
    form_key: str = ""
    save_error: str = ""
    credit_types: list[str] = []
    rate_cards: list[list[str]] = []
    lineup: list[TierRow] = []
    discard_open: bool = False
    migration_pending: int = 0
    migration_blocker: str = ""
    migration_open: bool = False
    _revision: int = 0

    @rx.event
    def load(self) -> None:
        """Load the version in the address, the line-up preview and the form (staff only)."""
        version_id = version_id_of(self)
        read = load_guarded(self, lambda identity: _read(identity, version_id))
        if read is None:
            return
        self.migration_pending, self.migration_blocker = read.migration
        self.save_error, self.discard_open, self.migration_open = "", False, False
        self._show(read.view, read.lineup)
        self.credit_types, self.rate_cards = read.credit_types, read.rate_cards

    def _show(self, view: VersionView, lineup: list[TierCard]) -> None:
        self.version_id, self.tier_name, self.tier_key = view.id, view.name, view.key
        self.version_label, self.status = f"v{view.version}", view.status
        self.is_draft, self.new_package = view.status == packages.DRAFT, view.new_package
        self.published_at = view.published_at[:10]
        self.values = form_values(view)
        self.lineup = tier_rows(lineup, highlight=view.key)
        self._revision += 1
        self.form_key = f"{view.id}-{self._revision}"

    @rx.event
    def save(self, form: dict[str, Any]) -> EventSpec | None:
        """Save the form into the draft; on a refusal keep what was typed and show the service's reason."""
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        try:
            view = packages.update_draft(identity, self.version_id, changes_from(form, self.new_package))
            lineup = lineup_preview(identity, self.version_id)
        except ServiceError as exc:
            self.save_error = str(exc)
            return None
        self.save_error = ""
        self._show(view, lineup)
        return rx.toast.success(f"Saved {view.name} v{view.version}.")

    @rx.event
    def set_migration_open(self, is_open: bool) -> None:
        """Ask for (or drop) the confirmation before migrating customers."""
        self.migration_open = is_open

    @rx.event
    def schedule_migration(self) -> EventSpec | None:
        """Move the contracts on older versions to this one from their next period; say how many moved."""
        identity = identity_of(self)
        self.migration_open = False
        if identity is None:
            return session_ended()
        try:
            migration = package_migrations.schedule(identity, self.version_id)
            self.migration_pending, self.migration_blocker = package_migrations.pending_count(identity, self.version_id)
        except ServiceError as exc:
            return rx.toast.error(str(exc))
        left = f"; {len(migration.skipped)} already had a change scheduled" if migration.skipped else ""
        return rx.toast.success(
            f"{len(migration.scheduled)} contracts move to {self.tier_name} {self.version_label} from their next "
            f"period{left}."
        )

    @rx.event
    def set_discard_open(self, is_open: bool) -> None:
        """Ask for (or drop) the confirmation before discarding the draft."""
        self.discard_open = is_open

    @rx.event
    def discard(self) -> list[EventSpec] | EventSpec | None:
        """Discard the draft (and its simulations), then go back to the packages list."""
        identity = identity_of(self)
        self.discard_open = False
        if identity is None:
            return session_ended()
        try:
            packages.discard_draft(identity, self.version_id)
        except ServiceError as exc:
            return rx.toast.error(str(exc))
        return [rx.toast.success(f"Discarded the draft of {self.tier_name}."), rx.redirect(PACKAGES_ROUTE)]
