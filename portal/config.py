"""Settings from the environment, read through one cached function.

Defaults run on a laptop: an embedded SQLite database under ``data/``, no
Redis, no payment provider, local email-and-password sign-in. Reflex reads
its own variables (``REFLEX_DB_URL``, ``REFLEX_REDIS_URL``) directly; the
database URL is read here too so that the CLI, the API and Alembic agree.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'data' / 'portal.db'}"
MAX_GRACE_HOURS = 168
MAX_JOB_INTERVAL_SECONDS = 3600
MIN_SECRET_KEY_LENGTH = 32
STRIPE_JS_URL = "https://js.stripe.com/v3/"
"""Stripe.js, which card forms load in production (card numbers go from the browser to Stripe, never to us)."""


class Settings(BaseSettings):
    """Every setting the portal reads, with its environment variable."""

    model_config = SettingsConfigDict(env_prefix="PORTAL_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("REFLEX_DB_URL", "PORTAL_DATABASE_URL"),
        description="SQLAlchemy URL of the database (SQLite file by default, PostgreSQL in production).",
    )
    production: bool = Field(
        default=False,
        description="Production mode: refuse to start without the secrets a public installation needs, no demo data.",
    )
    session_days: int = Field(default=14, description="How long a sign-in session lasts without activity.")
    oidc_issuer: str | None = Field(default=None, validation_alias=AliasChoices("OIDC_ISSUER", "PORTAL_OIDC_ISSUER"))
    oidc_client_id: str | None = Field(
        default=None, validation_alias=AliasChoices("OIDC_CLIENT_ID", "PORTAL_OIDC_CLIENT_ID")
    )
    oidc_client_secret: str | None = Field(
        default=None, validation_alias=AliasChoices("OIDC_CLIENT_SECRET", "PORTAL_OIDC_CLIENT_SECRET")
    )
    oidc_provider_name: str = Field(
        default="single sign-on",
        validation_alias=AliasChoices("OIDC_PROVIDER_NAME", "PORTAL_OIDC_PROVIDER_NAME"),
        description="How the sign-in page names the provider: 'Sign in with <name>'.",
    )
    oidc_scopes: str = Field(
        default="openid email profile",
        validation_alias=AliasChoices("OIDC_SCOPES", "PORTAL_OIDC_SCOPES"),
        description="Scopes asked of the provider; add the one that releases the groups claim for OIDC_STAFF_GROUP.",
    )
    oidc_customer_claim: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OIDC_CUSTOMER_CLAIM", "PORTAL_OIDC_CUSTOMER_CLAIM"),
        description="A claim holding the customer id or ingest alias a new user joins as a member.",
    )
    oidc_email_domains: str = Field(
        default="",
        validation_alias=AliasChoices("OIDC_EMAIL_DOMAINS", "PORTAL_OIDC_EMAIL_DOMAINS"),
        description="Email domains mapped to customers, as 'acme.test=acme,example.com=example' (domain=alias).",
    )
    oidc_staff_group: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OIDC_STAFF_GROUP", "PORTAL_OIDC_STAFF_GROUP"),
        description="Members of this group (the 'groups' claim) are staff; checked at every sign-in.",
    )
    secret_key: str | None = Field(
        default=None,
        description="Signs the short-lived sign-in state cookie; random per process when unset (one worker only).",
    )
    public_url: str = Field(
        default="http://localhost:3000",
        description="The address people open the portal at; links in emails point there.",
    )

    webhooks_allow_private: bool = Field(
        default=False,
        description="Let outgoing webhooks go to loopback and private network addresses (on-premise receivers).",
    )

    stripe_secret_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("STRIPE_SECRET_KEY", "PORTAL_STRIPE_SECRET_KEY"),
        description="Stripe secret key; when set, payments are collected through Stripe (else recorded as due).",
    )
    stripe_publishable_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("STRIPE_PUBLISHABLE_KEY", "PORTAL_STRIPE_PUBLISHABLE_KEY"),
        description="Stripe publishable key the card forms use in the browser; required with STRIPE_SECRET_KEY.",
    )
    stripe_webhook_secret: str | None = Field(
        default=None, validation_alias=AliasChoices("STRIPE_WEBHOOK_SECRET", "PORTAL_STRIPE_WEBHOOK_SECRET")
    )
    stripe_api_base: str | None = Field(
        default=None,
        validation_alias=AliasChoices("STRIPE_API_BASE", "PORTAL_STRIPE_API_BASE"),
        description="Another Stripe API address, for tests only: a loopback address, with an sk_test_ key.",
    )
    stripe_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        validation_alias=AliasChoices("STRIPE_TIMEOUT_SECONDS", "PORTAL_STRIPE_TIMEOUT_SECONDS"),
        description="How long a request to Stripe may take; a payment that times out is tried again later.",
    )

    smtp_host: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SMTP_HOST", "PORTAL_SMTP_HOST"),
        description="Mail server that sends the portal's email; unset, each message is written to the log instead.",
    )
    smtp_port: int = Field(default=587, validation_alias=AliasChoices("SMTP_PORT", "PORTAL_SMTP_PORT"))
    smtp_username: str | None = Field(
        default=None, validation_alias=AliasChoices("SMTP_USERNAME", "PORTAL_SMTP_USERNAME")
    )
    smtp_password: str | None = Field(
        default=None, validation_alias=AliasChoices("SMTP_PASSWORD", "PORTAL_SMTP_PASSWORD")
    )
    smtp_starttls: bool = Field(
        default=True,
        validation_alias=AliasChoices("SMTP_STARTTLS", "PORTAL_SMTP_STARTTLS"),
        description="Upgrade the connection with STARTTLS before signing in (turn off only for a loopback relay).",
    )
    mail_from: str = Field(
        default="portal@localhost",
        validation_alias=AliasChoices("MAIL_FROM", "PORTAL_MAIL_FROM"),
        description="The sender address of the portal's email.",
    )

    invoice_grace_hours: int = Field(
        default=24,
        validation_alias=AliasChoices("INVOICE_GRACE_HOURS", "PORTAL_INVOICE_GRACE_HOURS"),
        description="How long after a billing period ends its invoice is finalized and collected (late usage counts).",
    )
    billing_job_interval_seconds: int = Field(
        default=60,
        validation_alias=AliasChoices("BILLING_JOB_INTERVAL_SECONDS", "PORTAL_BILLING_JOB_INTERVAL_SECONDS"),
        description="How often the server closes ended periods and retries failed payments.",
    )

    @field_validator("invoice_grace_hours")
    @classmethod
    def _check_grace(cls, value: int) -> int:
        return check_range("INVOICE_GRACE_HOURS", value, 0, MAX_GRACE_HOURS, "hours", "a week")

    @field_validator("billing_job_interval_seconds")
    @classmethod
    def _check_job_interval(cls, value: int) -> int:
        return check_range("BILLING_JOB_INTERVAL_SECONDS", value, 1, MAX_JOB_INTERVAL_SECONDS, "seconds", "an hour")

    @model_validator(mode="after")
    def _check_stripe(self) -> Settings:
        if self.stripe_api_base:
            check_stripe_api_base(self.stripe_api_base, self.stripe_secret_key)
        if self.stripe_secret_key:
            check_stripe_keys(self.stripe_secret_key, self.stripe_publishable_key)
        return self

    @model_validator(mode="after")
    def _check_production(self) -> Settings:
        if self.production:
            problems = production_problems(self)
            if problems:
                raise ValueError("PORTAL_PRODUCTION is on, so the portal will not start until: " + "; ".join(problems))
        return self

    @field_validator("oidc_email_domains")
    @classmethod
    def _check_domain_aliases(cls, value: str) -> str:
        domain_aliases(value)
        return value

    @property
    def oidc_domain_aliases(self) -> dict[str, str]:
        """``OIDC_EMAIL_DOMAINS`` as a mapping from lower-case email domain to customer alias."""
        return domain_aliases(self.oidc_email_domains)

    @property
    def stripe_js_url(self) -> str:
        """Where the card forms load Stripe.js from: Stripe's own, or the test server's replacement."""
        if self.stripe_api_base:
            return f"{self.stripe_api_base.rstrip('/')}/js.stripe.com/v3/"
        return STRIPE_JS_URL

    @property
    def is_sqlite(self) -> bool:
        """True when the database is an embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def sign_in_methods(self) -> tuple[str, ...]:
        """Sign-in methods offered: local passwords always, OpenID Connect when fully configured."""
        return ("password", "oidc") if self.oidc_configured else ("password",)

    @property
    def oidc_configured(self) -> bool:
        """True when the issuer, client id and client secret of an OpenID Connect provider are all set."""
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_client_secret)


def production_problems(settings: Settings) -> list[str]:
    """What a production installation lacks, each naming the setting and what to set it to (empty: nothing)."""
    problems = []
    if len(settings.secret_key or "") < MIN_SECRET_KEY_LENGTH:
        problems.append(
            f"PORTAL_SECRET_KEY is set to a random string of at least {MIN_SECRET_KEY_LENGTH} characters "
            "(it signs the sign-in cookie every process must accept)"
        )
    if not settings.public_url.startswith("https://"):
        problems.append(
            "PORTAL_PUBLIC_URL is set to the https:// address people open the portal at (emailed links point there)"
        )
    if settings.stripe_secret_key and not settings.stripe_webhook_secret:
        problems.append("STRIPE_WEBHOOK_SECRET is set (with STRIPE_SECRET_KEY, Stripe's events must be verified)")
    if settings.stripe_api_base:
        problems.append("STRIPE_API_BASE is removed (it points payments at a test server)")
    return problems


def domain_aliases(text: str) -> dict[str, str]:
    """Parse ``acme.test=acme,example.com=example`` into ``{domain: alias}``; ValueError names a bad pair."""
    aliases: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        domain, _, alias = (piece.strip() for piece in pair.partition("="))
        if not domain or not alias:
            raise ValueError(
                "OIDC_EMAIL_DOMAINS must look like 'acme.test=acme,example.com=example' (domain=customer alias); "
                f"{pair!r} is not a domain=alias pair"
            )
        aliases[domain.lower()] = alias
    return aliases


def check_stripe_keys(secret_key: str, publishable_key: str | None) -> None:
    """Refuse a secret key without its publishable key, or a test key paired with a live one (ValueError says
    which)."""
    if not publishable_key:
        raise ValueError(
            "STRIPE_PUBLISHABLE_KEY is required with STRIPE_SECRET_KEY: the card forms need it (pk_test_... or "
            "pk_live_..., from the same Stripe account)"
        )
    secret_mode = "test" if secret_key.startswith(("sk_test_", "rk_test_")) else "live"
    publishable_mode = "test" if publishable_key.startswith("pk_test_") else "live"
    if not publishable_key.startswith("pk_"):
        raise ValueError(
            f"STRIPE_PUBLISHABLE_KEY must start with 'pk_test_' or 'pk_live_'; got {publishable_key[:8]!r}"
        )
    if secret_mode != publishable_mode:
        raise ValueError(
            f"STRIPE_SECRET_KEY is a {secret_mode} key but STRIPE_PUBLISHABLE_KEY is a {publishable_mode} key: "
            "use both keys of the same mode"
        )


def check_range(setting: str, value: int, low: int, high: int, unit: str, high_in_words: str) -> int:
    """``value`` if it lies in ``[low, high]``; else ValueError naming the setting, the range and the value."""
    if not low <= value <= high:
        raise ValueError(
            f"{setting} must be a whole number of {unit} from {low} to {high} ({high_in_words}); got {value}"
        )
    return value


def check_stripe_api_base(api_base: str, secret_key: str | None) -> None:
    """Refuse an API base override unless it is a loopback address used with an ``sk_test_`` key.

    A live key can never reach a fake, and a fake can never be used in production. ValueError names the setting.
    """
    if not (secret_key or "").startswith("sk_test_"):
        raise ValueError(
            "STRIPE_API_BASE is only accepted with a test key: STRIPE_SECRET_KEY must start with 'sk_test_' "
            "(a live key never goes anywhere but Stripe)"
        )
    parts = urlsplit(api_base)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"STRIPE_API_BASE must be an http(s) URL such as http://127.0.0.1:12111; got {api_base!r}")
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(
                f"STRIPE_API_BASE must point at this machine (127.0.0.0/8, ::1 or localhost); {host!r} is not "
                "a loopback address"
            )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
