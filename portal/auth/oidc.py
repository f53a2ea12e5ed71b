"""Sign-in through an OpenID Connect provider, with Authlib: authorization code flow with PKCE (S256).

The provider is found through ``<OIDC_ISSUER>/.well-known/openid-configuration``.
Authlib verifies the ID token (signature from the provider's keys, issuer,
audience, nonce, expiry); the profile then adds the claims of the userinfo
endpoint, where providers put email and profile claims for the code flow.

Authlib keeps a flow's state (the ``state`` value, nonce, PKCE verifier and
redirect URI) in ``request.session``. Rather than Starlette's session
middleware on every route, the two routes of the flow provide that mapping
themselves: :meth:`OidcProvider.start` seals it into a short-lived HTTP-only
cookie, scoped to ``/api/auth/oidc``, as a JWT signed (HS256, joserfc) with
``PORTAL_SECRET_KEY``; :meth:`OidcProvider.finish` opens it again. Without that
setting each process signs with its own random key, so a flow must end in the
process it started in (set the key when several workers serve the portal).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import timedelta
from functools import lru_cache
from typing import Any

import httpx2
from authlib.integrations.starlette_client import OAuth, OAuthError  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from starlette.requests import Request
from starlette.responses import Response

from portal.auth.identity_provider import CANCELLED, FAILED, UNAVAILABLE, ExternalProfile, SignInFlowFailed
from portal.config import get_settings

FLOW_COOKIE = "portal_oidc_flow"
FLOW_COOKIE_PATH = "/api/auth/oidc"
FLOW_LIFETIME = timedelta(minutes=10)
GROUPS_CLAIM = "groups"


@lru_cache(maxsize=1)
def _process_secret() -> bytes:
    return secrets.token_bytes(32)


def _signing_key() -> OctKey:
    configured = get_settings().secret_key
    return OctKey.import_key(hashlib.sha256(configured.encode()).digest() if configured else _process_secret())


def _seal(flow: dict[str, Any]) -> str:
    claims = {"flow": flow, "exp": int(time.time() + FLOW_LIFETIME.total_seconds())}
    return jwt.encode({"alg": "HS256"}, claims, _signing_key())


def _unseal(cookie: str | None) -> dict[str, Any]:
    """The flow sealed in ``cookie``; empty when it is missing, forged or expired."""
    if not cookie:
        return {}
    try:
        token = jwt.decode(cookie, _signing_key(), algorithms=["HS256"])
        jwt.JWTClaimsRegistry(exp={"essential": True}).validate(token.claims)
    except (JoseError, ValueError):
        return {}
    flow = token.claims.get("flow")
    return flow if isinstance(flow, dict) else {}


def _is_true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _groups(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(group) for group in value) if isinstance(value, list) else ()


class OidcProvider:
    """One OpenID Connect provider, registered with Authlib's Starlette client."""

    def __init__(self, issuer: str, client_id: str, client_secret: str, scopes: str, name: str) -> None:
        self.name = name
        self._client: Any = OAuth().register(
            "portal",
            client_id=client_id,
            client_secret=client_secret,
            server_metadata_url=f"{issuer.rstrip('/')}/.well-known/openid-configuration",
            client_kwargs={"scope": scopes, "code_challenge_method": "S256"},
        )

    async def start(self, request: Request, callback_url: str, return_to: str) -> Response:
        """Redirect to the provider's authorization endpoint, keeping the flow's state in a sealed cookie."""
        flow: dict[str, Any] = {}
        request.scope["session"] = flow
        try:
            response: Response = await self._client.authorize_redirect(request, callback_url)
        except (httpx2.HTTPError, ValueError) as exc:
            detail = f"the provider's configuration could not be read: {exc}"
            raise SignInFlowFailed(UNAVAILABLE, detail, return_to) from exc
        flow["return_to"] = return_to
        response.set_cookie(
            FLOW_COOKIE,
            _seal(flow),
            max_age=int(FLOW_LIFETIME.total_seconds()),
            path=FLOW_COOKIE_PATH,
            httponly=True,
            secure=request.url.scheme == "https",
            samesite="lax",
        )
        return response

    async def finish(self, request: Request) -> tuple[ExternalProfile, str]:
        """Exchange the code (with the PKCE verifier), verify the ID token, and read the userinfo claims."""
        flow = _unseal(request.cookies.get(FLOW_COOKIE))
        return_to = str(flow.get("return_to") or get_settings().public_url)
        request.scope["session"] = flow
        if request.query_params.get("error") == "access_denied":
            raise SignInFlowFailed(CANCELLED, "the person cancelled at the provider", return_to)
        try:
            token = await self._client.authorize_access_token(request)
            id_claims = dict(token.get("userinfo") or {})
            userinfo = dict(await self._client.userinfo(token=token))
        except (OAuthError, JoseError, httpx2.HTTPError, ValueError) as exc:
            raise SignInFlowFailed(FAILED, f"{type(exc).__name__}: {exc}", return_to) from exc
        if not id_claims.get("sub") or userinfo.get("sub", id_claims["sub"]) != id_claims["sub"]:
            raise SignInFlowFailed(FAILED, "the ID token and the userinfo name different subjects", return_to)
        claims = {**userinfo, **id_claims}
        profile = ExternalProfile(
            issuer=str(claims["iss"]),
            subject=str(claims["sub"]),
            email=str(claims.get("email") or ""),
            email_verified=_is_true(claims.get("email_verified")),
            name=str(claims.get("name") or claims.get("preferred_username") or ""),
            groups=_groups(claims.get(GROUPS_CLAIM)),
            claims=claims,
        )
        return profile, return_to


def clear_flow_cookie(response: Response) -> None:
    """Remove the flow's cookie once the callback has used it."""
    response.delete_cookie(FLOW_COOKIE, path=FLOW_COOKIE_PATH)


@lru_cache(maxsize=4)
def _provider(issuer: str, client_id: str, client_secret: str, scopes: str, name: str) -> OidcProvider:
    return OidcProvider(issuer, client_id, client_secret, scopes, name)


def configured_provider() -> OidcProvider | None:
    """The provider the settings name (one per configuration, so its metadata is fetched once), or None."""
    settings = get_settings()
    if not (settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret):
        return None
    return _provider(
        settings.oidc_issuer,
        settings.oidc_client_id,
        settings.oidc_client_secret,
        settings.oidc_scopes,
        settings.oidc_provider_name,
    )
