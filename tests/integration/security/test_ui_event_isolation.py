"""Tenant isolation and roles in the UI: every Reflex event handler that takes an argument from the browser, fired
by a signed-in user of one customer with another customer's ids (or by a customer's user on a staff page), is
refused and changes nothing.

The handlers run in the test process with a tab's websocket headers (see :mod:`tests.support.ui_state`). Each
handler that takes arguments is listed once: in :data:`ATTACKS` (fired with foreign ids), in :data:`NOT_AN_ID`
(its argument names nothing of a tenant's: a form field, a dialog's open state, a sort column), or in
:data:`SERVICE_LEVEL` (a background event, which needs the running app, or a card setup, which needs the Stripe fake:
the service it calls is tested with the foreign id instead). A new handler that takes arguments fails
:func:`test_every_handler_that_takes_browser_input_is_covered` until it is listed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import reflex as rx
from reflex.event import EventHandler
from sqlmodel import select

from portal.components.access import FORBIDDEN, OK
from portal.db.models import Contract, CreditPurchaseRow
from portal.db.uow import UnitOfWork
from portal.pages.api_keys import ApiKeysState
from portal.pages.customer_alerts import AlertRulesState
from portal.pages.customer_spend_caps import SpendCapsState
from portal.pages.enterprise_state import EnterpriseState
from portal.pages.package_editor_state import EditorState
from portal.pages.rate_card_state import RateCardState
from portal.pages.rate_change_state import RateChangeState
from portal.pages.seats import SeatsState
from portal.pages.staff_customer_state import CustomerDetailState
from portal.pages.staff_enterprise_state import StaffEnterpriseState
from portal.pages.staff_metrics_state import MetricsState
from portal.pages.staff_packages import PackagesState
from portal.pages.webhooks import WebhooksState
from portal.services import api_keys, billing, credit_purchases, packages
from portal.services.errors import NotFound
from portal.state.notifications import NotificationsState
from portal.state.session import session_ended
from tests.integration.security.conftest import World, changed_tables, snapshot
from tests.support.ui_state import browser_arguments, fire, portal_states, reported_success, substate, tab

Step = tuple[EventHandler, tuple[Any, ...]]


@dataclass(frozen=True)
class Attack:
    """Who fires which handlers, on which page, with another tenant's ids; ``refusal`` says whether the page must
    say it was refused (some handlers quietly ignore an id that is not on the page)."""

    person: str
    path: str
    steps: Callable[[World], list[Step]]
    refusal: bool = True


def _refusal_shown(state: rx.State, result: Any) -> bool:
    """True when the handler answered with an error toast, left an error message on its page, or treated the user
    as not signed in to this page (what handlers answer someone who is not an admin of an account)."""
    errors = [getattr(state, name) for name in type(state).get_fields() if name.endswith("error")]
    return '["error"]' in repr(result) or any(errors) or result == session_ended()


ADMINS = ("globex_admin", "research_admin")
"""The other tenants' admins: an enterprise's and a department's."""

ATTACKS: dict[str, list[Attack]] = {
    "WebhooksState.toggle": [
        Attack(p, "/customer/webhooks", lambda w: [(WebhooksState.toggle, (w.acme_endpoint, False))]) for p in ADMINS
    ],
    "WebhooksState.ask_delete": [
        Attack(
            p,
            "/customer/webhooks",
            lambda w: [(WebhooksState.ask_delete, (w.acme_endpoint, "x")), (WebhooksState.delete, ())],
        )
        for p in ADMINS
    ],
    "WebhooksState.redeliver": [
        Attack(p, "/customer/webhooks", lambda w: [(WebhooksState.redeliver, (str(w.acme_delivery),))]) for p in ADMINS
    ],
    "AlertRulesState.ask_delete": [
        Attack(
            p, "/customer", lambda w: [(AlertRulesState.ask_delete, (w.acme_rule, "x")), (AlertRulesState.delete, ())]
        )
        for p in ADMINS
    ],
    "AlertRulesState.set_field": [
        Attack(
            "globex_admin",
            "/customer",
            lambda w: [
                (AlertRulesState.set_kind, ("balance_below",)),
                (AlertRulesState.set_field, ("threshold", "5")),
                (AlertRulesState.set_field, ("seat", w.acme_seat)),
                (AlertRulesState.add, ()),
            ],
        )
    ],
    "ApiKeysState.ask_revoke": [
        Attack(p, "/api-keys", lambda w: [(ApiKeysState.ask_revoke, (w.acme_key_id, "x")), (ApiKeysState.revoke, ())])
        for p in ADMINS
    ],
    "ApiKeysState.create": [
        Attack(
            "acme_member",
            "/api-keys",
            lambda w: [(ApiKeysState.create, ({"name": "x", "owner": w.acme, "scope_read": "on"},))],
        )
    ],
    "NotificationsState.mark_read": [
        Attack(p, "/customer", lambda w: [(NotificationsState.mark_read, (w.acme_notification,))], refusal=False)
        for p in (*ADMINS, "acme_member")
    ],
    "SpendCapsState.ask_remove": [
        Attack(p, "/customer", lambda w: [(SpendCapsState.ask_remove, (w.acme_seat, "x")), (SpendCapsState.remove, ())])
        for p in ("globex_admin", "acme_member")
    ],
    "SpendCapsState.set_seat": [
        Attack(
            "globex_admin",
            "/customer",
            lambda w: [
                (SpendCapsState.set_seat, (w.acme_seat,)),
                (SpendCapsState.set_amount, ("1",)),
                (SpendCapsState.save, ()),
            ],
        )
    ],
    "SeatsState.ask_remove": [
        Attack(
            p, "/customer/seats", lambda _w: [(SeatsState.ask_remove, ("member@acme.test",)), (SeatsState.remove, ())]
        )
        for p in ("globex_admin", "acme_member")
    ],
    "EnterpriseState.open_budget": [
        Attack(
            "research_admin",
            "/enterprise",
            lambda w: [
                (EnterpriseState.load, ()),
                (EnterpriseState.open_budget, (w.research,)),  # a department admin's own budget
                (EnterpriseState.save_budget, ({"amount": "999999999"},)),
            ],
        ),
        Attack(
            "acme_admin",
            "/enterprise",
            lambda w: [
                (EnterpriseState.open_budget, (w.research,)),
                (EnterpriseState.save_budget, ({"amount": "1"},)),
            ],
        ),
    ],
    "EnterpriseState.move": [
        Attack(
            p,
            "/enterprise",
            lambda w: [(EnterpriseState.move, ({"from": w.marketing, "to": w.research, "amount": "1"},))],
        )
        for p in ("acme_admin", "research_admin")
    ],
    "EnterpriseState.create": [
        Attack(
            p,
            "/enterprise",
            lambda w: [(EnterpriseState.create, ({"name": "Spies", "admin_email": "", "parent": w.globex},))],
        )
        for p in ("acme_admin", "research_admin")
    ],
    "CustomerDetailState.open_void": [
        Attack(
            p,
            "/staff/customers/{acme}",
            lambda w: [
                (CustomerDetailState.open_void, (w.acme_invoice, "x")),
                (CustomerDetailState.void, ({"reason": "x"},)),
            ],
        )
        for p in ("acme_admin", "globex_admin")
    ],
    "CustomerDetailState.grant": [
        Attack(
            p,
            "/staff/customers/{acme}",
            lambda _w: [(CustomerDetailState.grant, ({"amount": "1000", "unit": "ai-credits", "reason": "x"},))],
        )
        for p in ("acme_admin", "globex_admin")
    ],
    "StaffEnterpriseState.add_department": [
        Attack(
            "globex_admin",
            "/staff/customers/{acme}",
            lambda w: [(StaffEnterpriseState.add_department, ({"name": "Spies", "parent": w.acme},))],
        )
    ],
    "StaffEnterpriseState.open_enterprise": [
        Attack(
            "acme_admin",
            "/staff/customers/{acme}",
            lambda _w: [
                (
                    StaffEnterpriseState.open_enterprise,
                    ({"term": "12", "commitment": "1000", "rate_card": "rcd_standard", "credit_type": "ai-credits"},),
                )
            ],
        )
    ],
    "PackagesState.clone": [
        Attack(
            "acme_admin",
            "/staff/packages",
            lambda _w: [(PackagesState.clone, ({"key": "free-for-me", "name": "Mine", "rank": "9"},))],
        )
    ],
    "MetricsState.ask_archive": [
        Attack(
            "acme_admin",
            "/staff/metrics",
            lambda _w: [(MetricsState.ask_archive, ("met_ai_tokens", "x")), (MetricsState.archive, ())],
        )
    ],
}
"""For each handler taking browser input that can name another tenant's object (or a staff-only one): the
attempts, each by a signed-in user who may not touch it."""

NOT_AN_ID: dict[str, str] = {
    **dict.fromkeys(
        (
            "AlertRulesState.set_confirm_open",
            "ApiKeysState.set_create_open",
            "CardState.set_form_open",
            "CreditsState.set_confirm_open",
            "CustomerDetailState.set_explain_open",
            "CustomerDetailState.set_grant_open",
            "CustomerDetailState.set_void_open",
            "CustomerState.set_explain_open",
            "EditorState.set_migration_open",
            "EditorState.set_discard_open",
            "EnterpriseState.set_create_open",
            "EnterpriseState.set_budget_open",
            "EnterpriseState.set_move_open",
            "MetricsState.set_archive_open",
            "PackagesState.set_clone_open",
            "RateChangeState.set_discard_open",
            "SimulationState.set_confirm_open",
            "SpendCapsState.set_confirm_open",
            "StaffEnterpriseState.set_open_dialog",
            "StaffEnterpriseState.set_department_dialog",
            "StaffEnterpriseState.set_access_open",
        ),
        "opens or closes a dialog",
    ),
    **dict.fromkeys(
        (
            "AdoptionState.set_months",
            "AlertRulesState.set_kind",
            "AuditState.set_action",
            "AuditState.set_search",
            "CheckoutState.set_seats",
            "CreditsState.set_amount",
            "CreditsState.set_auto_enabled",
            "CreditsState.set_auto_threshold",
            "CreditsState.set_auto_target",
            "CustomerDetailState.set_grant_unit",
            "CustomersState.set_search",
            "MetricsState.set_name",
            "MetricsState.set_event_type",
            "MetricsState.set_aggregation",
            "MetricsState.set_aggregation_key",
            "MetricsState.set_group_keys",
            "MetricsState.remove_filter",
            "MetricsState.set_filter",
            "PackagesState.set_clone_mode",
            "RateCardState.set_price_model",
            "RateCardState.remove_tier",
            "SeatsState.set_new_count",
            "SeatsState.set_invite_email",
            "SeatsState.set_invite_name",
            "SimulationState.set_periods",
            "SimulationState.sort_by",
            "SpendCapsState.set_amount",
        ),
        "keeps what is typed into a form field; the handler that acts on it is attacked or staff-only",
    ),
    "CustomerState.select_metric": "picks a chart among the metrics the page loaded for the user's own customer",
    "CustomerState.explain": "opens an explanation the page loaded for the user's own customer (unknown refs ignored)",
    "CustomerDetailState.explain": "opens an explanation the staff page loaded (staff only)",
    "PlanState.ask_switch": "names a tier of the public catalog; the switch applies to the admin's own customer",
    "WebhooksState.add": "the form names no customer: the endpoint is added to the admin's own",
    "SignInState.submit": "an email and password (sign-in limits: test_sign_in_limits.py)",
    "SignUpState.submit": "a new account's details",
    "ForgotPasswordState.submit": "an email address; the link goes to its owner",
    "ResetPasswordState.submit": "a one-time token and a new password (test_local_accounts.py)",
    "CheckoutState.buy": "buys a plan for a new customer of the signed-in user's own (no existing id)",
    "CheckoutState.card_ready": "the card form's setup result for the user's own checkout",
    "CardState.mounted": "the card form's setup result for the admin's own customer",
    "CustomerDetailState.void": "the form holds a reason; the invoice is the one open_void kept (attacked there)",
    "EnterpriseState.save_budget": "the form holds an amount; the department is the one open_budget kept (attacked "
    "there)",
    "EditorState.save": "edits the staff page's package version (staff only)",
    "RateCardState.propose": "proposes a price change on the staff page (staff only)",
    "ProductsState.create": "adds a product on the staff page (staff only)",
    "PackagesState.open_clone": "fills the clone dialog from the page's own list",
    "StaffEnterpriseState.open_access": "fills the access dialog from the page's own list (staff only)",
    "StaffEnterpriseState.save_access": "changes a commitment's access on the staff page (staff only)",
}
"""Handlers whose arguments name nothing another tenant owns, and why."""

SERVICE_LEVEL: dict[str, str] = {
    "PayAgainState.pay_again": "test_background_payments_refuse_another_customers_ids (billing.pay_again)",
    "CreditsState.pay_again": "test_background_payments_refuse_another_customers_ids (credit_purchases.pay_again; "
    "the handler passes the admin's own customer)",
    "CardState.confirmed": "test_cards.py::test_a_card_form_of_another_customer_is_refused (a card setup is checked "
    "with Stripe to have been started for the admin's own customer)",
    "CheckoutState.card_confirmed": "test_cards.py::test_a_checkout_card_form_is_the_buyers_own",
}
"""Handlers tested through the service they call: background events (they need the running app's state manager),
and card setups (they need the Stripe fake, which tests/integration/test_cards.py runs)."""


def test_every_handler_that_takes_browser_input_is_covered() -> None:
    taking = {
        f"{cls.__name__}.{name}"
        for cls in portal_states()
        for name, handler in cls.event_handlers.items()
        if name != "setvar" and browser_arguments(handler)
    }
    listed = [*ATTACKS, *NOT_AN_ID, *SERVICE_LEVEL]
    assert len(listed) == len(set(listed)), "a handler is listed twice"
    missing = sorted(taking - set(listed))
    assert not missing, (
        f"Event handlers that take browser input without an isolation case: {missing}. Add each to ATTACKS in "
        f"{__file__} (fired with another tenant's ids), or to NOT_AN_ID with the reason its input names nothing of "
        "a tenant's."
    )
    assert not set(listed) - taking, f"listed handlers that no longer take input: {sorted(set(listed) - taking)}"


def _attempt(w: World, attack: Attack) -> str | None:
    """Fire one attack; what went wrong, or None when it was refused as it should be."""
    root = tab(w.sessions[attack.person], attack.path.format(acme=w.acme))
    result = None
    for handler, args in attack.steps(w):
        result = fire(root, handler, *args)
        if reported_success(result):
            return f"{handler.fn.__qualname__}{args} by {attack.person} reported success"
    last_handler = attack.steps(w)[-1][0]
    state = root.get_substate(last_handler.state_full_name.split("."))
    if attack.refusal and not _refusal_shown(state, result):
        return f"{last_handler.fn.__qualname__} by {attack.person} showed no refusal"
    return None


def test_users_of_one_customer_cannot_act_on_another_customers_objects(world: World) -> None:
    before = snapshot()
    problems = [p for attacks in ATTACKS.values() for a in attacks if (p := _attempt(world, a)) is not None]
    assert not problems, "\n".join(problems)
    assert changed_tables(before) == [], "a refused UI event changed data"


def test_the_rightful_admin_can_do_what_the_attacks_tried(world: World) -> None:
    """The same handlers work for Acme's own admin, so the refusals above are about who asks."""
    root = tab(world.sessions["acme_admin"], "/customer/webhooks")
    assert fire(root, WebhooksState.toggle, world.acme_endpoint, False) is None
    assert substate(root, WebhooksState).endpoints[0]["status"] == "disabled"
    assert fire(root, WebhooksState.toggle, world.acme_endpoint, True) is None
    fire(root, ApiKeysState.create, {"name": "ok", "scope_read": "on"})
    assert substate(root, ApiKeysState).new_token.startswith("key_")


def test_an_admin_naming_another_customer_as_a_keys_owner_gets_a_key_of_their_own(world: World) -> None:
    root = tab(world.sessions["globex_admin"], "/api-keys")
    fire(root, ApiKeysState.create, {"name": "spy", "owner": world.acme, "scope_read": "on"})
    made = api_keys.authenticate(f"Bearer {substate(root, ApiKeysState).new_token}")
    assert made.customer_id == world.globex


def _acme_failed_purchase(w: World) -> str:
    """A credit purchase of Acme's whose payment failed (what Pay again is offered for)."""
    with UnitOfWork() as uow:
        contract = uow.session.exec(select(Contract).where(Contract.customer_id == w.acme)).first()
        assert contract is not None
        row = CreditPurchaseRow(
            customer_id=w.acme,
            contract_id=contract.id,
            credit_type_id="ai-credits",
            credits=Decimal(100),
            price_minor=100,
            currency="USD",
            invoice_id=w.acme_invoice,
            status="failed",
            created_by="admin@acme.test",
        )
        uow.session.add(row)
        return row.id


def test_background_payments_refuse_another_customers_ids(world: World) -> None:
    """Pay again (an invoice, a credit purchase) runs in the background: the services refuse what the handlers
    pass them, an id the browser sent with the admin's own customer."""
    purchase_id = _acme_failed_purchase(world)
    before = snapshot()
    for person in ("globex_admin", "research_admin"):
        admin = world.who(person)
        assert admin.customer_id is not None
        with pytest.raises(NotFound, match=world.acme_invoice):
            billing.pay_again(admin, world.acme_invoice)
        with pytest.raises(NotFound, match=purchase_id):
            credit_purchases.pay_again(admin, admin.customer_id, purchase_id)
    assert changed_tables(before) == []


def test_staff_pages_opened_by_customers_with_ids_in_the_address_show_nothing(world: World) -> None:
    """The staff pages read the object from the address (``/staff/customers/<id>`` ...): a customer's user who
    opens one with another customer's id sees "not available", and the alerts panel there stays their own."""
    version = packages.list_versions(world.who("staff"))[0].id
    pages: list[tuple[type[rx.State], str]] = [
        (CustomerDetailState, f"/staff/customers/{world.acme}"),
        (EditorState, f"/staff/packages/{version}"),
        (RateCardState, "/staff/rate-cards/rcd_standard"),
        (RateChangeState, "/staff/rate-changes/rch_any"),
    ]
    for person in ("globex_admin", "research_admin", "acme_member"):
        for cls, path in pages:
            root = tab(world.sessions[person], path)
            fire(root, cls.load)
            assert substate(root, cls).access == FORBIDDEN, f"{cls.__name__} on {path} for {person}"
        root = tab(world.sessions[person], f"/staff/customers/{world.acme}")
        fire(root, StaffEnterpriseState.load)
        assert not substate(root, StaffEnterpriseState).loaded
        fire(root, AlertRulesState.load)
        shown = {r["id"] for r in substate(root, AlertRulesState).rules}
        assert world.acme_rule not in shown, f"{person} saw Acme's alert rules through the staff address"
    staff = tab(world.sessions["staff"], f"/staff/customers/{world.acme}")
    fire(staff, CustomerDetailState.load)
    assert substate(staff, CustomerDetailState).access == OK, "staff do see the page, so the refusals mean something"


def test_a_browser_cannot_set_a_state_var_that_has_no_setter_of_its_own() -> None:
    """The cases above rely on ids reaching a page's state only through its handlers (``ask_delete`` keeps the id it
    was given, ``open_budget`` only one of the page's own rows): Reflex's generic ``setvar`` event must not set other
    vars (the ``state_auto_setters`` config stays off)."""
    root = tab(None)
    settable = []
    for cls in portal_states():
        for name in cls.base_vars:
            if name.startswith("_") or f"set_{name}" in cls.event_handlers:
                continue
            try:
                fire(root, cls.setvar, name, "whe_another_customers")
            except AttributeError:
                continue
            settable.append(f"{cls.__name__}.{name}")
    assert not settable, f"vars a browser can set directly: {settable}"
