"""One entry point for every credential the API accepts.

``Authorization: Bearer <credential>`` only (never a query string). The credential's
shape picks the check: ``suitekey_...`` is a managed API key, a three-part JWT is an
OIDC access token, anything else is compared with the static keys from settings and, when no
static key matches and an issuer introspects, taken for an opaque access token (RFC 7662).
"""

from __future__ import annotations

from typing import Protocol

from suite.auth.api_keys import ApiKeyStore, looks_like_api_key
from suite.auth.principal import Principal
from suite.auth.static_keys import StaticKeyAuthenticator, bearer_credential
from suite.errors import AuthenticationFailed


class TokenVerifier(Protocol):
    @property
    def introspects(self) -> bool:
        """Whether opaque (non-JWT) access tokens are checked too."""
        ...

    async def authenticate(self, authorization: str | None) -> Principal: ...


class Authenticator:
    """Turns an Authorization header into a Principal, or raises AuthenticationFailed."""

    def __init__(
        self, *, static_keys: StaticKeyAuthenticator, api_keys: ApiKeyStore, tokens: TokenVerifier | None
    ) -> None:
        self._static_keys = static_keys
        self._api_keys = api_keys
        self._tokens = tokens

    async def authenticate(self, authorization: str | None) -> Principal:
        """The caller's principal."""
        credential = bearer_credential(authorization)
        if looks_like_api_key(credential):
            return await self._api_keys.authenticate(credential)
        if credential.count(".") == 2:
            if self._tokens is None:
                raise AuthenticationFailed("Bearer tokens are not accepted: no identity provider is configured.")
            return await self._tokens.authenticate(authorization)
        try:
            return self._static_keys.authenticate_credential(credential)
        except AuthenticationFailed:
            if self._tokens is None or not self._tokens.introspects:
                raise
        return await self._tokens.authenticate(authorization)
