"""A token's claims: the registered ones checked (iss, aud, exp, nbf, iat, sub), the rest made a Principal.

Where each part sits is configured (``identity.oidc.claims``) because IdPs differ: Keycloak
keeps realm roles under ``realm_access.roles``, Entra ID puts app roles in ``roles`` and group
object ids in ``groups``, Auth0 wants namespaced claims such as ``https://example.com/roles``.
A path is a claim name, a dotted path, a JSON Pointer or a list of keys (``claim_at``). Claim
values are untrusted in shape (an IdP mapper can emit a string, a list, or nothing), so anything
that is not a string or a list of strings is ignored.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from suite.auth.principal import AuthMethod, Principal
from suite.config import ClaimPath, OidcSettings
from suite.errors import AuthenticationFailed


def check_registered_claims(claims: Mapping[str, Any], settings: OidcSettings, *, now: float | None = None) -> None:
    """Refuse a token whose iss, aud, exp, nbf, iat or sub do not hold (times with ``leeway_s``)."""
    now = time.time() if now is None else now
    leeway = settings.leeway_s
    if settings.issuer is None or claims.get("iss") != settings.issuer:
        raise AuthenticationFailed(f"Token issuer mismatch: expected '{settings.issuer}'.")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if settings.audience not in audiences:
        raise AuthenticationFailed(f"Token audience mismatch: expected '{settings.audience}'.")
    exp = _timestamp(claims, "exp")
    if exp is None:
        raise AuthenticationFailed("Token has no expiry (exp).")
    if now >= exp + leeway:
        raise AuthenticationFailed("Token expired: get a new access token.")
    nbf = _timestamp(claims, "nbf")
    if nbf is not None and nbf > now + leeway:
        raise AuthenticationFailed("Token not yet valid (nbf): check the clocks of the suite and the IdP.")
    iat = _timestamp(claims, "iat")
    if iat is not None and iat > now + leeway:
        raise AuthenticationFailed("Token issued in the future (iat): check the clocks of the suite and the IdP.")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise AuthenticationFailed("Token has no subject (sub).")


def principal_from_claims(claims: Mapping[str, Any], settings: OidcSettings, *, auth_method: AuthMethod) -> Principal:
    """The Principal for a token's claims; AuthenticationFailed if the subject claim is missing.

    Suite roles are the token's own roles that are suite roles, plus every role that
    ``role_mapping`` (exact names) or ``role_patterns`` (whole-name regular expressions) gives for
    any of the token's roles or groups.
    """
    paths = settings.claims
    subject = claim_at(claims, paths.subject)
    if not isinstance(subject, str) or not subject:
        raise AuthenticationFailed(
            f"Token has no subject: the claim '{paths.subject}' is missing; check identity.oidc.claims.subject."
        )
    name = next((value for value in (claim_at(claims, p) for p in paths.name) if isinstance(value, str) and value), "")
    token_roles = strings_at(claims, paths.roles)
    groups = strings_at(claims, paths.groups)
    roles = mapped_roles(token_roles, groups, settings)
    return Principal(
        subject=subject,
        name=name or subject,
        auth_method=auth_method,
        roles=frozenset(roles),
        groups=frozenset(groups),
    )


def mapped_roles(token_roles: set[str], groups: set[str], settings: OidcSettings) -> set[str]:
    """The suite roles for an IdP's role and group names (see ``principal_from_claims``)."""
    return {role for _, role in role_sources(token_roles, groups, settings)}


def role_sources(token_roles: set[str], groups: set[str], settings: OidcSettings) -> list[tuple[str, str]]:
    """(why, suite role) pairs, e.g. ("group '/Staff' via role_mapping", "employee"): for check-token."""
    found: list[tuple[str, str]] = []
    for role in sorted(token_roles & set(settings.suite_roles)):
        found.append((f"role claim '{role}' is a suite role", role))
    for kind, names in (("role", token_roles), ("group", groups)):
        for idp_name in sorted(names):
            for role in settings.role_mapping.get(idp_name, ()):
                found.append((f"{kind} '{idp_name}' via role_mapping", role))
            for pattern, roles in settings.role_patterns.items():
                if _compiled(pattern).fullmatch(idp_name):
                    found.extend((f"{kind} '{idp_name}' via role_patterns {pattern!r}", role) for role in roles)
    return found


def claim_at(claims: Mapping[str, Any], path: ClaimPath) -> Any:
    """The value at a claim path, or None where any step is missing.

    A list is a list of keys; a string starting with ``/`` is a JSON Pointer (RFC 6901); another
    string is a top-level claim name when the claims have it (``https://example.com/roles``),
    otherwise a dotted path (``realm_access.roles``).
    """
    if isinstance(path, list):
        keys = path
    elif path.startswith("/"):
        keys = [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]
    elif path in claims:
        keys = [path]
    else:
        keys = path.split(".")
    value: Any = claims
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        compiled = _PATTERNS[pattern] = re.compile(pattern)
    return compiled


def strings_at(claims: Mapping[str, Any], paths: Iterable[ClaimPath]) -> set[str]:
    """Every string found at any of the paths; a single string counts as a one-item list."""
    found: set[str] = set()
    for path in paths:
        value = claim_at(claims, path)
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            found.update(item for item in value if isinstance(item, str) and item)
    return found


def _timestamp(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim, None if absent; anything but a finite number (NaN never expires) is malformed."""
    value = claims.get(name)
    if value is None:
        return None
    try:
        # Numbers only: float() would also take the string "1e20".
        number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    except OverflowError:  # an integer beyond any float
        number = math.nan
    if not math.isfinite(number):
        raise AuthenticationFailed(f"Malformed token: the {name} claim is not a number.")
    return number
