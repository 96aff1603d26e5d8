"""Token contents: the claims of access tokens and ID tokens, signing and verifying them.

Access tokens are RFC 9068 JWTs (``typ: at+jwt``) carrying the identity the
suite reads: ``groups`` and ``roles``, and the same roles Keycloak-style under
``realm_access.roles`` so the Keycloak claim paths are exercised in development.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.errors import InvalidHeaderValueError

from suite.auth.dev_idp.keys import ALGORITHM, DevIdpKeys
from suite.config import DevIdpClient, DevIdpSettings, DevIdpUser

ACCESS_JWT_TYP = "at+jwt"


def user_claims(user: DevIdpUser, scope: str) -> dict[str, Any]:
    """A user's identity claims for ID tokens and userinfo, by the OIDC scopes granted."""
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": user.username}
    if "profile" in scopes:
        claims |= {"name": user.name, "preferred_username": user.username}
    if "email" in scopes:
        # The configured users are the provider's own; their addresses count as verified.
        claims |= {"email": user.email, "email_verified": True}
    # Group and role mappers are on for every client, as in a typical Keycloak realm.
    claims |= {"groups": list(user.groups), "roles": list(user.roles)}
    return claims


def mint_access_token(
    settings: DevIdpSettings,
    keys: DevIdpKeys,
    *,
    issuer: str,
    audience: str,
    user: DevIdpUser,
    client_id: str,
    scope: str,
) -> str:
    """A signed access token for ``user``, as the token endpoint would issue it to ``client_id``."""
    claims = _registered_claims(
        issuer=issuer,
        audience=audience,
        subject=user.username,
        client_id=client_id,
        scope=scope,
        ttl_s=settings.access_token_ttl_s,
    )
    claims |= {
        "name": user.name,
        "preferred_username": user.username,
        "email": user.email,
        "groups": list(user.groups),
        "roles": list(user.roles),
        "realm_access": {"roles": list(user.roles)},
    }
    return sign(keys, claims, typ=ACCESS_JWT_TYP)


def mint_service_token(
    settings: DevIdpSettings, keys: DevIdpKeys, *, issuer: str, audience: str, client: DevIdpClient, scope: str
) -> str:
    """A signed access token for a service (client credentials): the client is its own subject."""
    claims = _registered_claims(
        issuer=issuer,
        audience=audience,
        subject=client.client_id,
        client_id=client.client_id,
        scope=scope,
        ttl_s=settings.access_token_ttl_s,
    )
    claims |= {"groups": [], "roles": list(client.roles), "realm_access": {"roles": list(client.roles)}}
    return sign(keys, claims, typ=ACCESS_JWT_TYP)


def sign(keys: DevIdpKeys, claims: dict[str, Any], *, typ: str = "JWT") -> str:
    """Sign ``claims`` with the current key; the header names the key by ``kid``."""
    # Read the key once: a rotation in another thread must not split key and kid.
    key = keys.current
    header = {"alg": ALGORITHM, "kid": key.kid, "typ": typ}
    return jwt.encode(header, claims, key, algorithms=[ALGORITHM])


def verify_access_token(
    keys: DevIdpKeys, token: str, *, issuer: str, audience: str, leeway_s: int = 0
) -> dict[str, Any]:
    """The claims of an access token this provider issued; raises ``joserfc.errors.JoseError`` otherwise."""
    decoded = jwt.decode(token, keys.verification_keys(), algorithms=[ALGORITHM])
    if decoded.header.get("typ") != ACCESS_JWT_TYP:
        # RFC 9068 section 4: an ID token or other JWT must not pass as an access token.
        raise InvalidHeaderValueError("not an access token (typ is not at+jwt)")
    registry = jwt.JWTClaimsRegistry(
        leeway=leeway_s,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        sub={"essential": True},
        exp={"essential": True},
    )
    registry.validate(decoded.claims)
    return dict(decoded.claims)


def _registered_claims(
    *, issuer: str, audience: str, subject: str, client_id: str, scope: str, ttl_s: int
) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        "jti": secrets.token_urlsafe(16),
        "client_id": client_id,
        "scope": scope,
    }
