"""Identity: who is calling. Today static API keys from settings; OIDC and managed keys plug in here."""

from suite.auth.principal import AuthMethod, Principal
from suite.auth.static_keys import StaticKeyAuthenticator, hash_api_key

__all__ = ["AuthMethod", "Principal", "StaticKeyAuthenticator", "hash_api_key"]
