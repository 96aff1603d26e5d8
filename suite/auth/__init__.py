"""Identity and access: who is calling (API keys, OIDC tokens, static keys, browser sessions) and what
they may do (RBAC, quotas); the browser login and the development IdP.

Names are imported on first use (suite.lazy): importing a submodule such as the command group
does not load the heavy libraries of the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from suite.lazy import lazy_names

if TYPE_CHECKING:
    from suite.auth.api_keys import KEY_PREFIX, ApiKeyInfo, ApiKeyStore, parse_duration
    from suite.auth.authenticator import Authenticator, TokenVerifier
    from suite.auth.browser import LOGIN_STATE, BrowserLogin, came_over_https, lookup_session
    from suite.auth.dev_idp import (
        DevIdpKeys,
        DevIdpRequestFailed,
        create_dev_idp_app,
        mint_access_token,
        request_access_token,
    )
    from suite.auth.issuers import TokenIssuers
    from suite.auth.login import install_browser_login
    from suite.auth.oidc import OidcVerifier
    from suite.auth.policy import Decision, Policy
    from suite.auth.principal import AuthMethod, Principal
    from suite.auth.quotas import QuotaEnforcer, QuotaStanding
    from suite.auth.static_keys import StaticKeyAuthenticator, bearer_credential, hash_api_key

__all__ = [
    "KEY_PREFIX",
    "LOGIN_STATE",
    "ApiKeyInfo",
    "ApiKeyStore",
    "AuthMethod",
    "Authenticator",
    "BrowserLogin",
    "Decision",
    "DevIdpKeys",
    "DevIdpRequestFailed",
    "OidcVerifier",
    "Policy",
    "Principal",
    "QuotaEnforcer",
    "QuotaStanding",
    "StaticKeyAuthenticator",
    "TokenIssuers",
    "TokenVerifier",
    "bearer_credential",
    "came_over_https",
    "create_dev_idp_app",
    "hash_api_key",
    "install_browser_login",
    "lookup_session",
    "mint_access_token",
    "parse_duration",
    "request_access_token",
]

__getattr__ = lazy_names(
    __name__,
    {
        "OidcVerifier": "oidc",
        "install_browser_login": "login",
        "mint_access_token": "dev_idp",
        "create_dev_idp_app": "dev_idp",
        "DevIdpKeys": "dev_idp",
        "DevIdpRequestFailed": "dev_idp",
        "request_access_token": "dev_idp",
        "lookup_session": "browser",
        "came_over_https": "browser",
        "BrowserLogin": "browser",
        "LOGIN_STATE": "browser",
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
