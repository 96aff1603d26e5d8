"""authlib's grants and endpoints, bound to the in-memory store and the signing keys.

authlib ships without type information, so each subclass carries an ignore for
"subclassing Any"; ``unused-ignore`` keeps it quiet once authlib is typed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from authlib.oauth2.rfc6749 import (  # type: ignore[import-untyped, unused-ignore]
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    InvalidRequestError,
    RefreshTokenGrant,
)
from authlib.oauth2.rfc7636 import CodeChallenge  # type: ignore[import-untyped, unused-ignore]
from authlib.oidc.core import OpenIDCode  # type: ignore[import-untyped, unused-ignore]
from authlib.oidc.rpinitiated import (  # type: ignore[import-untyped, unused-ignore]
    EndSessionEndpoint,
    EndSessionRequest,
)
from joserfc.jwk import KeySet

from suite.auth.dev_idp.keys import ALGORITHM, DevIdpKeys
from suite.auth.dev_idp.store import CODE_TTL_S, AuthorizationCode, Client, RefreshToken, Store
from suite.auth.dev_idp.tokens import user_claims
from suite.config import DevIdpUser

if TYPE_CHECKING:
    from suite.auth.dev_idp.server import StarletteAuthorizationServer

# Confidential clients send their secret; public ones (no secret) rely on PKCE alone.
_USER_FLOW_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


def _store(grant: Any) -> Store:
    server: StarletteAuthorizationServer = grant.server
    return server.store


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc, unused-ignore]
    """Authorization code grant; codes are single-use and short-lived."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = _USER_FLOW_AUTH_METHODS

    def save_authorization_code(self, code: str, request: Any) -> None:
        data = request.payload.data
        user: DevIdpUser = request.user
        _store(self).save_code(
            AuthorizationCode(
                code=code,
                client_id=request.client.client_id,
                username=user.username,
                redirect_uri=request.payload.redirect_uri,
                # request.scope is the resolved scope (the default when none was asked for).
                scope=request.scope,
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                auth_time=int(time.time()),
                expires_at=time.time() + CODE_TTL_S,
            )
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        return _store(self).find_code(code, client.client_id)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        _store(self).codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> DevIdpUser | None:
        return _store(self).user(authorization_code.username)


class RefreshGrant(RefreshTokenGrant):  # type: ignore[misc, unused-ignore]
    """Refresh token grant with rotation: each exchange issues a new refresh token and revokes the old."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = _USER_FLOW_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        return _store(self).find_refresh_token(refresh_token)

    def authenticate_user(self, refresh_token: RefreshToken) -> DevIdpUser | None:
        return _store(self).user(refresh_token.username)

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        refresh_token.revoked = True


class ServiceGrant(ClientCredentialsGrant):  # type: ignore[misc, unused-ignore]
    """Client credentials grant: service tokens for confidential clients only."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc, unused-ignore]
    """PKCE required on every authorization request, S256 only (RFC 9700 section 2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE is required.")
        # "plain" would be the RFC 7636 default for an absent method, so the method must be named.
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class IdTokens(OpenIDCode):  # type: ignore[misc, unused-ignore]
    """OpenID Connect for the code flow: an ID token (aud = client_id, nonce echoed) when scope has openid."""

    def __init__(self, *, keys: DevIdpKeys, issuer: str, ttl_s: int, store: Store) -> None:
        super().__init__(require_nonce=False)
        self._keys = keys
        self._issuer = issuer
        self._ttl_s = ttl_s
        self._store = store

    def resolve_client_private_key(self, client: Client) -> KeySet:
        # The whole set, so the kid put in the header still resolves if a rotation lands in between.
        return self._keys.signing_keys()

    def get_encode_header(self, client: Client) -> dict[str, Any]:
        return {"alg": ALGORITHM, "kid": self._keys.current_kid}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        return {"iss": self._issuer, "aud": client.client_id, "exp": int(time.time()) + self._ttl_s}

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return self._store.nonce_used(request.payload.client_id, nonce)

    def generate_user_info(self, user: DevIdpUser, scope: str) -> dict[str, Any]:
        return user_claims(user, scope)


class LogoutEndpoint(EndSessionEndpoint):  # type: ignore[misc, unused-ignore]
    """RP-initiated logout: redirects only to a registered post-logout URI, and only with a valid id_token_hint."""

    def __init__(self, server: Any = None, *, keys: DevIdpKeys, store: Store) -> None:
        super().__init__(server)
        self._keys = keys
        self._store = store

    def get_server_jwks(self) -> KeySet:
        return self._keys.verification_keys()

    def get_algorithms(self) -> list[str]:
        return [ALGORITHM]

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        # No browser session to end (every login asks for the password); a logout ends the refresh tokens.
        claims = end_session_request.id_token_claims
        client = end_session_request.client
        if claims and client is not None:
            self._store.revoke_refresh_tokens(client_id=client.client_id, username=claims["sub"])
