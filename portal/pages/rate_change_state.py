"""State of a price change's page at ``/staff/rate-changes/<id>``: the change, its product's rates over time, and
discarding a draft. Its simulation and scheduling are the shared panel's
(:class:`portal.pages.simulation_state.SimulationState`)."""

from __future__ import annotations

from datetime import UTC, datetime

import reflex as rx
from reflex.event import EventSpec

from portal.components.access import LOADING
from portal.components.rate_timeline import timeline_rows
from portal.pages.staff_routes import RATE_CHANGES_ROUTE, id_in_path, rate_card_href
from portal.services import rate_changes
from portal.services.errors import ServiceError
from portal.services.identity import Identity
from portal.services.rate_changes import RateCardView, RateChangeView
from portal.state.access import load_guarded
from portal.state.session import identity_of, session_ended


def _read(identity: Identity, change_id: str) -> tuple[RateChangeView, RateCardView]:
    """The change and its rate card (staff only)."""
    change = rate_changes.change_detail(identity, change_id)
    return change, rate_changes.rate_card(identity, change.rate_card_id)


class RateChangeState(rx.State):
    """One price change: what it sets from when, its product's timeline, and the discard confirmation."""

    access: str = LOADING
    denied_reason: str = ""
    change_id: str = ""
    card_name: str = ""
    card_href: str = ""
    product: str = ""
    product_id: str = ""
    starts: str = ""
    price: str = ""
    unit: str = ""
    status: str = ""
    is_draft: bool = False
    timeline: list[dict[str, str]] = []
    discard_open: bool = False

    @rx.event
    def load(self) -> None:
        """Load the change in the address and its product's rates (staff only)."""
        change_id = id_in_path(self, RATE_CHANGES_ROUTE)
        read = load_guarded(self, lambda identity: _read(identity, change_id))
        if read is None:
            return
        change, card = read
        self.change_id, self.card_name, self.card_href = change.id, card.name, rate_card_href(card.id)
        self.product, self.product_id = change.product, change.product_id
        self.starts = f"{change.starting_at:%Y-%m-%d %H:%M} UTC"
        self.price, self.unit, self.status = change.price_label, change.credit_type_id, change.status
        self.is_draft = change.status == rate_changes.DRAFT
        own = [r for r in card.rates if r.product_id == change.product_id]
        self.timeline = timeline_rows(own, datetime.now(UTC))
        self.discard_open = False

    @rx.event
    def set_discard_open(self, is_open: bool) -> None:
        """Ask for (or drop) the confirmation before discarding the draft."""
        self.discard_open = is_open and self.is_draft

    @rx.event
    def discard(self) -> list[EventSpec] | EventSpec | None:
        """Discard the draft and its simulations, then go back to its rate card."""
        identity = identity_of(self)
        self.discard_open = False
        if identity is None:
            return session_ended()
        try:
            rate_changes.discard(identity, self.change_id)
        except ServiceError as exc:
            return rx.toast.error(str(exc))
        return [rx.toast.success(f"Discarded the new price of {self.product}."), rx.redirect(self.card_href)]
