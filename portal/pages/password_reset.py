"""Choosing a password with a mailed link: ask for a reset link and use it, or accept an invitation (``/join``)."""

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
from portal.services.account_tokens import ACCEPT_INVITATION, RESET_PASSWORD
from portal.services.errors import InvalidInput
from portal.state.session import start_session


class ForgotPasswordState(rx.State):
    """The answer to a reset request (the same whether or not the account exists)."""

    answer: str = ""
    error: str = ""

    @rx.event
    def load(self) -> None:
        """Start with the empty form."""
        self.answer, self.error = "", ""

    @rx.event
    def submit(self, form: dict[str, str]) -> None:
        """Ask for a reset link for the address typed."""
        try:
            self.answer, self.error = local_accounts.request_password_reset(form.get("email", "")), ""
        except InvalidInput as exc:
            self.error = str(exc)


def forgot_password_page() -> rx.Component:
    """The form that asks for a reset link, then the answer."""
    return account_card(
        error_message(ForgotPasswordState.error, "forgot-error"),
        rx.cond(
            ForgotPasswordState.answer != "",
            info_message(ForgotPasswordState.answer, "reset-requested"),
            account_form(
                "Reset your password",
                "Enter the email address of your account: we will send it a link to choose a new password.",
                form_field("Email", "email", "email", autocomplete="username"),
                submit=submit_button("Send the link", "forgot-submit"),
                on_submit=ForgotPasswordState.submit,
            ),
        ),
        rx.link("Back to sign-in", href="/sign-in", size="2"),
    )


JOIN_ROUTE = "/join"


class ResetPasswordState(rx.State):
    """Whether the reset link or invitation can be used, and the form's error (the link and password stay in the
    browser)."""

    error: str = ""
    link_ok: bool = False

    def _link(self) -> tuple[str, str]:
        purpose = ACCEPT_INVITATION if self.router.url.path.rstrip("/") == JOIN_ROUTE else RESET_PASSWORD
        return self.router.url.query_parameters.get("token", ""), purpose

    @rx.event
    def load(self) -> None:
        """Check the link before the person types a new password."""
        token, purpose = self._link()
        problem = local_accounts.reset_link_problem(token, purpose)
        self.link_ok, self.error = problem is None, problem or ""

    @rx.event
    def submit(self, form: dict[str, str]) -> EventSpec | None:
        """Set the password, which ends every other session, and sign in with it."""
        token, purpose = self._link()
        try:
            pending = local_accounts.reset_password(token, form.get("password", ""), purpose)
        except InvalidInput as exc:
            self.error = str(exc)
            return None
        return start_session(self, pending)


def _password_page(title: str, subtitle: str, button: str, otherwise: rx.Component) -> rx.Component:
    return account_card(
        error_message(ResetPasswordState.error, "reset-error"),
        rx.cond(
            ResetPasswordState.link_ok,
            account_form(
                title,
                subtitle,
                form_field("New password", "password", "password", hint=PASSWORD_RULE, autocomplete="new-password"),
                submit=submit_button(button, "reset-submit"),
                on_submit=ResetPasswordState.submit,
            ),
            otherwise,
        ),
    )


def reset_password_page() -> rx.Component:
    """The form that sets a new password with a reset link."""
    return _password_page(
        "Choose a new password",
        "This signs you out everywhere else.",
        "Set the password",
        rx.link("Ask for a new link", href="/forgot-password", size="2"),
    )


def join_page() -> rx.Component:
    """The form an invited member chooses their password with, to join the account."""
    return _password_page(
        "Join your team",
        "Choose the password you will sign in with.",
        "Join",
        rx.link("Go to sign-in", href="/sign-in", size="2"),
    )
