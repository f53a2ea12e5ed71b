"""The account page's "Spend caps" panel, and the notice a member sees when their seat is capped.

Admins set a hard cap per billing period on what the whole account's usage, or one seat's, may cost (in the
contract's currency, before credits), see each cap's spend with a bar, and remove a cap after confirming. Once
a cap is reached, ingest refuses the usage it covers (:mod:`portal.services.spend_caps` holds the rules and
decides who may change caps); a member whose seat (or account) is capped sees a notice on their dashboard.
"""

from __future__ import annotations

import reflex as rx
from reflex.event import EventSpec

from portal.components.account_forms import error_message
from portal.components.dialogs import dialog_buttons, native_select
from portal.components.layout import labelled, panel
from portal.services import spend_caps
from portal.services.errors import ServiceError
from portal.services.spend_caps import CapView
from portal.state.access import administered_customer
from portal.state.session import identity_of, session_ended

WHOLE_ACCOUNT = ""
"""The form's seat value that caps the whole account."""


class SpendCapsState(rx.State):
    """The caps of the admin's account (or the member's notice), the cap form and the removal to confirm."""

    shown: bool = False
    unit: str = ""
    period: str = ""
    caps: list[CapView] = []
    seats: list[str] = []
    seat: str = WHOLE_ACCOUNT
    amount: str = ""
    error: str = ""
    confirm_open: bool = False
    removing: str = ""
    removing_label: str = ""
    notice: str = ""

    @rx.event
    def load(self) -> None:
        """Read the account's caps (admins) or whether the member's seat is capped (members)."""
        identity = identity_of(self)
        self.shown, self.notice = False, ""
        if identity is None:
            return
        customer_id = administered_customer(identity)
        if customer_id is None:
            self.notice = spend_caps.own_cap_notice(identity)
            return
        try:
            view = spend_caps.caps_view(identity, customer_id)
        except ServiceError:
            return
        self.shown = view.unit != ""
        self.unit, self.period, self.seats = view.unit, view.period, list(view.seats)
        self.caps = list(view.caps)

    @rx.event
    def set_seat(self, value: str) -> None:
        """Remember whose cap the form sets (the whole account, or a seat)."""
        self.seat, self.error = value, ""

    @rx.event
    def set_amount(self, value: str) -> None:
        """Remember the cap typed."""
        self.amount, self.error = value, ""

    @rx.event
    def save(self) -> EventSpec | None:
        """Set the cap typed for the whole account or the chosen seat."""
        customer_id = administered_customer(identity := identity_of(self))
        if identity is None or customer_id is None:
            return session_ended()
        try:
            standing = spend_caps.set_cap(identity, customer_id, self.amount, self.seat or None)
        except ServiceError as exc:
            self.error = str(exc)
            return None
        self.amount, self.error = "", ""
        self.load()
        who = standing.holder if standing.seat_id else "the whole account"
        return rx.toast.success(f"Spend cap of {who} set to {standing.money(standing.cap)} per period.")

    @rx.event
    def ask_remove(self, seat_id: str, holder: str) -> None:
        """Ask to confirm removing a cap."""
        self.removing, self.removing_label, self.confirm_open = seat_id, holder, True

    @rx.event
    def set_confirm_open(self, value: bool) -> None:
        """Close (or reopen) the confirmation."""
        self.confirm_open = value

    @rx.event
    def remove(self) -> EventSpec | None:
        """Remove the confirmed cap: its usage is let through again at once."""
        customer_id = administered_customer(identity := identity_of(self))
        if identity is None or customer_id is None:
            return session_ended()
        self.confirm_open = False
        try:
            spend_caps.remove_cap(identity, customer_id, self.removing or None)
        except ServiceError as exc:
            self.error = str(exc)
            return None
        self.load()
        return rx.toast.success(f"Spend cap of {self.removing_label} removed.")


# --- layout ----------------------------------------------------------------------------------------


def _cap_row(row: rx.Var[CapView]) -> rx.Component:
    reached = row.reached
    return rx.table.row(
        rx.table.cell(row.holder),
        rx.table.cell(rx.text(row.spent, " of ", row.cap, white_space="nowrap")),
        rx.table.cell(
            rx.progress(value=row.percent, max=100, color_scheme=rx.cond(reached, "red", "blue"), width="140px")
        ),
        rx.table.cell(
            rx.cond(
                reached,
                rx.badge("Capped: usage refused", color_scheme="red"),
                rx.badge("Under the cap", color_scheme="green"),
            )
        ),
        rx.table.cell(
            rx.button(
                "Remove",
                size="1",
                variant="soft",
                color_scheme="red",
                on_click=SpendCapsState.ask_remove(row.seat_id, row.holder),
                class_name="remove-spend-cap",
            )
        ),
        class_name="spend-cap",
    )


def _caps_table() -> rx.Component:
    return rx.cond(
        SpendCapsState.caps.length() > 0,
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h)
                        for h in ("Who", f"Spent in {SpendCapsState.period}", "", "Status", "")
                    ]
                )
            ),
            rx.table.body(rx.foreach(SpendCapsState.caps, _cap_row)),
            variant="ghost",
            width="100%",
            id="spend-caps",
        ),
        rx.text("No spend caps: usage is never refused for its cost.", size="2", color_scheme="gray"),
    )


def _cap_form() -> rx.Component:
    return rx.form(
        rx.hstack(
            labelled(
                "Cap",
                native_select(
                    "seat",
                    "spend-cap-seat",
                    rx.fragment(
                        rx.el.option("Whole account", value=WHOLE_ACCOUNT),
                        rx.foreach(SpendCapsState.seats, lambda s: rx.el.option(f"Seat {s}", value=s)),
                    ),
                    value=SpendCapsState.seat,
                    on_change=SpendCapsState.set_seat,
                ),
            ),
            labelled(
                f"Per period ({SpendCapsState.unit})",
                rx.input(
                    value=SpendCapsState.amount,
                    on_change=SpendCapsState.set_amount,
                    placeholder="50.00",
                    inputmode="decimal",
                    id="spend-cap-amount",
                    width="100%",
                ),
            ),
            rx.button("Set cap", type="submit", id="set-spend-cap"),
            align="end",
            spacing="3",
            width="100%",
            max_width="560px",
        ),
        on_submit=lambda _: SpendCapsState.save(),
        reset_on_submit=False,
        width="100%",
    )


def _confirm_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(f"Remove the spend cap of {SpendCapsState.removing_label}?"),
            rx.dialog.description("Usage it refuses is let through again at once.", size="2", margin_bottom="16px"),
            dialog_buttons(
                rx.button(
                    "Remove cap",
                    type="button",
                    color_scheme="red",
                    on_click=SpendCapsState.remove,
                    id="confirm-remove-cap",
                )
            ),
            max_width="440px",
        ),
        open=SpendCapsState.confirm_open,
        on_open_change=SpendCapsState.set_confirm_open,
    )


def spend_caps_panel() -> rx.Component:
    """Spend caps of the admin's account: spend against each cap, the cap form, removal with confirmation."""
    return rx.box(
        rx.cond(
            SpendCapsState.shown,
            panel(
                "Spend caps",
                f"A hard limit on what usage may cost per billing period, in {SpendCapsState.unit} before credits. "
                "Once a cap is reached, usage sent for the account or seat is refused until the next period or "
                "until you raise the cap.",
                _caps_table(),
                _cap_form(),
                error_message(SpendCapsState.error, "spend-cap-error"),
                _confirm_dialog(),
                id="spend-caps-panel",
            ),
        ),
        on_mount=SpendCapsState.load,
        width="100%",
    )


def spend_cap_notice() -> rx.Component:
    """A member's notice that their seat (or account) has reached its spend cap; nothing otherwise."""
    return rx.box(
        rx.cond(
            SpendCapsState.notice != "",
            rx.callout(SpendCapsState.notice, icon="octagon-x", color_scheme="red", id="seat-capped", width="100%"),
        ),
        on_mount=SpendCapsState.load,
        width="100%",
    )
