"""API keys page: customer admins manage their account's keys; staff manage every customer's and staff keys.

A new key is shown once, in a dialog, with a copy button; revoking asks for
confirmation first.
"""

from __future__ import annotations

import reflex as rx

from portal.components.access import LOADING, guarded
from portal.components.layout import notice, page_header, shell
from portal.db.models import utcnow
from portal.services import api_keys
from portal.services.accounts import customer_choices
from portal.services.errors import ServiceError
from portal.state.access import load_guarded
from portal.state.session import backend_url, identity_of, session_ended

STAFF_OWNER = "__staff__"


def _when(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "never"


def _row(key: api_keys.ApiKeyView) -> dict[str, str]:
    return {
        "id": key.id,
        "name": key.name,
        "owner": key.customer_name or "Staff",
        "scopes": ", ".join(key.scopes),
        "created": _when(key.created_at),
        "last_used": _when(key.last_used_at),
        "status": f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active",
    }


def _ingest_example(url: str, customer_id: str) -> str:
    """A request that sends one usage event for ``customer_id``, dated now (the key goes where it says)."""
    now = f"{utcnow():%Y-%m-%dT%H:%M:%SZ}"
    return (
        f"curl -X POST {url} \\\n"
        '  -H "Authorization: Bearer $PORTAL_API_KEY" -H "Content-Type: application/json" \\\n'
        f'  -d \'[{{"transaction_id": "req-0001", "customer_id": "{customer_id}", "event_type": "ai_usage",\n'
        f'        "timestamp": "{now}", "properties": {{"tokens": 1200, "user_id": "ann@example.com"}}}}]\''
    )


class ApiKeysState(rx.State):
    """Keys the caller may manage, the create form's outcome and the revoke confirmation."""

    access: str = LOADING
    denied_reason: str = ""
    is_staff_view: bool = False
    keys: list[dict[str, str]] = []
    owners: list[dict[str, str]] = []
    create_open: bool = False
    create_error: str = ""
    new_token: str = ""
    revoke_id: str = ""
    revoke_name: str = ""
    customer_id: str = ""
    ingest_example: str = ""

    @rx.event
    def load(self) -> None:
        """Load the keys the signed-in admin or staff member may manage."""
        keys = load_guarded(self, api_keys.list_api_keys)
        if keys is None:
            return
        identity = identity_of(self)
        self.keys = [_row(k) for k in keys]
        self.is_staff_view = bool(identity and identity.is_staff)
        self.customer_id = identity.customer_id or "" if identity else ""
        self.ingest_example = _ingest_example(backend_url(self, "/api/v1/ingest"), self.customer_id)
        if identity and identity.is_staff:
            choices = [{"id": c.customer_id, "name": c.name} for c in customer_choices(identity)]
            self.owners = [{"id": STAFF_OWNER, "name": "Staff key (any customer)"}, *choices]

    @rx.event
    def open_create(self) -> None:
        """Open the create dialog with an empty form."""
        self.create_error, self.new_token, self.create_open = "", "", True

    @rx.event
    def set_create_open(self, is_open: bool) -> None:
        """Close (or open) the create dialog; the shown key is forgotten when it closes."""
        self.create_open = is_open
        if not is_open:
            self.new_token = ""

    @rx.event
    def create(self, form: dict[str, str | bool]) -> rx.event.EventSpec | None:
        """Create a key from the form; on success show it once."""
        identity = identity_of(self)
        if identity is None:
            self.create_open = False
            return session_ended()
        owner = str(form.get("owner", ""))
        scopes = [scope for scope in api_keys.CUSTOMER_SCOPES if form.get(f"scope_{scope}") in (True, "on", "true")]
        customer_id: str | None = None
        if identity.is_staff:
            if owner == STAFF_OWNER:
                scopes = [api_keys.STAFF]
            elif owner:
                customer_id = owner
            else:
                self.create_error = "Choose the customer the key belongs to, or a staff key."
                return
        try:
            created = api_keys.create_api_key(identity, str(form.get("name", "")), scopes, customer_id)
        except ServiceError as exc:
            self.create_error = str(exc)
            return
        self.create_error, self.new_token = "", created.token
        self.keys = [_row(k) for k in api_keys.list_api_keys(identity)]

    @rx.event
    def ask_revoke(self, key_id: str, name: str) -> None:
        """Ask for confirmation before revoking ``key_id``."""
        self.revoke_id, self.revoke_name = key_id, name

    @rx.event
    def cancel_revoke(self) -> None:
        """Keep the key."""
        self.revoke_id = ""

    @rx.event
    def revoke(self) -> rx.event.EventSpec | None:
        """Revoke the key the confirmation was for."""
        identity = identity_of(self)
        if identity is None:
            self.revoke_id = ""
            return session_ended()
        if not self.revoke_id:
            return None
        try:
            revoked = api_keys.revoke_api_key(identity, self.revoke_id)
        except ServiceError as exc:
            self.revoke_id = ""
            return rx.toast.error(str(exc))
        self.revoke_id = ""
        self.keys = [_row(k) for k in api_keys.list_api_keys(identity)]
        return rx.toast.success(f"Revoked {revoked.name}: requests with it are refused from now on.")


def _key_row(key: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(key["name"], weight="medium"), rx.text(key["id"], size="1", color_scheme="gray")),
        rx.cond(ApiKeysState.is_staff_view, rx.table.cell(key["owner"])),
        rx.table.cell(key["scopes"]),
        rx.table.cell(key["created"]),
        rx.table.cell(key["last_used"]),
        rx.table.cell(
            rx.badge(key["status"], color_scheme=rx.cond(key["status"] == "active", "green", "gray"), variant="soft")
        ),
        rx.table.cell(
            rx.cond(
                key["status"] == "active",
                rx.button(
                    "Revoke",
                    size="1",
                    color_scheme="red",
                    variant="soft",
                    on_click=ApiKeysState.ask_revoke(key["id"], key["name"]),
                    class_name="revoke-key",
                ),
            )
        ),
        class_name="api-key-row",
        data_key=key["id"],
    )


def _scope_choice(scope: str, label: str, checked: bool) -> rx.Component:
    return rx.text(
        rx.hstack(rx.checkbox(name=f"scope_{scope}", default_checked=checked, id=f"scope-{scope}"), label, spacing="2"),
        as_="label",
        size="2",
    )


def _create_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.cond(
                ApiKeysState.create_error != "",
                rx.callout(ApiKeysState.create_error, icon="triangle-alert", color_scheme="red", id="create-key-error"),
            ),
            rx.text("Name", as_="label", html_for="key-name", weight="medium", size="2"),
            rx.input(id="key-name", name="name", placeholder="e.g. production backend", width="100%"),
            rx.cond(
                ApiKeysState.is_staff_view,
                rx.vstack(
                    rx.text("Belongs to", weight="medium", size="2"),
                    rx.el.select(
                        rx.el.option("Choose…", value=""),
                        rx.foreach(ApiKeysState.owners, lambda o: rx.el.option(o["name"], value=o["id"])),
                        name="owner",
                        id="key-owner",
                        style={"width": "100%", "padding": "6px"},
                    ),
                    width="100%",
                    spacing="1",
                ),
            ),
            rx.text("Scopes", weight="medium", size="2"),
            _scope_choice("ingest", "ingest: send usage events", True),
            _scope_choice("read", "read: balances, invoices and usage", False),
            rx.hstack(
                rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray", type="button")),
                rx.button("Create key", type="submit", id="create-key-submit"),
                justify="end",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=ApiKeysState.create,
        reset_on_submit=False,
    )


def _show_token() -> rx.Component:
    return rx.vstack(
        rx.callout(
            "Copy this key now: it is shown only once and cannot be recovered.", icon="key-round", color_scheme="amber"
        ),
        rx.code(ApiKeysState.new_token, id="new-key-token", style={"word_break": "break-all"}),
        rx.hstack(
            rx.button(
                rx.icon("copy", size=14), "Copy", variant="soft", on_click=rx.set_clipboard(ApiKeysState.new_token)
            ),
            rx.dialog.close(rx.button("Done", id="close-new-key")),
            justify="end",
            width="100%",
        ),
        spacing="3",
        width="100%",
    )


def _create_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.button(rx.icon("plus", size=16), "Create API key", on_click=ApiKeysState.open_create, id="create-key")
        ),
        rx.dialog.content(
            rx.dialog.title("New API key"),
            rx.cond(ApiKeysState.new_token != "", _show_token(), _create_form()),
            max_width="480px",
        ),
        open=ApiKeysState.create_open,
        on_open_change=ApiKeysState.set_create_open,
    )


def _revoke_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Revoke this key?"),
            rx.alert_dialog.description(
                "Requests with " + ApiKeysState.revoke_name + " will be refused at once. This cannot be undone."
            ),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Keep it", variant="soft", color_scheme="gray", on_click=ApiKeysState.cancel_revoke)
                ),
                rx.alert_dialog.action(
                    rx.button("Revoke", color_scheme="red", on_click=ApiKeysState.revoke, id="confirm-revoke")
                ),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
        ),
        open=ApiKeysState.revoke_id != "",
    )


def _keys_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell("Key"),
                rx.cond(ApiKeysState.is_staff_view, rx.table.column_header_cell("Belongs to")),
                rx.table.column_header_cell("Scopes"),
                rx.table.column_header_cell("Created"),
                rx.table.column_header_cell("Last used"),
                rx.table.column_header_cell("Status"),
                rx.table.column_header_cell(""),
            )
        ),
        rx.table.body(rx.foreach(ApiKeysState.keys, _key_row)),
        variant="surface",
        width="100%",
        id="api-keys",
    )


def _sending_usage() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Sending usage", size="4"),
            rx.text(
                "Name your account with ",
                rx.code(ApiKeysState.customer_id, id="own-customer-id"),
                " in each event's customer_id, and the person who used it in user_id, so their seat is charged. "
                "Every transaction_id counts once, so retries are safe.",
                size="2",
            ),
            rx.code_block(ApiKeysState.ingest_example, language="bash", width="100%", id="ingest-example"),
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
        id="sending-usage",
    )


def api_keys_page() -> rx.Component:
    """The keys list with create and revoke."""
    return shell(
        guarded(
            ApiKeysState.access,
            ApiKeysState.denied_reason,
            rx.vstack(
                rx.hstack(
                    page_header("API keys", "Keys let your systems send usage and read balances over the API."),
                    rx.spacer(),
                    _create_dialog(),
                    width="100%",
                    align="start",
                ),
                rx.cond(
                    ApiKeysState.keys.length() == 0,
                    notice("key-round", "No API keys yet", "Create a key to start sending usage events."),
                    _keys_table(),
                ),
                rx.cond(ApiKeysState.customer_id != "", _sending_usage()),
                _revoke_dialog(),
                width="100%",
                align="start",
            ),
        )
    )
