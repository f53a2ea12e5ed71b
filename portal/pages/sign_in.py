"""Sign-in: email and password, or the OpenID Connect provider when one is configured."""

from __future__ import annotations

from urllib.parse import quote

import reflex as rx
from reflex.event import EventSpec

from portal.auth.identity_provider import CANCELLED, ERROR_PARAM, UNAVAILABLE
from portal.components.account_forms import account_card, account_form, error_message, form_field, submit_button
from portal.config import get_settings
from portal.services import identity as identity_service
from portal.services.errors import InvalidInput
from portal.services.oidc_accounts import REFUSALS
from portal.state.session import (
    backend_url,
    client_address,
    frontend_url,
    navigate_to,
    next_query,
    requested_page,
    start_session,
)


def provider_error(reason: str, provider: str) -> str:
    """The sentence explaining why signing in with ``provider`` did not work (``reason`` from the callback)."""
    if reason in REFUSALS:
        return REFUSALS[reason]
    if reason == CANCELLED:
        return f"Signing in with {provider} was cancelled."
    if reason == UNAVAILABLE:
        return f"{provider} cannot be reached right now: try again later, or sign in with your password."
    return f"Signing in with {provider} did not complete: try again."


class SignInState(rx.State):
    """The sign-in form's error message (the password never stays in state) and the provider's name."""

    error: str = ""
    provider_name: str = ""
    next_query: str = ""

    @rx.event
    def load(self) -> None:
        """Offer the provider when configured, and explain a provider sign-in that came back unfinished."""
        settings = get_settings()
        self.provider_name = settings.oidc_provider_name if settings.oidc_configured else ""
        reason = self.router.url.query_parameters.get(ERROR_PARAM, "")
        self.error = provider_error(reason, self.provider_name or "the provider") if reason else ""
        self.next_query = next_query(self)

    @rx.event
    def submit(self, form: dict[str, str]) -> EventSpec | None:
        """Check the credentials; on success hand the one-time token to the API, which sets the cookie."""
        self.error = ""
        try:
            pending = identity_service.sign_in(
                form.get("email", ""), form.get("password", ""), client_address=client_address(self)
            )
        except InvalidInput as exc:
            self.error = str(exc)
            return None
        return start_session(self, pending)

    @rx.event
    def sign_in_with_provider(self) -> EventSpec:
        """Go to the provider; it comes back to the page asked for, or the user's own area."""
        next_url = quote(frontend_url(self, requested_page(self)), safe="")
        return navigate_to(backend_url(self, f"/api/auth/oidc/login?next={next_url}"))


def _provider_button() -> rx.Component:
    return rx.cond(
        SignInState.provider_name != "",
        rx.vstack(
            rx.button(
                rx.icon("key-round", size=16),
                "Sign in with " + SignInState.provider_name,
                on_click=SignInState.sign_in_with_provider,
                variant="outline",
                width="100%",
                size="3",
                id="sign-in-provider",
            ),
            rx.hstack(
                rx.separator(size="4"),
                rx.text("or", size="1", color_scheme="gray"),
                rx.separator(size="4"),
                align="center",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
    )


def sign_in_page() -> rx.Component:
    """The sign-in form, with links to create an account or reset a password."""
    return account_card(
        error_message(SignInState.error, "sign-in-error"),
        _provider_button(),
        account_form(
            "Sign in",
            "Use the email address and password of your Portal account.",
            form_field("Email", "email", "email", autocomplete="username"),
            form_field("Password", "password", "password", autocomplete="current-password"),
            submit=submit_button("Sign in", "sign-in-submit"),
            on_submit=SignInState.submit,
        ),
        rx.hstack(
            rx.link("Forgot your password?", href="/forgot-password", size="2", id="forgot-password-link"),
            rx.spacer(),
            rx.link("Create an account", href="/sign-up" + SignInState.next_query, size="2", id="sign-up-link"),
            width="100%",
        ),
    )
