"""State of a rate card's page at ``/staff/rate-cards/<id>``: its rates over time, its price changes, and the form
proposing a new price change.

The form is uncontrolled (the browser keeps what was typed) except for the
price model, which decides the fields shown, and the list of tier rows.
Propose sends it all to :func:`portal.services.rate_changes.propose`, which
names what is wrong; on a refusal the form shows why and keeps its values. A
proposed change opens on its own page, to be simulated and scheduled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from portal.components.access import LOADING
from portal.components.rate_timeline import timeline_rows
from portal.pages.staff_routes import RATE_CARDS_ROUTE, id_in_path, rate_change_href
from portal.services import packages, rate_changes
from portal.services.errors import ServiceError
from portal.services.identity import Identity
from portal.services.rate_changes import RateCardView, RateChangeView
from portal.state.access import load_guarded
from portal.state.session import identity_of, session_ended

PRICE_MODELS = [
    ("flat", "Flat: one price per unit"),
    ("package", "Package: a price per block of units"),
    ("tiered", "Tiered: each tier prices the units within it"),
    ("volume", "Volume: the tier reached prices every unit"),
]
"""The price models a change may set (the service's names) and how the form describes them."""
TIERED_MODELS = ("tiered", "volume")
HOURS = [f"{hour:02d}" for hour in range(24)]


def effective_time(date: str, hour: str) -> datetime:
    """The instant a change takes effect, from the form's date (``YYYY-MM-DD``) and hour (UTC).

    Raises ``ValueError`` naming what is missing or wrong; the service checks the rest (future, whole hour).
    """
    date, hour = date.strip(), hour.strip()
    if not date:
        raise ValueError("Choose the date the new price takes effect.")
    if hour not in HOURS:
        raise ValueError("Choose the hour (UTC) the new price takes effect.")
    try:
        return datetime.strptime(f"{date} {hour}", "%Y-%m-%d %H").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"The effective date {date!r} is not a date (YYYY-MM-DD).") from None


def _text(form: Mapping[str, Any], name: str) -> str:
    return str(form.get(name, "")).strip()


def tier_field(key: str, field: str) -> str:
    """The form field name of one tier row's ``field`` (``up_to``, ``unit_price``, ``flat_fee``)."""
    return f"tier-{key}-{field}"


def price_doc(model: str, form: Mapping[str, Any], tier_keys: Sequence[str]) -> dict[str, Any]:
    """The submitted price as the service's price model document (the service checks the figures)."""
    if model == "package":
        return {"model": "package", "size": _text(form, "size"), "price_per_block": _text(form, "price_per_block")}
    if model in TIERED_MODELS:
        tiers = []
        for key in tier_keys:
            tier: dict[str, Any] = {
                "up_to": _text(form, tier_field(key, "up_to")) or None,
                "unit_price": _text(form, tier_field(key, "unit_price")),
            }
            fee = _text(form, tier_field(key, "flat_fee"))
            if fee:
                tier["flat_fee"] = fee
            tiers.append(tier)
        return {"model": model, "tiers": tiers}
    return {"model": "flat", "unit_price": _text(form, "unit_price")}


def change_rows(changes: Sequence[RateChangeView]) -> list[dict[str, str]]:
    """The card's price changes as rows of preformatted strings, drafts with why they cannot be scheduled yet."""
    return [
        {
            "id": c.id,
            "product": c.product,
            "product_id": c.product_id,
            "starts": f"{c.starting_at:%Y-%m-%d %H:%M} UTC",
            "price": c.price_label,
            "status": c.status,
            "blocker": c.schedule_blocker,
            "href": rate_change_href(c.id),
        }
        for c in changes
    ]


def first_of_next_month(now: datetime) -> datetime:
    """00:00 UTC on the first day of the month after ``now``'s (the form's suggested effective date)."""
    return (now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=32)).replace(day=1)


def _read(identity: Identity, rate_card_id: str) -> tuple[RateCardView, list[str]]:
    """The card, and the units a new price may be in: the card's own first, then the other credit types (staff
    only)."""
    card = rate_changes.rate_card(identity, rate_card_id)
    return card, list(dict.fromkeys([*(r.credit_type_id for r in card.rates), *packages.credit_type_ids(identity)]))


class RateCardState(rx.State):
    """One rate card: its timeline, its price changes, and the new-change form."""

    access: str = LOADING
    denied_reason: str = ""
    card_id: str = ""
    name: str = ""
    timeline: list[dict[str, str]] = []
    changes: list[dict[str, str]] = []
    products: list[dict[str, str]] = []
    units: list[str] = []
    default_product: str = ""
    default_unit: str = ""
    default_date: str = ""
    min_date: str = ""
    price_model: str = "flat"
    tier_keys: list[str] = []
    form_key: str = ""
    propose_error: str = ""
    _tiers_made: int = 0
    _loads: int = 0

    @rx.event
    def load(self) -> None:
        """Load the card in the address and start a blank form (staff only)."""
        card_id = id_in_path(self, RATE_CARDS_ROUTE)
        read = load_guarded(self, lambda identity: _read(identity, card_id))
        if read is None:
            return
        card, units = read
        now = datetime.now(UTC)
        self.card_id, self.name = card.id, card.name
        self.timeline = timeline_rows(card.rates, now)
        self.changes = change_rows(card.changes)
        self.products = [{"id": product_id, "name": name} for product_id, name in card.products]
        self.units = units
        self.default_product = card.products[0][0] if card.products else ""
        self.default_unit = units[0] if units else ""
        self.default_date = f"{first_of_next_month(now):%Y-%m-%d}"
        self.min_date = f"{now:%Y-%m-%d}"
        self.price_model, self.propose_error = "flat", ""
        self._tiers_made, self.tier_keys = 0, []
        self._add_tiers(2)
        self._loads += 1
        self.form_key = f"{card.id}-{self._loads}"

    def _add_tiers(self, count: int) -> None:
        for _ in range(count):
            self._tiers_made += 1
            self.tier_keys = [*self.tier_keys, f"t{self._tiers_made}"]

    @rx.event
    def set_price_model(self, model: str) -> None:
        """Show the fields of another price model."""
        if model in dict(PRICE_MODELS):
            self.price_model = model

    @rx.event
    def add_tier(self) -> None:
        """Add an empty tier row below the others."""
        self._add_tiers(1)

    @rx.event
    def remove_tier(self, key: str) -> None:
        """Remove a tier row (the last one stays)."""
        if len(self.tier_keys) > 1:
            self.tier_keys = [k for k in self.tier_keys if k != key]

    @rx.event
    def propose(self, form: dict[str, Any]) -> list[EventSpec] | EventSpec | None:
        """Propose the change as a draft and open it; on a refusal keep what was typed and show why."""
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        try:
            change = rate_changes.propose(
                identity,
                self.card_id,
                _text(form, "product_id"),
                effective_time(_text(form, "date"), _text(form, "hour")),
                price_doc(self.price_model, form, self.tier_keys),
                _text(form, "credit_type_id"),
            )
        except (ValueError, ServiceError) as exc:
            self.propose_error = str(exc)
            return None
        self.propose_error = ""
        return [
            rx.toast.success(f"Proposed {change.product} at {change.price_label}: simulate it, then schedule it."),
            rx.redirect(rate_change_href(change.id)),
        ]
