"""Identity and access: who is calling (API keys, OIDC tokens, static keys) and what they may do (RBAC, quotas).

Names are imported on first use (suite.lazy): importing a submodule such as the command group
does not load the heavy libraries of the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from suite.lazy import lazy_names

if TYPE_CHECKING:
    from suite.auth.api_keys import KEY_PREFIX, ApiKeyInfo, ApiKeyStore, parse_duration
    from suite.auth.authenticator import Authenticator, TokenVerifier
    from suite.auth.issuers import TokenIssuers
    from suite.auth.policy import Decision, Policy
    from suite.auth.principal import AuthMethod, Principal
    from suite.auth.quotas import QuotaEnforcer, QuotaStanding
    from suite.auth.static_keys import StaticKeyAuthenticator, bearer_credential, hash_api_key

__all__ = [
    "KEY_PREFIX",
    "ApiKeyInfo",
    "ApiKeyStore",
    "AuthMethod",
    "Authenticator",
    "Decision",
    "Policy",
    "Principal",
    "QuotaEnforcer",
    "QuotaStanding",
    "StaticKeyAuthenticator",
    "TokenIssuers",
    "TokenVerifier",
    "bearer_credential",
    "hash_api_key",
    "parse_duration",
]

__getattr__ = lazy_names(
    __name__,
    {
        "KEY_PREFIX": "api_keys",
        "ApiKeyInfo": "api_keys",
        "ApiKeyStore": "api_keys",
        "parse_duration": "api_keys",
        "Authenticator": "authenticator",
        "TokenVerifier": "authenticator",
        "TokenIssuers": "issuers",
        "Decision": "policy",
        "Policy": "policy",
        "AuthMethod": "principal",
        "Principal": "principal",
        "QuotaEnforcer": "quotas",
        "QuotaStanding": "quotas",
        "StaticKeyAuthenticator": "static_keys",
        "bearer_credential": "static_keys",
        "hash_api_key": "static_keys",
    },
)
