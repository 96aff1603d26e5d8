"""What the provider remembers: configured users and clients, and in-memory codes and refresh tokens.

Codes and refresh tokens live in memory only: a restart of the development
provider logs everyone out, which is acceptable here. The objects follow the
method names authlib's grants call (its ``ClientMixin``, ``AuthorizationCodeMixin``
and ``TokenMixin``) without inheriting from them.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from suite.config import DevIdpClient, DevIdpSettings, DevIdpUser

SCOPES_SUPPORTED = ["openid", "profile", "email", "offline_access"]
# What a user-facing client gets when it asks for no scope at all (RFC 6749 section 3.3).
DEFAULT_USER_SCOPE = "openid profile email"
# Short, as RFC 6749 section 4.1.2 recommends (at most 10 minutes); the client redeems it at once.
CODE_TTL_S = 120
_USER_AUTH_METHODS = frozenset({"client_secret_basic", "client_secret_post"})


@dataclass(frozen=True)
class Client:
    """A configured client, seen through the methods authlib asks of a client."""

    config: DevIdpClient

    @property
    def client_id(self) -> str:
        return self.config.client_id

    @property
    def client_metadata(self) -> dict[str, Any]:
        # Read by authlib's end-session endpoint.
        return {"post_logout_redirect_uris": list(self.config.post_logout_redirect_uris)}

    def get_client_id(self) -> str:
        return self.config.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.config.redirect_uris[0] if self.config.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return DEFAULT_USER_SCOPE if "authorization_code" in self.config.grant_types else ""
        return " ".join(s for s in scope.split() if s in SCOPES_SUPPORTED)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact match only: no prefixes or wildcards, so a code cannot be steered elsewhere.
        return redirect_uri in self.config.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        expected = self.config.client_secret
        if expected is None:
            return False
        return secrets.compare_digest(expected.get_secret_value().encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.config.client_secret is None:
            return method == "none"
        return method in _USER_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.config.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.config.grant_types


@dataclass(frozen=True)
class AuthorizationCode:
    """An issued authorization code and what it was issued for."""

    code: str
    client_id: str
    username: str
    redirect_uri: str | None
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    expires_at: float

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd"]


@dataclass
class RefreshToken:
    """An issued refresh token; revoked once it has been exchanged (rotation)."""

    token: str
    client_id: str
    username: str
    scope: str
    expires_at: float
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return time.time() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked


@dataclass
class Store:
    """Users and clients from settings; codes and refresh tokens issued since start."""

    settings: DevIdpSettings
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)

    def client(self, client_id: str) -> Client | None:
        """The configured client with this id, if any."""
        for config in self.settings.clients:
            if config.client_id == client_id:
                return Client(config)
        return None

    def user(self, username: str) -> DevIdpUser | None:
        """The configured user with this name, if any."""
        return next((user for user in self.settings.users if user.username == username), None)

    def authenticate(self, username: str, password: str) -> DevIdpUser | None:
        """The user when the password matches, else None (compared in constant time)."""
        user = self.user(username)
        if user is None or not secrets.compare_digest(user.password.get_secret_value().encode(), password.encode()):
            return None
        return user

    def save_code(self, code: AuthorizationCode) -> None:
        """Remember an issued code until it is redeemed or expires."""
        self._purge()
        self.codes[code.code] = code

    def find_code(self, code: str, client_id: str) -> AuthorizationCode | None:
        """A live code issued to this client."""
        found = self.codes.get(code)
        if found is None or found.client_id != client_id or time.time() >= found.expires_at:
            return None
        return found

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        """Whether a pending code of this client already carries the nonce (a replayed request)."""
        return any(c.client_id == client_id and c.nonce == nonce for c in self.codes.values())

    def save_refresh_token(self, *, token: str, client_id: str, username: str, scope: str) -> None:
        """Remember an issued refresh token for ``refresh_token_ttl_s``."""
        self._purge()
        expires_at = time.time() + self.settings.refresh_token_ttl_s
        self.refresh_tokens[token] = RefreshToken(token, client_id, username, scope, expires_at)

    def find_refresh_token(self, token: str) -> RefreshToken | None:
        """A live (unexpired, unrevoked) refresh token."""
        found = self.refresh_tokens.get(token)
        if found is None or found.is_expired() or found.is_revoked():
            return None
        return found

    def revoke_refresh_tokens(self, *, client_id: str, username: str) -> None:
        """Revoke every refresh token of this user at this client (logout)."""
        for token in self.refresh_tokens.values():
            if token.client_id == client_id and token.username == username:
                token.revoked = True

    def _purge(self) -> None:
        # Drop dead entries on each write, so memory stays bounded without a background task.
        now = time.time()
        self.codes = {k: c for k, c in self.codes.items() if c.expires_at > now}
        self.refresh_tokens = {k: t for k, t in self.refresh_tokens.items() if t.expires_at > now and not t.revoked}
