"""Settings from the environment, read through one cached function.

Defaults run on a laptop: an embedded SQLite database under ``data/``, no
Redis, no payment provider, local email-and-password sign-in. Reflex reads
its own variables (``REFLEX_DB_URL``, ``REFLEX_REDIS_URL``) directly; the
database URL is read here too so that the CLI, the API and Alembic agree.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'data' / 'portal.db'}"


class Settings(BaseSettings):
    """Every setting the portal reads, with its environment variable."""

    model_config = SettingsConfigDict(env_prefix="PORTAL_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("REFLEX_DB_URL", "PORTAL_DATABASE_URL"),
        description="SQLAlchemy URL of the database (SQLite file by default, PostgreSQL in production).",
    )
    session_days: int = Field(default=14, description="How long a sign-in session lasts without activity.")
    oidc_issuer: str | None = Field(default=None, validation_alias=AliasChoices("OIDC_ISSUER", "PORTAL_OIDC_ISSUER"))
    oidc_client_id: str | None = Field(
        default=None, validation_alias=AliasChoices("OIDC_CLIENT_ID", "PORTAL_OIDC_CLIENT_ID")
    )
    oidc_client_secret: str | None = Field(
        default=None, validation_alias=AliasChoices("OIDC_CLIENT_SECRET", "PORTAL_OIDC_CLIENT_SECRET")
    )

    @property
    def is_sqlite(self) -> bool:
        """True when the database is an embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def sign_in_methods(self) -> tuple[str, ...]:
        """Sign-in methods offered: local passwords always, OpenID Connect when fully configured."""
        oidc = self.oidc_issuer and self.oidc_client_id and self.oidc_client_secret
        return ("password", "oidc") if oidc else ("password",)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
