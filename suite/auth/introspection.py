"""Opaque access tokens, checked by asking the IdP (OAuth 2.0 Token Introspection, RFC 7662).

The suite POSTs the token to the issuer's introspection endpoint (from discovery unless
configured), authenticated as its own client: ``client_secret_basic`` or ``private_key_jwt``
(a short-lived assertion signed with the client's private key, RFC 7523). An active answer's
claims go through the same checks and claim mapping as a JWT's; a service token without ``sub``
takes its ``client_id`` as the subject.

Answers are cached by the token's SHA-256 (never the token itself): an active one for at most
``cache_ttl_s`` and never past its ``exp``, an inactive one for ``negative_cache_ttl_s``, so a
revoked token stops working within ``cache_ttl_s``. Failures (IdP down, bad client credentials)
are not cached.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import structlog
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey, import_key

from suite.auth.claims import check_registered_claims
from suite.auth.discovery import FETCH_TIMEOUT, Discovery
from suite.config import OidcSettings
from suite.errors import AuthenticationFailed

log = structlog.get_logger(__name__)

INACTIVE = "Token not active: the identity provider says it is expired, revoked or unknown."
_ASSERTION_LIFETIME_S = 60


class Introspector:
    """Turns an opaque access token into checked claims by asking its issuer, or refuses."""

    def __init__(
        self, settings: OidcSettings, client: httpx.AsyncClient, *, discovery: Discovery | None = None
    ) -> None:
        if settings.issuer is None:
            raise ValueError("identity.oidc.issuer is not set: tokens cannot be introspected")
        options = settings.introspection
        if options.client_id is None:
            raise ValueError(f"introspection for {settings.issuer}: set introspection.client_id")
        if options.client_auth == "client_secret_basic" and options.client_secret is None:
            raise ValueError(f"introspection for {settings.issuer}: set introspection.client_secret")
        self._settings = settings
        self._options = options
        self._client = client
        self._discovery = discovery or Discovery(settings.issuer, client)
        key_file = options.private_key_file
        self._signing_key = _load_key(key_file) if options.client_auth == "private_key_jwt" and key_file else None
        # sha256(token) -> (claims or None for inactive, monotonic expiry)
        self._cache: OrderedDict[str, tuple[dict[str, Any] | None, float]] = OrderedDict()

    async def verify(self, token: str) -> dict[str, Any]:
        """The checked claims of an active token; AuthenticationFailed saying why otherwise."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            claims = cached[0]
        else:
            claims = await self._introspect(token)
            self._remember(digest, claims, now)
        if claims is None:
            raise AuthenticationFailed(INACTIVE)
        check_registered_claims(claims, self._settings)  # exp again: a cached answer ages
        return claims

    async def _introspect(self, token: str) -> dict[str, Any] | None:
        try:
            endpoint = self._options.endpoint or await self._discovery.endpoint("introspection_endpoint")
            response = await self._client.post(
                endpoint,
                data={"token": token, "token_type_hint": "access_token", **self._assertion(endpoint)},
                headers={"accept": "application/json", **self._basic_auth()},
                timeout=FETCH_TIMEOUT,
            )
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            self._discovery.forget()
            log.warning("introspection failed", issuer=self._settings.issuer, error=str(exc) or type(exc).__name__)
            raise AuthenticationFailed("Cannot validate tokens: the identity provider is unreachable") from None
        if response.status_code in (400, 401, 403):
            error = _oauth_error(response)
            log.warning("introspection refused", issuer=self._settings.issuer, status=response.status_code, error=error)
            if error.startswith("unsupported_token_type"):
                raise AuthenticationFailed(
                    "Token refused: the identity provider cannot introspect this kind of token"
                    " (unsupported_token_type); for JWT access tokens set validation 'jwt' or 'both'."
                )
            raise AuthenticationFailed(
                "Cannot validate tokens: the identity provider refused the suite's introspection client"
                f" (HTTP {response.status_code}); check identity.oidc.introspection."
            )
        try:
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, ValueError):
            log.warning("introspection failed", issuer=self._settings.issuer, status=response.status_code)
            raise AuthenticationFailed("Cannot validate tokens: the identity provider's introspection failed") from None
        if not isinstance(answer, dict) or answer.get("active") is not True:
            return None
        return self._claims(answer)

    def _claims(self, answer: dict[str, Any]) -> dict[str, Any]:
        claims = dict(answer)
        # iss and aud are optional in RFC 7662: iss defaults to the issuer asked, aud is required unless configured.
        claims.setdefault("iss", self._settings.issuer)
        if "aud" not in claims and not self._options.require_audience:
            claims["aud"] = self._settings.audience
        if not claims.get("sub") and isinstance(claims.get("client_id"), str):
            claims["sub"] = claims["client_id"]  # a client-credentials token: the service is the subject
        return claims

    def _remember(self, digest: str, claims: dict[str, Any] | None, now: float) -> None:
        if claims is None:
            ttl = self._options.negative_cache_ttl_s
        else:
            exp = claims.get("exp")
            left = exp - time.time() if isinstance(exp, int | float) and not isinstance(exp, bool) else 0.0
            ttl = min(self._options.cache_ttl_s, max(0.0, left))
        if ttl <= 0:
            return
        self._cache[digest] = (claims, now + ttl)
        self._cache.move_to_end(digest)
        while len(self._cache) > self._options.cache_max_entries:
            self._cache.popitem(last=False)

    def _basic_auth(self) -> dict[str, str]:
        if self._options.client_auth != "client_secret_basic":
            return {}
        secret = self._options.client_secret
        assert secret is not None
        assert self._options.client_id is not None
        # RFC 6749 2.3.1: both form-encoded before base64.
        pair = f"{quote(self._options.client_id, safe='')}:{quote(secret.get_secret_value(), safe='')}"
        return {"authorization": "Basic " + _b64(pair.encode())}

    def _assertion(self, endpoint: str) -> dict[str, str]:
        if self._signing_key is None:
            return {}
        now = int(time.time())
        client_id = self._options.client_id
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": endpoint,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + _ASSERTION_LIFETIME_S,
        }
        header: dict[str, Any] = {"alg": self._options.private_key_alg, "typ": "JWT"}
        if self._options.private_key_kid:
            header["kid"] = self._options.private_key_kid
        assertion = jwt.encode(header, claims, self._signing_key, algorithms=[self._options.private_key_alg])
        return {
            "client_id": client_id or "",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        }


def _load_key(path: Path) -> RSAKey | ECKey:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"introspection.private_key_file {path}: {exc.strerror}") from None
    return _import_any(pem)


def _import_any(pem: bytes) -> RSAKey | ECKey:
    for kind in ("RSA", "EC"):
        try:
            key = import_key(pem, kind)
        except (JoseError, ValueError, TypeError):  # the next kind is tried
            continue
        if isinstance(key, RSAKey | ECKey) and key.is_private:
            return key
    raise ValueError("introspection.private_key_file is not a PEM RSA or P-256 private key")


def _oauth_error(response: httpx.Response) -> str:
    """The OAuth error code and description of a refusal (they name no token)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    return f"{body.get('error', '')}: {body.get('error_description', '')}"[:300]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
