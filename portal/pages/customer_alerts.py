"""The "Alerts" panel, on the account page for its admins, on a staff customer page for staff, and on the staff
alerts page (``/staff/alerts``) for the rules on every customer: the rules with their state (for every customer: the
customers in alarm), the form that adds one, and deletion after confirming.

A rule watches the pooled credit balance (or one seat's, or one grant's), the period's spend (the account's or
one seat's) or a metric's usage in the period (optionally of one group value, e.g. ``user_id`` = ``ann``). It
fires once each time the figure crosses its threshold; :mod:`portal.services.alerts` holds the rules and decides
who may change them.
"""

from __future__ import annotations

import reflex as rx
from reflex.event import EventSpec

from portal.components.account_forms import error_message
from portal.components.dialogs import dialog_buttons, native_select
from portal.components.layout import labelled, panel
from portal.pages.staff_customers import ROUTE as CUSTOMERS_ROUTE
from portal.pages.staff_routes import ALERTS_ROUTE, id_in_path
from portal.services import alerts, billing
from portal.services.errors import ServiceError
from portal.services.identity import Identity
from portal.state.access import administered_customer
from portal.state.session import identity_of, session_ended

EVERY = "*"
"""The panel's scope on the staff alerts page: the rules for every customer."""


def _customer_of(state: rx.State, identity: Identity | None) -> str | None:
    """Whose alerts the panel manages: :data:`EVERY` customer on the staff alerts page and the customer on a staff
    customer page (staff), the admin's own customer (a customer's admin), or None (no panel)."""
    if identity is not None and identity.is_staff:
        if state.router.url.path.rstrip("/") == ALERTS_ROUTE:
            return EVERY
        return id_in_path(state, CUSTOMERS_ROUTE) or None
    return administered_customer(identity)


def _row(rule: alerts.RuleView) -> dict[str, str]:
    return {
        "id": rule.id,
        "kind": alerts.KINDS[rule.kind],
        "threshold": billing.plain_number(rule.threshold),
        "subject": rule.subject,
        "state": rule.state,
        "value": billing.plain_number(rule.value) if rule.value is not None else "",
        "since": f"{rule.since:%Y-%m-%d %H:%M} UTC" if rule.since else "",
        "summary": rule.summary,
        "alarmed": ", ".join(rule.in_alarm),
    }


def _customer(scope: str) -> str | None:
    """The customer id the services take for a scope (None for every customer)."""
    return None if scope == EVERY else scope


class AlertRulesState(rx.State):
    """The admin's alert rules, the add form and the deletion to confirm."""

    shown: bool = False
    every: bool = False
    """The rules for every customer (staff alerts page): no seats or grants, fewer kinds."""
    rules: list[dict[str, str]] = []
    metrics: list[list[str]] = []
    grants: list[list[str]] = []
    grant: str = ""
    kind: str = alerts.BALANCE_BELOW
    threshold: str = ""
    seat: str = ""
    metric: str = ""
    group_key: str = ""
    group_value: str = ""
    error: str = ""
    confirm_open: bool = False
    deleting: str = ""
    deleting_label: str = ""

    def _refresh(self, identity: Identity, scope: str) -> None:
        customer_id = _customer(scope)
        self.every = customer_id is None
        listed = alerts.rules(identity, customer_id) if customer_id else alerts.all_customer_rules(identity)
        self.rules = [_row(r) for r in listed]
        self.metrics = [[m_id, name] for m_id, name, _ in alerts.metric_choices(identity, customer_id)]
        grants = alerts.grant_choices(identity, customer_id) if customer_id else []
        self.grants = [[g_id, label] for g_id, label in grants]

    @rx.event
    def load(self) -> None:
        """Read the account's alert rules (admins only; the panel is hidden from members)."""
        customer_id = _customer_of(self, identity := identity_of(self))
        self.shown = False
        if identity is None or customer_id is None:
            return
        try:
            self._refresh(identity, customer_id)
        except ServiceError:
            return
        self.shown = True

    @rx.event
    def set_kind(self, value: str) -> None:
        """Remember the kind of rule the form adds."""
        self.kind, self.error = value, ""

    @rx.event
    def set_field(self, name: str, value: str) -> None:
        """Remember one of the form's text fields."""
        if name in ("threshold", "seat", "grant", "metric", "group_key", "group_value"):
            setattr(self, name, value)
        self.error = ""

    @rx.event
    def add(self) -> EventSpec | None:
        """Add the rule the form describes; a refusal is shown under the form."""
        customer_id = _customer_of(self, identity := identity_of(self))
        if identity is None or customer_id is None:
            return session_ended()
        try:
            rule = alerts.create_rule(
                identity,
                _customer(customer_id),
                self.kind,
                self.threshold,
                seat_id=self.seat,
                grant_id=self.grant,
                metric_id=self.metric,
                group_key=self.group_key,
                group_value=self.group_value,
            )
        except ServiceError as exc:
            self.error = str(exc)
            return None
        self.threshold = self.seat = self.grant = self.group_key = self.group_value = self.error = ""
        self._refresh(identity, customer_id)
        return rx.toast.success(f"Alert added: {rule.summary}.")

    @rx.event
    def ask_delete(self, rule_id: str, summary: str) -> None:
        """Ask to confirm deleting a rule."""
        self.deleting, self.deleting_label, self.confirm_open = rule_id, summary, True

    @rx.event
    def set_confirm_open(self, value: bool) -> None:
        """Close (or reopen) the confirmation."""
        self.confirm_open = value

    @rx.event
    def delete(self) -> EventSpec | None:
        """Delete the confirmed rule and its history."""
        customer_id = _customer_of(self, identity := identity_of(self))
        if identity is None or customer_id is None:
            return session_ended()
        self.confirm_open = False
        try:
            alerts.delete_rule(identity, self.deleting)
        except ServiceError as exc:
            self.error = str(exc)
            return None
        self._refresh(identity, customer_id)
        return rx.toast.success(f"Alert deleted: {self.deleting_label}.")


# --- layout ----------------------------------------------------------------------------------------


def _rule_row(rule: rx.Var) -> rx.Component:
    alarm = rule["state"] == alerts.ALARM
    return rx.table.row(
        rx.table.cell(rx.text(rule["kind"], " ", rule["threshold"], weight="medium")),
        rx.table.cell(rule["subject"]),
        rx.table.cell(
            rx.cond(
                alarm,
                rx.badge("In alarm", color_scheme="red", class_name="alert-state"),
                rx.badge("OK", color_scheme="green", class_name="alert-state"),
            ),
            rx.cond(rule["since"] != "", rx.text(rule["value"], " since ", rule["since"], size="1")),
            rx.cond(rule["alarmed"] != "", rx.text(rule["alarmed"], size="1", class_name="alert-customers")),
        ),
        rx.table.cell(
            rx.button(
                "Delete",
                size="1",
                variant="soft",
                color_scheme="red",
                on_click=AlertRulesState.ask_delete(rule["id"], rule["summary"]),
                class_name="delete-alert",
            )
        ),
        class_name="alert-rule",
    )


def _rules_table() -> rx.Component:
    return rx.cond(
        AlertRulesState.rules.length() > 0,
        rx.table.root(
            rx.table.header(
                rx.table.row(*[rx.table.column_header_cell(h) for h in ("Alert when", "Watching", "State", "")])
            ),
            rx.table.body(rx.foreach(AlertRulesState.rules, _rule_row)),
            variant="ghost",
            width="100%",
            id="alert-rules",
        ),
        rx.text("No alerts yet.", size="2", color_scheme="gray"),
    )


def _text_field(label: str, name: str, value: rx.Var, placeholder: str, hint: str = "") -> rx.Component:
    return labelled(
        label,
        rx.input(
            value=value,
            on_change=lambda v: AlertRulesState.set_field(name, v),
            placeholder=placeholder,
            id=f"alert-{name.replace('_', '-')}",
            width="100%",
        ),
        hint,
    )


def _choice(label: str, name: str, value: rx.Var, empty: str, options: rx.Var) -> rx.Component:
    """A select of (id, label) ``options`` after an ``empty`` choice, kept in the state's field ``name``."""
    return labelled(
        label,
        native_select(
            name,
            f"alert-{name}",
            rx.fragment(
                rx.el.option(empty, value=""),
                rx.foreach(options, lambda option: rx.el.option(option[1], value=option[0])),
            ),
            value=value,
            on_change=lambda v: AlertRulesState.set_field(name, v),
        ),
    )


def _add_form() -> rx.Component:
    usage = AlertRulesState.kind == alerts.USAGE_ABOVE
    return rx.form(
        rx.vstack(
            rx.hstack(
                labelled(
                    "Alert when",
                    native_select(
                        "kind",
                        "alert-kind",
                        rx.cond(
                            AlertRulesState.every,
                            rx.fragment(*(rx.el.option(alerts.KINDS[k], value=k) for k in alerts.ALL_CUSTOMER_KINDS)),
                            rx.fragment(*(rx.el.option(label, value=kind) for kind, label in alerts.KINDS.items())),
                        ),
                        value=AlertRulesState.kind,
                        on_change=AlertRulesState.set_kind,
                    ),
                ),
                _text_field(
                    "Threshold",
                    "threshold",
                    AlertRulesState.threshold,
                    "500",
                    "Credits for a balance, the contract's currency for spend, the metric's unit for usage.",
                ),
                spacing="3",
                width="100%",
                align="start",
            ),
            rx.cond(
                usage,
                rx.hstack(
                    _choice("Metric", "metric", AlertRulesState.metric, "Choose a metric", AlertRulesState.metrics),
                    _text_field("Group key (optional)", "group_key", AlertRulesState.group_key, "user_id"),
                    _text_field("Group value", "group_value", AlertRulesState.group_value, "ann"),
                    spacing="3",
                    width="100%",
                    align="start",
                ),
                rx.cond(
                    AlertRulesState.every,
                    rx.text("Every customer's pooled credit or spend.", size="2", color_scheme="gray"),
                    rx.hstack(
                        _text_field(
                            "Seat (optional)",
                            "seat",
                            AlertRulesState.seat,
                            "whole account",
                            "Leave empty for the account.",
                        ),
                        rx.cond(
                            AlertRulesState.kind != alerts.SPEND_ABOVE,
                            _choice("Grant", "grant", AlertRulesState.grant, "Pooled credit", AlertRulesState.grants),
                        ),
                        spacing="3",
                        width="100%",
                        align="start",
                    ),
                ),
            ),
            rx.button("Add alert", type="submit", id="add-alert"),
            spacing="3",
            width="100%",
            max_width="640px",
        ),
        on_submit=lambda _: AlertRulesState.add(),
        reset_on_submit=False,
        width="100%",
    )


def _confirm_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Delete this alert?"),
            rx.dialog.description(
                AlertRulesState.deleting_label + ": it stops firing and its history is deleted.",
                size="2",
                margin_bottom="16px",
            ),
            dialog_buttons(
                rx.button(
                    "Delete alert",
                    type="button",
                    color_scheme="red",
                    on_click=AlertRulesState.delete,
                    id="confirm-delete-alert",
                )
            ),
            max_width="440px",
        ),
        open=AlertRulesState.confirm_open,
        on_open_change=AlertRulesState.set_confirm_open,
    )


def alerts_panel() -> rx.Component:
    """The admin's alert rules with their state, the add form and deletion with confirmation."""
    return rx.box(
        rx.cond(
            AlertRulesState.shown,
            panel(
                "Alerts",
                rx.cond(
                    AlertRulesState.every,
                    "Be told, in the app (staff) and by email (you), when any customer's pooled balance falls below a "
                    "threshold or its period's spend or usage reaches one. Each customer fires once per crossing; "
                    "customers never see these rules.",
                    "Be told, in the app and by email to the account's admins, when a balance falls below a threshold "
                    "or the period's spend or usage reaches one. Each rule fires once per crossing.",
                ),
                _rules_table(),
                _add_form(),
                error_message(AlertRulesState.error, "alert-error"),
                _confirm_dialog(),
                id="alerts-panel",
            ),
        ),
        on_mount=AlertRulesState.load,
        width="100%",
    )
