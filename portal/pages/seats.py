"""Seats and members: who holds the account's seats, changing the seat count with a preview, inviting and removing
members."""

from __future__ import annotations

import reflex as rx
from reflex.event import EventSpec

from portal.components.access import LOADING, guarded
from portal.components.layout import page_header, shell
from portal.services import billing, members
from portal.services.errors import ServiceError
from portal.services.identity import Identity
from portal.state.access import load_guarded
from portal.state.session import identity_of, session_ended


def _overview(identity: Identity) -> tuple[billing.ContractView, list[members.MemberView]]:
    customer_id = identity.customer_id or ""
    return billing.contract_view(identity, customer_id), members.members(identity, customer_id)


class SeatsState(rx.State):
    """The seat counts, the members, and a pending seat-count change with its preview."""

    access: str = LOADING
    denied_reason: str = ""
    package: str = ""
    seats: int = 0
    assigned: int = 0
    people: list[dict[str, str]] = []
    new_count: str = ""
    preview_now: str = ""
    preview_next: str = ""
    preview_ready: bool = False
    error: str = ""
    remove_email: str = ""
    invite_email: str = ""
    invite_name: str = ""
    invite_error: str = ""

    def _refresh(self, identity: Identity) -> None:
        contract, people = _overview(identity)
        self.package, self.seats = contract.package, contract.seats
        self.assigned = len(contract.seat_ids)
        self.people = [
            {"email": m.email, "name": m.name, "role": m.role, "seat": "holds a seat" if m.holds_seat else "no seat"}
            for m in people
        ]
        self.new_count = str(contract.seats)

    @rx.event
    def load(self) -> None:
        """Load seats and members (admins of the account only)."""
        if load_guarded(self, _overview) is not None:
            identity = identity_of(self)
            if identity is not None:
                self._refresh(identity)
        self.preview_ready, self.error, self.invite_error = False, "", ""

    @rx.event
    def set_new_count(self, value: str) -> None:
        """Remember the count typed; a new preview is needed."""
        self.new_count, self.preview_ready, self.error = value, False, ""

    def _count(self) -> int | None:
        if not self.new_count.strip().isdigit():
            self.error = "Enter a whole number of seats."
            return None
        return int(self.new_count)

    @rx.event
    def preview(self) -> EventSpec | None:
        """Show what the new seat count costs now and from the next period, before confirming."""
        identity, count = identity_of(self), self._count()
        if identity is None:
            return session_ended()
        if count is None:
            return None
        try:
            result = billing.preview_seats(identity, identity.customer_id or "", quantity=count)
        except ServiceError as exc:
            self.error = str(exc)
            return None
        self.preview_now, self.preview_next, self.preview_ready = result.due_now, result.next_period, True
        return None

    @rx.event
    def confirm(self) -> EventSpec | None:
        """Change the seat count; an increase is charged at once, a decrease takes effect at period end."""
        identity, count = identity_of(self), self._count()
        if identity is None:
            return session_ended()
        if count is None:
            return None
        try:
            _, invoice = billing.change_seats(identity, identity.customer_id or "", quantity=count)
        except ServiceError as exc:
            self.error, self.preview_ready = str(exc), False
            return None
        self._refresh(identity)
        self.preview_ready = False
        charged = f" {invoice.total_due} was charged." if invoice else ""
        return rx.toast.success(f"The account now has {count} seats.{charged}")

    @rx.event
    def ask_remove(self, email: str) -> None:
        """Ask for confirmation before removing a member."""
        self.remove_email = email

    @rx.event
    def cancel_remove(self) -> None:
        """Keep the member."""
        self.remove_email = ""

    @rx.event
    def remove(self) -> EventSpec | None:
        """Remove the member the confirmation was for; their seat becomes free."""
        identity, email = identity_of(self), self.remove_email
        self.remove_email = ""
        if identity is None:
            return session_ended()
        try:
            members.remove_member(identity, identity.customer_id or "", email)
        except ServiceError as exc:
            self.error = str(exc)
            return None
        self._refresh(identity)
        return rx.toast.success(f"{email} was removed; their seat is free.")

    @rx.event
    def set_invite_email(self, value: str) -> None:
        """Remember the address typed for an invitation."""
        self.invite_email, self.invite_error = value, ""

    @rx.event
    def set_invite_name(self, value: str) -> None:
        """Remember the name typed for an invitation."""
        self.invite_name = value

    @rx.event
    def invite(self) -> EventSpec | None:
        """Give the person typed a free seat and mail them a link to join."""
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        try:
            member = members.invite_member(identity, identity.customer_id or "", self.invite_email, self.invite_name)
        except ServiceError as exc:
            self.invite_error = str(exc)
            return None
        self.invite_email, self.invite_name, self.invite_error = "", "", ""
        self._refresh(identity)
        return rx.toast.success(f"{member.email} holds a seat now; we mailed them a link to join.")


def _person(person: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.text(person["name"], weight="medium"), rx.text(person["email"], size="1", color_scheme="gray")
        ),
        rx.table.cell(rx.badge(person["role"], variant="soft")),
        rx.table.cell(person["seat"]),
        rx.table.cell(
            rx.cond(
                person["role"] == "member",
                rx.button(
                    "Remove",
                    size="1",
                    color_scheme="red",
                    variant="soft",
                    on_click=SeatsState.ask_remove(person["email"]),
                    class_name="remove-member",
                ),
            )
        ),
        class_name="member-row",
    )


def _count_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Seat count", size="4"),
            rx.text(
                f"{SeatsState.seats} seats on {SeatsState.package}; {SeatsState.assigned} assigned.",
                id="seat-summary",
            ),
            rx.hstack(
                rx.input(
                    value=SeatsState.new_count,
                    on_change=SeatsState.set_new_count,
                    type="number",
                    min=0,
                    width="100px",
                    id="seat-count",
                ),
                rx.button("Preview", on_click=SeatsState.preview, variant="soft", id="preview-seats"),
                align="center",
            ),
            rx.cond(
                SeatsState.preview_ready,
                rx.vstack(
                    rx.text("Due now: ", rx.text.strong(SeatsState.preview_now, id="preview-now")),
                    rx.text("Change per period from the next one: ", rx.text.strong(SeatsState.preview_next)),
                    rx.button("Confirm change", on_click=SeatsState.confirm, id="confirm-seats"),
                    spacing="2",
                ),
            ),
            rx.text(
                "More seats are charged at once, prorated for the rest of the period; fewer seats take effect at "
                "the end of the period.",
                size="1",
                color_scheme="gray",
            ),
            spacing="3",
        ),
        size="3",
        width="100%",
    )


def _invite_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Invite a member", size="4"),
            rx.text(
                "They get one of the free seats and an email with a link to choose their password.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                SeatsState.invite_error != "",
                rx.callout(SeatsState.invite_error, icon="triangle-alert", color_scheme="red", id="invite-error"),
            ),
            rx.form(
                rx.hstack(
                    rx.input(
                        placeholder="Email address",
                        type="email",
                        value=SeatsState.invite_email,
                        on_change=SeatsState.set_invite_email,
                        id="invite-email",
                        width="260px",
                    ),
                    rx.input(
                        placeholder="Name (optional)",
                        value=SeatsState.invite_name,
                        on_change=SeatsState.set_invite_name,
                        id="invite-name",
                        width="200px",
                    ),
                    rx.button("Invite", type="submit", id="invite-submit"),
                    spacing="2",
                    wrap="wrap",
                ),
                on_submit=lambda _: SeatsState.invite(),
                reset_on_submit=False,
            ),
            rx.text(
                f"{SeatsState.seats - SeatsState.assigned} free seats.",
                size="1",
                color_scheme="gray",
                id="free-seats",
            ),
            spacing="3",
        ),
        size="3",
        width="100%",
    )


def _remove_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Remove this member?"),
            rx.alert_dialog.description(
                SeatsState.remove_email + " will no longer see the account, and their seat becomes free."
            ),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Keep", variant="soft", color_scheme="gray", on_click=SeatsState.cancel_remove)
                ),
                rx.alert_dialog.action(
                    rx.button("Remove", color_scheme="red", on_click=SeatsState.remove, id="confirm-remove")
                ),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
        ),
        open=SeatsState.remove_email != "",
    )


def seats_page() -> rx.Component:
    """Seat count with preview and the members list."""
    return shell(
        guarded(
            SeatsState.access,
            SeatsState.denied_reason,
            rx.vstack(
                page_header("Seats and members", "Who holds the account's seats."),
                rx.cond(
                    SeatsState.error != "",
                    rx.callout(SeatsState.error, icon="triangle-alert", color_scheme="red", id="seats-error"),
                ),
                _count_card(),
                _invite_card(),
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Person"),
                            rx.table.column_header_cell("Role"),
                            rx.table.column_header_cell("Seat"),
                            rx.table.column_header_cell(""),
                        )
                    ),
                    rx.table.body(rx.foreach(SeatsState.people, _person)),
                    variant="surface",
                    width="100%",
                    id="members",
                ),
                _remove_dialog(),
                width="100%",
                align="start",
                spacing="4",
            ),
        )
    )
