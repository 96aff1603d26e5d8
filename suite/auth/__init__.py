"""Identity and access: who is calling (API keys, OIDC tokens, static keys) and what they may do (RBAC, quotas)."""

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
