"""Bearer access tokens (JWT) from the company IdP, checked against the issuer's published keys.

Accepted only if: a compact JWS; ``alg`` in ``identity.oidc.algorithms`` (never ``none`` or HMAC,
so a public key can never be an HMAC secret); the key, chosen only by ``kid`` from the issuer's
own JWKS (via discovery), has the algorithm's type; the signature verifies; ``iss``, ``aud``,
``exp``, ``nbf``, ``iat`` (with ``leeway_s``) and ``sub`` hold. Keys a token brings or points to
(``jwk``, ``jku``, ``x5c``, ``x5u``) are ignored: trusting them lets anyone sign their own tokens.

With ``required_typ`` set (RFC 9068: ``at+jwt``) the header's ``typ`` must match, so an ID
token or another JWT from the same issuer is not taken for an access token.

Keys are fetched on first use and kept parsed. An unknown kid (rotation) triggers a refetch at
once, so a token signed with a freshly rotated key works on its first request; the same kid
triggers another at most once per ``jwks_min_refetch_s``, and all fetches together draw from a
token bucket of ``jwks_max_refetch_per_minute`` (a flood of random kids cannot hammer the IdP).
Concurrent requests share one fetch. Keys older than ``max_key_age_s`` are refreshed so a
withdrawn key stops being trusted. While the IdP is down, the keys held keep working.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import httpx
import structlog
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey, import_key

from suite.auth.claims import check_registered_claims, principal_from_claims
from suite.auth.discovery import Discovery, get_json
from suite.auth.principal import Principal
from suite.config import OidcSettings
from suite.errors import AuthenticationFailed

log = structlog.get_logger(__name__)

UNREACHABLE = "Cannot validate tokens: the identity provider is unreachable"

_KEY_TYPES = {"RS256": RSAKey, "PS256": RSAKey, "ES256": ECKey}
_MIN_RSA_BITS = 2048
# IdPs may put a certificate chain (x5c, ignored) in the header: joserfc's 512-byte default is too small.
_MAX_HEADER_BYTES = 8192

# Unknown kids remembered for their own refetch interval (oldest forgotten first).
_MAX_REMEMBERED_KIDS = 1024

VerificationKey = RSAKey | ECKey


class TokenBucket:
    """``per_minute`` tokens, refilled continuously; starts full."""

    def __init__(self, per_minute: int) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._tokens = self._capacity
        self._at = time.monotonic()

    def take(self) -> bool:
        """Take one token if there is one."""
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class _KeyCache:
    """One fetched JWKS: its usable keys, by kid, and when it was fetched (monotonic)."""

    def __init__(self, keys: list[VerificationKey], fetched_at: float) -> None:
        self.keys = keys
        self.fetched_at = fetched_at
        self.by_kid: dict[str, list[VerificationKey]] = {}
        for key in keys:
            if key.kid is not None:
                self.by_kid.setdefault(key.kid, []).append(key)


class OidcVerifier:
    """Turns an ``Authorization: Bearer <access token>`` header into a Principal, or refuses."""

    introspects = False

    def __init__(
        self,
        settings: OidcSettings,
        client: httpx.AsyncClient,
        *,
        max_key_age_s: float = 3600,
        discovery: Discovery | None = None,
    ) -> None:
        if settings.issuer is None:
            raise ValueError("identity.oidc.issuer is not set: bearer tokens cannot be validated")
        if not settings.algorithms:
            raise ValueError("identity.oidc.algorithms is empty: no token could ever be accepted")
        self._settings = settings
        self._issuer = settings.issuer
        self._client = client
        self._max_key_age_s = max_key_age_s
        self._algorithms: tuple[str, ...] = tuple(settings.algorithms)
        # Unknown header parameters are ignored (RFC 7515 4); crit is refused before this sees it.
        self._registry = jws.JWSRegistry(algorithms=self._algorithms, strict_check_header=False)
        self._registry.max_header_length = _MAX_HEADER_BYTES
        self._discovery = discovery or Discovery(self._issuer, client)
        self._cache: _KeyCache | None = None
        self._lock = asyncio.Lock()
        self._attempted_at = -math.inf
        self._bucket = TokenBucket(settings.jwks_max_refetch_per_minute)
        self._kid_tried: OrderedDict[str, float] = OrderedDict()
        # Counts finished fetch attempts: a request that waited on the lock sees it moved and reuses that result.
        self._generation = 0

    async def authenticate(self, authorization: str | None) -> Principal:
        """The principal for a header value; AuthenticationFailed with an actionable reason otherwise."""
        with logging_refusals():
            if not authorization:
                raise AuthenticationFailed("Missing credentials: send 'Authorization: Bearer <access token>'.")
            scheme, _, credential = authorization.partition(" ")
            if scheme.lower() != "bearer" or not credential.strip():
                raise AuthenticationFailed("Malformed Authorization header: expected 'Bearer <access token>'.")
            claims = await self._verify(credential.strip())
            return principal_from_claims(claims, self._settings, auth_method="oidc_bearer")

    async def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid access token; AuthenticationFailed saying why otherwise."""
        with logging_refusals():
            return await self._verify(token)

    async def _verify(self, token: str) -> dict[str, Any]:
        signed = self._parse(token)
        header = signed.headers()
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise AuthenticationFailed(f"Token algorithm not allowed: the suite accepts {', '.join(self._algorithms)}.")
        if "crit" in header or "b64" in header:
            # No JWT access token needs JWS extensions; refusing them keeps the signing input plain.
            raise AuthenticationFailed("Malformed token: critical header extensions are not supported.")
        required_typ = self._settings.required_typ
        if required_typ is not None and not _same_media_type(header.get("typ"), required_typ):
            raise AuthenticationFailed(
                f"Token type not accepted: the header's typ must be '{required_typ}' (an access token,"
                " RFC 9068); an ID token or another JWT is refused."
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise AuthenticationFailed("Malformed token: the key id (kid) is not a string.")
        key = await self._key_for(kid, alg)
        try:
            valid = jws.validate_compact(signed, key, registry=self._registry)
        except JoseError:
            valid = False
        if not valid:
            raise AuthenticationFailed("Token signature invalid.")
        claims = _json_object(signed.payload)
        check_registered_claims(claims, self._settings)
        return claims

    def _parse(self, token: str) -> jws.CompactSignature:
        try:
            signed = jws.extract_compact(token.encode("ascii"), registry=self._registry)
            if not isinstance(signed.headers(), dict):
                raise TypeError("header is not a JSON object")
            self._registry.check_header(signed.headers())
        except (JoseError, ValueError, TypeError, RecursionError):
            # from None: the library's message may quote parts of the token.
            raise AuthenticationFailed("Malformed token: expected a signed JWT (header.payload.signature).") from None
        return signed

    async def _key_for(self, kid: str | None, alg: str) -> VerificationKey:
        cache = self._cache
        if cache is None:
            await self._refresh(self._generation, interval=0)
        elif time.monotonic() - cache.fetched_at > self._max_key_age_s and not self._lock.locked():
            # Stale keys are refreshed by one request; the others go on with the keys held.
            await self._refresh(self._generation, interval=self._settings.jwks_min_refetch_s)
        cache = self._cache
        if cache is None:
            raise AuthenticationFailed(UNREACHABLE)
        if kid is None:
            fitting = [key for key in cache.keys if _fits(key, alg)]
            if len(fitting) != 1:
                raise AuthenticationFailed(
                    "Unknown signing key: the token names no key id (kid) and the issuer has no single key for it."
                )
            return fitting[0]
        if kid not in cache.by_kid:
            await self._refresh(self._generation, kid=kid)
            cache = self._cache
            if cache is None or kid not in cache.by_kid:
                raise AuthenticationFailed("Unknown signing key: the issuer does not publish the token's key id (kid).")
        fitting = [key for key in cache.by_kid[kid] if _fits(key, alg)]
        if not fitting:
            raise AuthenticationFailed("Token algorithm not allowed for its signing key (key type mismatch).")
        return fitting[0]

    async def _refresh(self, generation: int, *, interval: float = 0, kid: str | None = None) -> None:
        """Fetch the JWKS unless another request just did (shared result) or the limits forbid it.

        ``interval``: no fetch within that many seconds of the last attempt; ``kid``: an unknown
        key id, fetched for at most once per ``jwks_min_refetch_s``. Every fetch takes a bucket token.
        """
        async with self._lock:
            if generation != self._generation:
                return
            now = time.monotonic()
            if self._cache is not None and now - self._attempted_at < interval:
                return
            if kid is not None and not self._may_refetch_for(kid, now):
                return
            if not self._bucket.take():
                log.warning("jwks refetch skipped", issuer=self._issuer, why="jwks_max_refetch_per_minute reached")
                return
            if kid is not None:
                self._kid_tried[kid] = now
            self._attempted_at = now
            keys = await self._fetch_keys()
            # Counted after the fetch, so a cancelled fetch lets a waiting request try itself.
            self._generation += 1
            if keys is not None:
                self._cache = _KeyCache(keys, fetched_at=now)

    def _may_refetch_for(self, kid: str, now: float) -> bool:
        tried = self._kid_tried.pop(kid, None)
        if tried is not None and now - tried < self._settings.jwks_min_refetch_s:
            self._kid_tried[kid] = tried  # kept, now the most recent
            return False
        while len(self._kid_tried) >= _MAX_REMEMBERED_KIDS:
            self._kid_tried.popitem(last=False)
        return True

    async def _fetch_keys(self) -> list[VerificationKey] | None:
        try:
            jwks_uri = await self._discovery.endpoint("jwks_uri")
            keys = _parse_jwks(await get_json(self._client, jwks_uri))
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            self._discovery.forget()  # read discovery again next time: the IdP may have moved its keys
            log.warning("jwks fetch failed", issuer=self._issuer, error=str(exc) or type(exc).__name__)
            return None
        log.info("jwks loaded", issuer=self._issuer, kids=[key.kid for key in keys])
        return keys


def _parse_jwks(document: Any) -> list[VerificationKey]:
    """The signature keys of a JWKS that the allowed algorithms can use; other entries are skipped."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("the JWKS has no keys list")
    keys: list[VerificationKey] = []
    for entry in entries:
        # Only RSA and P-256 signature keys: an "oct" entry must never become an HMAC secret.
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("kty") != "RSA" and (entry.get("kty"), entry.get("crv")) != ("EC", "P-256"):
            continue
        try:
            key = import_key(entry)
        except (JoseError, ValueError, TypeError, KeyError):
            log.warning("jwks key skipped", kid=str(entry.get("kid")), why="not a valid key")
            continue
        if isinstance(key, RSAKey) and key.public_key.key_size < _MIN_RSA_BITS:
            log.warning("jwks key skipped", kid=str(entry.get("kid")), why="RSA key below 2048 bits")
            continue
        if isinstance(key, RSAKey | ECKey):
            keys.append(key)
    return keys


def _fits(key: VerificationKey, alg: str) -> bool:
    """Whether a key may verify alg: the family's key type, P-256 for ES256, and the key's own alg if it has one."""
    if key.get("alg") not in (None, alg) or not isinstance(key, _KEY_TYPES[alg]):
        return False
    return not isinstance(key, ECKey) or key.curve_name == "P-256"


def _same_media_type(typ: Any, required: str) -> bool:
    """typ compared as a media type: case-insensitive, ``application/`` optional (RFC 7515 4.1.9)."""
    if not isinstance(typ, str):
        return False

    def bare(value: str) -> str:
        value = value.strip().lower()
        return value.removeprefix("application/")

    return bare(typ) == bare(required)


def _json_object(payload: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(payload)
    except (ValueError, RecursionError):
        claims = None
    if not isinstance(claims, dict):
        raise AuthenticationFailed("Malformed token: the payload is not a JSON object.")
    return claims


@contextlib.contextmanager
def logging_refusals() -> Iterator[None]:
    """Log each refusal with its reason only: never the token or a part of it."""
    try:
        yield
    except AuthenticationFailed as exc:
        log.info("token refused", reason=exc.message)
        raise
