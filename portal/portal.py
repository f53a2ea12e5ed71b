"""The Reflex app: pages, the mounted HTTP API, and nothing else (no logic here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx

from portal.api.app import create_api
from portal.jobs import billing_job, webhook_sender
from portal.pages.api_keys import ApiKeysState, api_keys_page
from portal.pages.audit import ROUTE as AUDIT_ROUTE
from portal.pages.audit import AuditState, audit_page
from portal.pages.checkout import CheckoutState, checkout_page
from portal.pages.customer import CustomerState, customer_page
from portal.pages.enterprise import EnterpriseState, enterprise_page
from portal.pages.not_found import not_found_page
from portal.pages.notifications import ROUTE as NOTIFICATIONS_ROUTE
from portal.pages.notifications import NotificationsState, notifications_page
from portal.pages.package_editor import package_editor_page
from portal.pages.package_editor_state import ROUTE as EDITOR_ROUTE
from portal.pages.package_editor_state import EditorState
from portal.pages.password_reset import (
    JOIN_ROUTE,
    ForgotPasswordState,
    ResetPasswordState,
    forgot_password_page,
    join_page,
    reset_password_page,
)
from portal.pages.plan import PlanState, plan_page
from portal.pages.pricing import PricingState, pricing_page
from portal.pages.products_panel import ProductsState
from portal.pages.rate_card import rate_card_page
from portal.pages.rate_card_state import RateCardState
from portal.pages.rate_cards import RateCardsState, rate_cards_page
from portal.pages.rate_change import rate_change_page
from portal.pages.rate_change_state import RateChangeState
from portal.pages.seats import SeatsState, seats_page
from portal.pages.sign_in import SignInState, sign_in_page
from portal.pages.sign_up import SignUpState, VerifyEmailState, sign_up_page, verify_email_page
from portal.pages.simulation_state import SimulationState
from portal.pages.staff import StaffState, staff_page
from portal.pages.staff_adoption import ROUTE as ADOPTION_ROUTE
from portal.pages.staff_adoption import AdoptionState, staff_adoption_page
from portal.pages.staff_alerts import ROUTE as STAFF_ALERTS_ROUTE
from portal.pages.staff_alerts import StaffAlertsState, staff_alerts_page
from portal.pages.staff_customer import staff_customer_page
from portal.pages.staff_customer_state import ROUTE as CUSTOMER_ROUTE
from portal.pages.staff_customer_state import CustomerDetailState
from portal.pages.staff_customers import ROUTE as CUSTOMERS_ROUTE
from portal.pages.staff_customers import CustomersState, staff_customers_page
from portal.pages.staff_metrics import staff_metrics_page
from portal.pages.staff_metrics_state import ROUTE as METRICS_ROUTE
from portal.pages.staff_metrics_state import MetricsState
from portal.pages.staff_packages import ROUTE as PACKAGES_ROUTE
from portal.pages.staff_packages import PackagesState, staff_packages_page
from portal.pages.staff_routes import RATE_CARD_ROUTE, RATE_CARDS_ROUTE, RATE_CHANGE_ROUTE
from portal.pages.webhooks import ROUTE as WEBHOOKS_ROUTE
from portal.pages.webhooks import WebhooksState, webhooks_page
from portal.services.ingest_writer import process_writer
from portal.state.session import SessionState

app = rx.App(api_transformer=create_api())
app.register_lifespan_task(process_writer)
app.register_lifespan_task(billing_job)
app.register_lifespan_task(webhook_sender)

PAGES: list[tuple[Callable[[], rx.Component], str, str, list[Any]]] = [
    (pricing_page, "/", "Pricing", [SessionState.load, PricingState.load]),
    (checkout_page, "/checkout", "Checkout", [SessionState.load, CheckoutState.load]),
    (sign_in_page, "/sign-in", "Sign in", [SessionState.load, SignInState.load]),
    (sign_up_page, "/sign-up", "Create an account", [SessionState.load, SignUpState.load]),
    (verify_email_page, "/verify-email", "Verify your email", [VerifyEmailState.load, SessionState.load]),
    (forgot_password_page, "/forgot-password", "Reset your password", [SessionState.load, ForgotPasswordState.load]),
    (reset_password_page, "/reset-password", "Choose a new password", [SessionState.load, ResetPasswordState.load]),
    (join_page, JOIN_ROUTE, "Join your team", [SessionState.load, ResetPasswordState.load]),
    (customer_page, "/customer", "Account", [SessionState.load, CustomerState.load]),
    (enterprise_page, "/enterprise", "Enterprise", [SessionState.load, EnterpriseState.load]),
    (staff_page, "/staff", "Staff", [SessionState.load, StaffState.load]),
    (staff_packages_page, PACKAGES_ROUTE, "Packages", [SessionState.load, PackagesState.load]),
    (package_editor_page, EDITOR_ROUTE, "Package", [SessionState.load, EditorState.load, SimulationState.load]),
    (rate_cards_page, RATE_CARDS_ROUTE, "Rate cards", [SessionState.load, RateCardsState.load, ProductsState.load]),
    (rate_card_page, RATE_CARD_ROUTE, "Rate card", [SessionState.load, RateCardState.load]),
    (
        rate_change_page,
        RATE_CHANGE_ROUTE,
        "Price change",
        [SessionState.load, RateChangeState.load, SimulationState.load],
    ),
    (staff_customers_page, CUSTOMERS_ROUTE, "Customers", [SessionState.load, CustomersState.load]),
    (staff_customer_page, CUSTOMER_ROUTE, "Customer", [SessionState.load, CustomerDetailState.load]),
    (staff_metrics_page, METRICS_ROUTE, "Metrics", [SessionState.load, MetricsState.load]),
    (staff_adoption_page, ADOPTION_ROUTE, "Adoption", [SessionState.load, AdoptionState.load]),
    (staff_alerts_page, STAFF_ALERTS_ROUTE, "Alerts", [SessionState.load, StaffAlertsState.load]),
    (audit_page, AUDIT_ROUTE, "Audit log", [SessionState.load, AuditState.load]),
    (seats_page, "/customer/seats", "Seats", [SessionState.load, SeatsState.load]),
    (plan_page, "/customer/plan", "Plan", [SessionState.load, PlanState.load]),
    (api_keys_page, "/api-keys", "API keys", [SessionState.load, ApiKeysState.load]),
    (webhooks_page, WEBHOOKS_ROUTE, "Webhooks", [SessionState.load, WebhooksState.load]),
    (notifications_page, NOTIFICATIONS_ROUTE, "Notifications", [SessionState.load, NotificationsState.load]),
    (not_found_page, "404", "Not found", [SessionState.load]),
]
"""Every page: its component, route, title, and the handlers its loading runs (the session's first, except
where an address token must be read before the session is)."""

for component, route, title, on_load in PAGES:
    app.add_page(component, route=route, title=f"{title} | Portal", on_load=on_load)
