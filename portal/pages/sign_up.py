"""Creating an account (signed in at once, asked to verify the email address) and the verification link's page."""

from __future__ import annotations

import reflex as rx
from reflex.event import EventSpec

from portal.auth.passwords import PASSWORD_RULE
from portal.components.account_forms import (
    account_card,
    account_form,
    error_message,
    form_field,
    info_message,
    submit_button,
)
from portal.services import local_accounts
from portal.services.errors import InvalidInput
from portal.state.session import next_query, start_session


class SignUpState(rx.State):
    """The sign-up form's error message (the password never stays in state)."""

    error: str = ""
    next_query: str = ""

    @rx.event
    def load(self) -> None:
        """Start with an empty message; keep the page to go on to after signing up."""
        self.error = ""
        self.next_query = next_query(self)

    @rx.event
    def submit(self, form: dict[str, str]) -> EventSpec | None:
        """Create the account and sign in with it; the verification link goes out by email."""
        self.error = ""
        try:
            pending = local_accounts.sign_up(
                form.get("email", ""), form.get("password", ""), form.get("name", ""), form.get("company", "")
            )
        except InvalidInput as exc:
            self.error = str(exc)
            return None
        return start_session(self, pending)


def sign_up_page() -> rx.Component:
    """The sign-up form."""
    return account_card(
        error_message(SignUpState.error, "sign-up-error"),
        account_form(
            "Create your account",
            "We will email you a link to verify your address; you can start right away.",
            form_field("Your name", "name", autocomplete="name"),
            form_field("Email", "email", "email", autocomplete="email"),
            form_field("Password", "password", "password", hint=PASSWORD_RULE, autocomplete="new-password"),
            form_field("Company (optional)", "company", required=False, autocomplete="organization"),
            submit=submit_button("Create account", "sign-up-submit"),
            on_submit=SignUpState.submit,
        ),
        rx.link("Already have an account? Sign in", href="/sign-in" + SignUpState.next_query, size="2"),
    )


class VerifyEmailState(rx.State):
    """The outcome of opening a verification link."""

    verified_email: str = ""
    error: str = ""

    @rx.event
    def load(self) -> None:
        """Use the link's token (once)."""
        self.verified_email, self.error = "", ""
        try:
            self.verified_email = local_accounts.verify_email(self.router.url.query_parameters.get("token", ""))
        except InvalidInput as exc:
            self.error = str(exc)


def verify_email_page() -> rx.Component:
    """Says whether the address is now verified."""
    return account_card(
        rx.heading("Email verification", size="6"),
        error_message(VerifyEmailState.error, "verify-error"),
        rx.cond(
            VerifyEmailState.verified_email != "",
            info_message("Thank you: " + VerifyEmailState.verified_email + " is verified.", "verify-done"),
        ),
        rx.link(rx.button("Continue", width="100%", size="3"), href="/", width="100%"),
    )
