"""The Reflex app: pages, the mounted HTTP API, and nothing else (no logic here)."""

from __future__ import annotations

import reflex as rx

from portal.api.app import create_api
from portal.pages.api_keys import ApiKeysState, api_keys_page
from portal.pages.audit import ROUTE as AUDIT_ROUTE
from portal.pages.audit import AuditState, audit_page
from portal.pages.checkout import CheckoutState, checkout_page
from portal.pages.customer import CustomerState, customer_page
from portal.pages.enterprise import EnterpriseState, enterprise_page
from portal.pages.not_found import not_found_page
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
from portal.services.ingest_writer import process_writer
from portal.state.session import SessionState

app = rx.App(api_transformer=create_api())
app.register_lifespan_task(process_writer)

app.add_page(pricing_page, route="/", title="Pricing | Portal", on_load=[SessionState.load, PricingState.load])
app.add_page(
    checkout_page, route="/checkout", title="Checkout | Portal", on_load=[SessionState.load, CheckoutState.load]
)
app.add_page(sign_in_page, route="/sign-in", title="Sign in | Portal", on_load=[SessionState.load, SignInState.load])
app.add_page(
    sign_up_page, route="/sign-up", title="Create an account | Portal", on_load=[SessionState.load, SignUpState.load]
)
app.add_page(
    verify_email_page,
    route="/verify-email",
    title="Verify your email | Portal",
    on_load=[VerifyEmailState.load, SessionState.load],
)
app.add_page(
    forgot_password_page,
    route="/forgot-password",
    title="Reset your password | Portal",
    on_load=[SessionState.load, ForgotPasswordState.load],
)
app.add_page(
    reset_password_page,
    route="/reset-password",
    title="Choose a new password | Portal",
    on_load=[SessionState.load, ResetPasswordState.load],
)
app.add_page(
    join_page, route=JOIN_ROUTE, title="Join your team | Portal", on_load=[SessionState.load, ResetPasswordState.load]
)
app.add_page(
    customer_page, route="/customer", title="Account | Portal", on_load=[SessionState.load, CustomerState.load]
)
app.add_page(
    enterprise_page, route="/enterprise", title="Enterprise | Portal", on_load=[SessionState.load, EnterpriseState.load]
)
app.add_page(staff_page, route="/staff", title="Staff | Portal", on_load=[SessionState.load, StaffState.load])
app.add_page(
    staff_packages_page,
    route=PACKAGES_ROUTE,
    title="Packages | Portal",
    on_load=[SessionState.load, PackagesState.load],
)
app.add_page(
    package_editor_page,
    route=EDITOR_ROUTE,
    title="Package | Portal",
    on_load=[SessionState.load, EditorState.load, SimulationState.load],
)
app.add_page(
    rate_cards_page,
    route=RATE_CARDS_ROUTE,
    title="Rate cards | Portal",
    on_load=[SessionState.load, RateCardsState.load],
)
app.add_page(
    rate_card_page, route=RATE_CARD_ROUTE, title="Rate card | Portal", on_load=[SessionState.load, RateCardState.load]
)
app.add_page(
    rate_change_page,
    route=RATE_CHANGE_ROUTE,
    title="Price change | Portal",
    on_load=[SessionState.load, RateChangeState.load, SimulationState.load],
)
app.add_page(
    staff_customers_page,
    route=CUSTOMERS_ROUTE,
    title="Customers | Portal",
    on_load=[SessionState.load, CustomersState.load],
)
app.add_page(
    staff_customer_page,
    route=CUSTOMER_ROUTE,
    title="Customer | Portal",
    on_load=[SessionState.load, CustomerDetailState.load],
)
app.add_page(
    staff_metrics_page,
    route=METRICS_ROUTE,
    title="Metrics | Portal",
    on_load=[SessionState.load, MetricsState.load],
)
app.add_page(
    staff_adoption_page,
    route=ADOPTION_ROUTE,
    title="Adoption | Portal",
    on_load=[SessionState.load, AdoptionState.load],
)
app.add_page(audit_page, route=AUDIT_ROUTE, title="Audit log | Portal", on_load=[SessionState.load, AuditState.load])
app.add_page(seats_page, route="/customer/seats", title="Seats | Portal", on_load=[SessionState.load, SeatsState.load])
app.add_page(plan_page, route="/customer/plan", title="Plan | Portal", on_load=[SessionState.load, PlanState.load])
app.add_page(
    api_keys_page, route="/api-keys", title="API keys | Portal", on_load=[SessionState.load, ApiKeysState.load]
)
app.add_page(not_found_page, route="404", title="Not found | Portal", on_load=SessionState.load)
