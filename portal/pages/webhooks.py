"""Webhooks page: a customer admin's endpoints (add, turn on or off, delete after confirmation) and the delivery
log with a Redeliver button (see :mod:`portal.services.outgoing_webhooks`)."""

from __future__ import annotations

import reflex as rx

from portal.components.access import LOADING, guarded
from portal.components.layout import notice, page_header, shell
from portal.services import outgoing_webhooks as hooks
from portal.services.errors import Forbidden, ServiceError
from portal.services.identity import Identity
from portal.state.access import load_guarded
from portal.state.session import identity_of, session_ended

ROUTE = "/customer/webhooks"


def _when(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else ""


def _endpoint_row(endpoint: hooks.EndpointView) -> dict[str, str]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "secret": endpoint.secret,
        "types": ", ".join(endpoint.event_types) or "all events",
        "status": "enabled" if endpoint.enabled else "disabled",
        "created": _when(endpoint.created_at),
    }


def _response(delivery: hooks.DeliveryView) -> str:
    if delivery.last_status_code is not None and not delivery.last_error:
        return f"HTTP {delivery.last_status_code}"
    if delivery.last_error:
        return delivery.last_error[:120]
    return "not sent yet"


def _delivery_row(delivery: hooks.DeliveryView) -> dict[str, str]:
    retry = (
        f", next try {_when(delivery.next_attempt_at)}"
        if delivery.status == hooks.PENDING and delivery.attempts
        else ""
    )
    return {
        "id": str(delivery.id),
        "event_id": delivery.event_id,
        "type": delivery.event_type,
        "url": delivery.url,
        "created": _when(delivery.created_at),
        "status": delivery.status,
        "attempts": f"{delivery.attempts}{retry}",
        "response": _response(delivery),
    }


def _own_customer(identity: Identity) -> str:
    if not identity.customer_id:
        raise Forbidden("Webhooks belong to a customer account: sign in as one of its admins.")
    return identity.customer_id


class WebhooksState(rx.State):
    """The admin's endpoints, the delivery log, the add form's outcome and the delete confirmation."""

    access: str = LOADING
    denied_reason: str = ""
    endpoints: list[dict[str, str]] = []
    deliveries: list[dict[str, str]] = []
    add_error: str = ""
    delete_id: str = ""
    delete_url: str = ""
    event_types: str = ", ".join(hooks.EVENT_TYPES)

    def _refresh(self, identity: Identity) -> None:
        customer_id = _own_customer(identity)
        self.endpoints = [_endpoint_row(e) for e in hooks.list_endpoints(identity, customer_id)]
        self.deliveries = [_delivery_row(d) for d in hooks.delivery_log(identity, customer_id)]

    @rx.event
    def load(self) -> None:
        """Load the endpoints and deliveries of the signed-in admin's customer."""
        load_guarded(self, self._refresh)

    @rx.event
    def refresh(self) -> rx.event.EventSpec | None:
        """Load the delivery log again (deliveries go out in the background)."""
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        self._refresh(identity)
        return None

    @rx.event
    def add(self, form: dict[str, str]) -> rx.event.EventSpec | None:
        """Add an endpoint from the form (URL, and event types separated by commas: none for all)."""
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        types = [t for t in str(form.get("event_types", "")).replace(" ", ",").split(",") if t]
        try:
            created = hooks.create_endpoint(identity, _own_customer(identity), str(form.get("url", "")), types)
        except ServiceError as exc:
            self.add_error = str(exc)
            return None
        self.add_error = ""
        self._refresh(identity)
        return rx.toast.success(f"Added {created.url}: new events are sent to it, signed with its secret.")

    @rx.event
    def toggle(self, endpoint_id: str, enable: bool) -> rx.event.EventSpec | None:
        """Turn an endpoint on or off."""
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        try:
            hooks.set_enabled(identity, endpoint_id, enable)
        except ServiceError as exc:
            return rx.toast.error(str(exc))
        self._refresh(identity)
        return None

    @rx.event
    def ask_delete(self, endpoint_id: str, url: str) -> None:
        """Ask for confirmation before deleting an endpoint."""
        self.delete_id, self.delete_url = endpoint_id, url

    @rx.event
    def cancel_delete(self) -> None:
        """Keep the endpoint."""
        self.delete_id = ""

    @rx.event
    def delete(self) -> rx.event.EventSpec | None:
        """Delete the endpoint the confirmation was for."""
        identity = identity_of(self)
        endpoint_id, self.delete_id = self.delete_id, ""
        if identity is None:
            return session_ended()
        try:
            hooks.delete_endpoint(identity, endpoint_id)
        except ServiceError as exc:
            return rx.toast.error(str(exc))
        self._refresh(identity)
        return rx.toast.success(f"Deleted {self.delete_url}: nothing more is sent to it.")

    @rx.event
    def redeliver(self, delivery_id: str) -> rx.event.EventSpec | None:
        """Send a delivery's event again (same event id)."""
        identity = identity_of(self)
        if identity is None:
            return session_ended()
        try:
            hooks.redeliver(identity, int(delivery_id))
        except (ServiceError, ValueError) as exc:
            return rx.toast.error(str(exc))
        self._refresh(identity)
        return rx.toast.success("Queued again: it is sent within a few seconds.")


def _endpoint(endpoint: rx.Var) -> rx.Component:
    enabled = endpoint["status"] == "enabled"
    return rx.table.row(
        rx.table.cell(
            rx.text(endpoint["url"], weight="medium"), rx.text(endpoint["id"], size="1", color_scheme="gray")
        ),
        rx.table.cell(endpoint["types"]),
        rx.table.cell(rx.code(endpoint["secret"], size="1", class_name="endpoint-secret")),
        rx.table.cell(rx.badge(endpoint["status"], color_scheme=rx.cond(enabled, "green", "gray"), variant="soft")),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    rx.cond(enabled, "Disable", "Enable"),
                    size="1",
                    variant="soft",
                    on_click=WebhooksState.toggle(endpoint["id"], ~enabled),
                    class_name="toggle-endpoint",
                ),
                rx.button(
                    "Delete",
                    size="1",
                    color_scheme="red",
                    variant="soft",
                    on_click=WebhooksState.ask_delete(endpoint["id"], endpoint["url"]),
                    class_name="delete-endpoint",
                ),
                spacing="2",
            )
        ),
        class_name="endpoint-row",
    )


def _delivery(delivery: rx.Var) -> rx.Component:
    status = delivery["status"]
    return rx.table.row(
        rx.table.cell(
            rx.text(delivery["type"], weight="medium"), rx.text(delivery["event_id"], size="1", color_scheme="gray")
        ),
        rx.table.cell(delivery["created"]),
        rx.table.cell(
            rx.badge(
                status,
                color_scheme=rx.match(status, ("delivered", "green"), ("failed", "red"), "amber"),
                variant="soft",
                class_name="delivery-status",
            )
        ),
        rx.table.cell(delivery["attempts"]),
        rx.table.cell(rx.text(delivery["response"], size="1"), rx.text(delivery["url"], size="1", color_scheme="gray")),
        rx.table.cell(
            rx.button(
                "Redeliver",
                size="1",
                variant="soft",
                on_click=WebhooksState.redeliver(delivery["id"]),
                class_name="redeliver",
            )
        ),
        class_name="delivery-row",
    )


def _add_form() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Add an endpoint", size="4"),
                rx.cond(
                    WebhooksState.add_error != "",
                    rx.callout(WebhooksState.add_error, icon="triangle-alert", color_scheme="red", id="add-error"),
                ),
                rx.text("URL", as_="label", html_for="endpoint-url", weight="medium", size="2"),
                rx.input(id="endpoint-url", name="url", placeholder="https://example.com/portal-events", width="100%"),
                rx.text("Event types", as_="label", html_for="endpoint-types", weight="medium", size="2"),
                rx.input(id="endpoint-types", name="event_types", placeholder="all events", width="100%"),
                rx.text("Separate with commas; leave empty for all: ", WebhooksState.event_types, size="1"),
                rx.button("Add endpoint", type="submit", id="add-endpoint"),
                spacing="2",
                width="100%",
            ),
            on_submit=WebhooksState.add,
            reset_on_submit=True,
        ),
        width="100%",
    )


def _delete_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete this endpoint?"),
            rx.alert_dialog.description(
                "Nothing more is sent to " + WebhooksState.delete_url + ", and its delivery log is deleted."
            ),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Keep it", variant="soft", color_scheme="gray", on_click=WebhooksState.cancel_delete)
                ),
                rx.alert_dialog.action(
                    rx.button("Delete", color_scheme="red", on_click=WebhooksState.delete, id="confirm-delete")
                ),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
        ),
        open=WebhooksState.delete_id != "",
    )


def _table(headers: tuple[str, ...], rows: rx.Var, row: object, table_id: str) -> rx.Component:
    return rx.table.root(
        rx.table.header(rx.table.row(*(rx.table.column_header_cell(h) for h in headers))),
        rx.table.body(rx.foreach(rows, row)),  # type: ignore[arg-type]
        variant="surface",
        width="100%",
        id=table_id,
    )


def webhooks_page() -> rx.Component:
    """Endpoints with add, enable/disable and delete; the delivery log with Redeliver."""
    return shell(
        guarded(
            WebhooksState.access,
            WebhooksState.denied_reason,
            rx.vstack(
                page_header(
                    "Webhooks",
                    "Invoices, seats, grants and contract changes are sent to your endpoints as signed events "
                    "(Portal-Signature: HMAC-SHA256 of the timestamp and body with the endpoint's secret). "
                    "Deduplicate on Portal-Event-Id.",
                ),
                rx.cond(
                    WebhooksState.endpoints.length() == 0,
                    notice("webhook", "No endpoints yet", "Add a URL to receive your account's events."),
                    _table(
                        ("Endpoint", "Events", "Signing secret", "Status", ""),
                        WebhooksState.endpoints,
                        _endpoint,
                        "endpoints",
                    ),
                ),
                _add_form(),
                rx.hstack(
                    rx.heading("Deliveries", size="4"),
                    rx.spacer(),
                    rx.button(
                        rx.icon("refresh-cw", size=14),
                        "Refresh",
                        variant="soft",
                        size="1",
                        on_click=WebhooksState.refresh,
                        id="refresh-deliveries",
                    ),
                    width="100%",
                ),
                rx.cond(
                    WebhooksState.deliveries.length() == 0,
                    rx.text("No deliveries yet.", size="2", color_scheme="gray"),
                    _table(
                        ("Event", "Created", "Status", "Attempts", "Last response", ""),
                        WebhooksState.deliveries,
                        _delivery,
                        "deliveries",
                    ),
                ),
                _delete_dialog(),
                width="100%",
                align="start",
                spacing="4",
            ),
        )
    )
