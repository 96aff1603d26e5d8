"""Static API keys from settings: the auth seam until the identity layer (OIDC, managed keys) lands.

Only SHA-256 hashes are configured; a presented key is hashed and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from suite.auth.principal import Principal
from suite.errors import AuthenticationFailed

if TYPE_CHECKING:  # `suite hash-key` imports this module and needs no settings
    from suite.config import AuthSettings


def bearer_credential(authorization: str | None) -> str:
    """The credential of an ``Authorization: Bearer ...`` header; AuthenticationFailed saying what is wrong."""
    if not authorization:
        raise AuthenticationFailed("Missing credentials: send 'Authorization: Bearer <token or api key>'.")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise AuthenticationFailed("Malformed Authorization header: expected 'Bearer <token or api key>'.")
    return credential.strip()


def hash_api_key(key: str) -> str:
    """The hex SHA-256 under which a key is configured."""
    return hashlib.sha256(key.encode()).hexdigest()


class StaticKeyAuthenticator:
    """Turns an ``Authorization: Bearer <key>`` header into a Principal, or refuses."""

    def __init__(self, settings: AuthSettings) -> None:
        self._keys = [(bytes.fromhex(k.sha256), k) for k in settings.static_api_keys]

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal for a header value; AuthenticationFailed with an actionable reason otherwise."""
        return self.authenticate_credential(bearer_credential(authorization))

    def authenticate_credential(self, credential: str) -> Principal:
        """The principal for the credential of a Bearer header."""
        digest = hashlib.sha256(credential.encode()).digest()
        match = None
        for expected, key in self._keys:
            if hmac.compare_digest(digest, expected):  # keep comparing: constant time over all keys
                match = key
        if match is None:
            raise AuthenticationFailed("Invalid API key.")
        return Principal(
            subject=f"apikey:{match.name}", name=match.name, auth_method="static_api_key", roles=frozenset(match.roles)
        )
