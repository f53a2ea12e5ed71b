"""Sign-in with email and password."""

from __future__ import annotations

from urllib.parse import quote

import reflex as rx
from reflex.event import EventSpec

from portal.components.layout import shell
from portal.services import identity as identity_service
from portal.services.errors import InvalidInput
from portal.state.session import backend_url, frontend_url, navigate_to


def home_path(identity: identity_service.Identity) -> str:
    """Where a user lands after signing in: their own area."""
    if identity.is_staff:
        return "/staff"
    if identity.is_enterprise_admin:
        return "/enterprise"
    return "/customer" if identity.customer_id else "/"


class SignInState(rx.State):
    """The sign-in form's error message (the password never stays in state)."""

    error: str = ""

    @rx.event
    def submit(self, form: dict[str, str]) -> EventSpec | None:
        """Check the credentials; on success hand the one-time token to the API, which sets the cookie."""
        self.error = ""
        try:
            pending = identity_service.sign_in(form.get("email", ""), form.get("password", ""))
        except InvalidInput as exc:
            self.error = str(exc)
            return None
        landing = quote(frontend_url(self, home_path(pending.identity)), safe="")
        return navigate_to(backend_url(self, f"/api/auth/session?ticket={pending.token}&next={landing}"))


def sign_in_page() -> rx.Component:
    """The sign-in form."""
    return shell(
        rx.center(
            rx.card(
                rx.form(
                    rx.vstack(
                        rx.heading("Sign in", size="6"),
                        rx.text("Use the email address and password of your Portal account.", color_scheme="gray"),
                        rx.cond(
                            SignInState.error != "",
                            rx.callout(
                                SignInState.error, icon="triangle-alert", color_scheme="red", id="sign-in-error"
                            ),
                        ),
                        rx.text("Email", as_="label", html_for="email", weight="medium", size="2"),
                        rx.input(id="email", name="email", type="email", required=True, width="100%", size="3"),
                        rx.text("Password", as_="label", html_for="password", weight="medium", size="2"),
                        rx.input(
                            id="password", name="password", type="password", required=True, width="100%", size="3"
                        ),
                        rx.button("Sign in", type="submit", width="100%", size="3", id="sign-in-submit"),
                        spacing="3",
                        width="100%",
                    ),
                    on_submit=SignInState.submit,
                    reset_on_submit=False,
                ),
                size="4",
                width="100%",
                max_width="420px",
            ),
            padding_y="32px",
        )
    )
