"""Every accepted token issuer (``identity.oidc`` and ``identity.extra_issuers``), each checked its own way.

A JWT-shaped token goes to the issuer its (still unverified) ``iss`` names, and is then checked
entirely by that issuer's rules; ``iss`` only routes, it is never trusted before the signature or
introspection holds. An opaque token goes to the issuers that introspect, in order, until one
says it is active. Each issuer has its own audience, algorithms, claim paths and role mapping.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import httpx

from suite.auth.claims import principal_from_claims
from suite.auth.discovery import Discovery
from suite.auth.introspection import INACTIVE, Introspector
from suite.auth.oidc import OidcVerifier, logging_refusals
from suite.auth.principal import Principal
from suite.config import OidcSettings
from suite.errors import AuthenticationFailed


@dataclass(frozen=True)
class Issuer:
    """One issuer: its settings and the checks its validation mode calls for."""

    settings: OidcSettings
    jwt: OidcVerifier | None
    introspection: Introspector | None

    @classmethod
    def build(cls, settings: OidcSettings, client: httpx.AsyncClient) -> Issuer:
        """The checks for settings (whose issuer is set)."""
        assert settings.issuer is not None
        discovery = Discovery(settings.issuer, client)
        mode = settings.validation
        return cls(
            settings=settings,
            jwt=OidcVerifier(settings, client, discovery=discovery) if mode in ("jwt", "both") else None,
            introspection=Introspector(settings, client, discovery=discovery) if mode != "jwt" else None,
        )

    async def verify(self, token: str, *, jwt_shaped: bool) -> dict[str, Any]:
        """The token's checked claims under this issuer's rules."""
        if jwt_shaped and self.jwt is not None:
            return await self.jwt.verify(token)
        if self.introspection is not None:
            return await self.introspection.verify(token)
        raise AuthenticationFailed(
            "Opaque token refused: the issuer is set to validation 'jwt', which needs a signed JWT access token."
        )


class TokenIssuers:
    """Turns an ``Authorization: Bearer <access token>`` header into a Principal under the issuer's rules."""

    def __init__(self, issuers: list[Issuer]) -> None:
        if not issuers:
            raise ValueError("no token issuer configured")
        self.issuers = issuers
        self._by_name = {issuer.settings.issuer: issuer for issuer in issuers}

    @classmethod
    def from_settings(cls, configured: list[OidcSettings], client: httpx.AsyncClient) -> TokenIssuers:
        """One Issuer for each settings entry."""
        return cls([Issuer.build(settings, client) for settings in configured])

    @property
    def introspects(self) -> bool:
        """Whether any issuer accepts opaque tokens."""
        return any(issuer.introspection is not None for issuer in self.issuers)

    async def authenticate(self, authorization: str | None) -> Principal:
        """The principal for a header value; AuthenticationFailed with an actionable reason otherwise."""
        if not authorization:
            raise AuthenticationFailed("Missing credentials: send 'Authorization: Bearer <access token>'.")
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise AuthenticationFailed("Malformed Authorization header: expected 'Bearer <access token>'.")
        issuer, claims = await self.verify(credential.strip())
        return principal_from_claims(claims, issuer.settings, auth_method="oidc_bearer")

    async def verify(self, token: str) -> tuple[Issuer, dict[str, Any]]:
        """The issuer that vouches for a token, and its checked claims; AuthenticationFailed otherwise."""
        with logging_refusals():
            jwt_shaped = token.count(".") == 2
            if jwt_shaped:
                issuer = self._issuer_named(unverified_issuer(token))
                return issuer, await issuer.verify(token, jwt_shaped=True)
            introspecting = [issuer for issuer in self.issuers if issuer.introspection is not None]
            if not introspecting:
                raise AuthenticationFailed(
                    "Opaque token refused: no issuer is set to validation 'introspection' or 'both';"
                    " the suite accepts signed JWT access tokens."
                )
            refusal: AuthenticationFailed | None = None
            for issuer in introspecting:
                try:
                    return issuer, await issuer.verify(token, jwt_shaped=False)
                except AuthenticationFailed as exc:
                    # Inactive at one issuer: perhaps another's; a failure there is kept to say so.
                    refusal = exc if refusal is None or refusal.message == INACTIVE else refusal
            assert refusal is not None
            raise refusal

    def _issuer_named(self, name: str | None) -> Issuer:
        if name is None:
            # An unreadable payload: with one issuer its own checks name the fault (signature, format).
            if len(self.issuers) == 1:
                return self.issuers[0]
            raise AuthenticationFailed("Malformed token: no readable issuer (iss), so no IdP can be chosen.")
        issuer = self._by_name.get(name)
        if issuer is None:
            accepted = ", ".join(f"'{item.settings.issuer}'" for item in self.issuers)
            raise AuthenticationFailed(f"Token issuer not accepted: '{name[:200]}'; the suite accepts {accepted}.")
        return issuer


def unverified_issuer(token: str) -> str | None:
    """The iss a JWT claims, unverified (for routing only); None if it has none or is no JWT."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error, RecursionError, IndexError):
        return None
    iss = claims.get("iss") if isinstance(claims, dict) else None
    return iss if isinstance(iss, str) else None
