"""Plan: the account's tier, the other published tiers, and switching with a preview (upgrade now, downgrade later)."""

from __future__ import annotations

import reflex as rx
from reflex.event import EventSpec

from portal.components.access import LOADING, guarded
from portal.components.layout import page_header, shell
from portal.services import billing, purchase
from portal.services.catalog import TierCard, published_tiers
from portal.services.errors import Forbidden, ServiceError
from portal.services.identity import Identity
from portal.state.access import load_guarded
from portal.state.session import identity_of, session_ended


def _plan(identity: Identity) -> tuple[billing.ContractView, list[TierCard]]:
    contract = billing.contract_view(identity, identity.customer_id or "")
    if not identity.is_customer_admin:
        raise Forbidden("Only an admin of the account can change its plan.")
    return contract, published_tiers()


def _move(rank: int, current: int) -> str:
    if rank == current:
        return "current"
    return "upgrade" if rank > current else "downgrade"


class PlanState(rx.State):
    """The current tier, the tiers to move to, and a previewed switch awaiting confirmation."""

    access: str = LOADING
    denied_reason: str = ""
    current: str = ""
    current_rank: int = 0
    period: str = ""
    tiers: list[dict[str, str]] = []
    target: str = ""
    target_name: str = ""
    due_now: str = ""
    next_period: str = ""
    when: str = ""
    error: str = ""

    def _refresh(self, contract: billing.ContractView, tiers: list[TierCard]) -> None:
        self.current, self.current_rank, self.period = contract.package, contract.rank, contract.period
        self.tiers = [
            {
                "key": t.key,
                "name": t.name,
                "price": f"{t.seat_price} {t.per}",
                "credits": t.credits,
                "move": _move(t.rank, contract.rank),
            }
            for t in tiers
        ]

    @rx.event
    def load(self) -> None:
        """Load the plan (admins of the account only)."""
        loaded = load_guarded(self, _plan)
        if loaded is not None:
            self._refresh(*loaded)
        self.target, self.error = "", ""

    @rx.event
    def ask_switch(self, key: str, name: str, move: str) -> EventSpec | None:
        """Preview a switch to ``key`` before confirming it."""
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        try:
            result = billing.preview_switch(identity, identity.customer_id or "", key)
        except ServiceError as exc:
            self.error = str(exc)
            return None
        self.target, self.target_name, self.error = key, name, ""
        self.due_now, self.next_period = result.due_now, result.next_period
        self.when = "at once" if move == "upgrade" else "at the start of the next period"
        return None

    @rx.event
    def cancel(self) -> None:
        """Drop the previewed switch."""
        self.target = ""

    @rx.event
    def confirm(self) -> EventSpec | None:
        """Switch to the previewed tier."""
        identity, target = identity_of(self), self.target
        self.target = ""
        if identity is None:
            return session_ended()
        try:
            contract, invoice = purchase.switch_tier(identity, identity.customer_id or "", target)
        except ServiceError as exc:
            self.error = str(exc)
            return None
        self._refresh(contract, published_tiers())
        charged = f" {invoice.total_due} was charged." if invoice else ""
        return rx.toast.success(f"Plan changed to {self.target_name} {self.when}.{charged}")


def _tier(tier: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(tier["name"], size="4"),
                rx.cond(tier["move"] == "current", rx.badge("Current plan", color_scheme="green")),
                justify="between",
                width="100%",
            ),
            rx.text(tier["price"], weight="medium"),
            rx.text(tier["credits"], size="2", color_scheme="gray"),
            rx.cond(
                tier["move"] != "current",
                rx.button(
                    rx.cond(tier["move"] == "upgrade", "Preview upgrade", "Preview downgrade"),
                    variant="soft",
                    on_click=PlanState.ask_switch(tier["key"], tier["name"], tier["move"]),
                    class_name="preview-switch",
                    data_tier=tier["key"],
                ),
            ),
            spacing="2",
            align="start",
        ),
        class_name="plan-tier",
    )


def _confirm_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Switch to " + PlanState.target_name + "?"),
            rx.alert_dialog.description("The switch takes effect " + PlanState.when + "."),
            rx.vstack(
                rx.text("Due now: ", rx.text.strong(PlanState.due_now, id="switch-due-now")),
                rx.text("Change per period from the next one: ", rx.text.strong(PlanState.next_period)),
                spacing="1",
                margin_top="12px",
            ),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Keep my plan", variant="soft", color_scheme="gray", on_click=PlanState.cancel)
                ),
                rx.alert_dialog.action(rx.button("Switch", on_click=PlanState.confirm, id="confirm-switch")),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
        ),
        open=PlanState.target != "",
    )


def plan_page() -> rx.Component:
    """The tiers side by side with the current one marked."""
    return shell(
        guarded(
            PlanState.access,
            PlanState.denied_reason,
            rx.vstack(
                page_header("Plan", "You are on " + PlanState.current + " (period " + PlanState.period + ")."),
                rx.cond(
                    PlanState.error != "",
                    rx.callout(PlanState.error, icon="triangle-alert", color_scheme="red", id="plan-error"),
                ),
                rx.grid(
                    rx.foreach(PlanState.tiers, _tier),
                    columns=rx.breakpoints(initial="1", md="3"),
                    spacing="4",
                    width="100%",
                ),
                rx.text(
                    "Upgrades take effect at once: the price difference for the rest of the period is charged now "
                    "and the extra credits are added. Downgrades take effect at the start of the next period.",
                    size="1",
                    color_scheme="gray",
                ),
                _confirm_dialog(),
                width="100%",
                align="start",
                spacing="4",
            ),
        )
    )
