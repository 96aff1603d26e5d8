"""`suite auth check-token`: why the gateway would accept or refuse an access token, in an IdP admin's words.

Runs the gateway's own checks (``TokenIssuers``) and prints what the token claims (unverified,
for orientation), which issuer it was routed to, the verdict with the failed check, and on
success the principal and where each suite role came from. The token itself is never printed:
only a SHA-256 fingerprint.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from typing import Any

import httpx

from suite.auth.claims import claim_at, role_sources, strings_at
from suite.auth.issuers import TokenIssuers
from suite.config import OidcSettings, Settings
from suite.errors import AuthenticationFailed


async def explain(token: str, settings: Settings, client: httpx.AsyncClient) -> tuple[bool, list[str]]:
    """(accepted, lines of explanation) for a token under the configured issuers."""
    token = token.strip().removeprefix("Bearer ").strip()
    lines = [f"token sha256:{hashlib.sha256(token.encode()).hexdigest()[:16]} ({_shape(token)})"]
    issuer = settings.oidc_issuer
    configured = [settings.identity.oidc.model_copy(update={"issuer": issuer})] if issuer else []
    configured += settings.identity.extra_issuers
    if not configured:
        return False, [*lines, "refused: no issuer configured (identity.oidc.issuer, identity.extra_issuers)"]
    lines.append("issuers configured: " + ", ".join(f"{item.issuer} ({item.validation})" for item in configured))
    header, claims = _unverified(token)
    if header is not None:
        lines.append("header (unverified): " + _fields(header, ("alg", "kid", "typ")))
    if claims is not None:
        lines.append("claims (unverified): " + _fields(claims, ("iss", "aud", "sub", "azp", "client_id", "scope")))
        lines.append(_expiry(claims))
    tokens = TokenIssuers.from_settings(configured, client)
    try:
        chosen, verified = await tokens.verify(token)
    except AuthenticationFailed as exc:
        lines.append(f"refused: {exc.message}")
        if claims is not None:
            lines.extend(_mapping(claims, configured[0], unverified=True))
        return False, lines
    lines.append(f"accepted by issuer {chosen.settings.issuer}")
    lines.extend(_mapping(verified, chosen.settings, unverified=False))
    return True, lines


def _mapping(claims: dict[str, Any], settings: OidcSettings, *, unverified: bool) -> list[str]:
    paths = settings.claims
    note = " (if it were accepted)" if unverified else ""
    token_roles = strings_at(claims, paths.roles)
    groups = strings_at(claims, paths.groups)
    lines = [
        f"subject{note}: {claim_at(claims, paths.subject)!r} from claim {paths.subject!r}",
        f"role claims {paths.roles}: {sorted(token_roles) or 'none'}",
        f"group claims {paths.groups}: {sorted(groups) or 'none'}",
    ]
    sources = role_sources(token_roles, groups, settings)
    if not sources:
        lines.append(
            f"suite roles{note}: none: no role claim is a suite role {settings.suite_roles} and no"
            " role_mapping or role_patterns entry matches; the policy will deny every route"
        )
    for why, role in sources:
        lines.append(f"suite role{note} {role!r}: {why}")
    return lines


def _shape(token: str) -> str:
    return "JWT" if token.count(".") == 2 else "opaque: introspection needed"


def _unverified(token: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    if token.count(".") != 2:
        return None, None
    header, payload, _ = token.split(".")
    return _decode(header), _decode(payload)


def _decode(part: str) -> dict[str, Any] | None:
    try:
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _fields(values: dict[str, Any], names: tuple[str, ...]) -> str:
    return ", ".join(f"{name}={values[name]!r}" for name in names if name in values) or "none of the usual"


def _expiry(claims: dict[str, Any]) -> str:
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return "expiry: no exp claim"
    when = datetime.datetime.fromtimestamp(exp, tz=datetime.UTC)
    left = exp - datetime.datetime.now(tz=datetime.UTC).timestamp()
    state = f"in {int(left)} s" if left > 0 else f"{int(-left)} s ago"
    return f"expiry: {when.isoformat(timespec='seconds')} ({state})"
