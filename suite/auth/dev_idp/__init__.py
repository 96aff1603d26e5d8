"""A development OpenID Connect provider, built on authlib. NOT FOR PRODUCTION.

It lets the suite's OIDC login and bearer-token validation run end to end on an
air-gapped machine without a company IdP: users and clients come from
``identity.dev_idp`` in the settings (passwords in plain text), codes
and refresh tokens live in memory. Only its signing keys are kept on disk, so
tokens stay valid across restarts. The settings refuse it in production mode.

Endpoints: ``/.well-known/openid-configuration``, ``/jwks``, ``/authorize`` (login
form), ``/token`` (authorization_code with S256 PKCE, refresh_token with rotation,
client_credentials), ``/userinfo`` and ``/logout`` (RP-initiated logout).

``request_access_token`` is the other side: a user's token asked of a running provider over
HTTP, as ``suite token --gateway`` does.
"""

from suite.auth.dev_idp.app import create_dev_idp_app
from suite.auth.dev_idp.client import DevIdpRequestFailed, request_access_token
from suite.auth.dev_idp.keys import DevIdpKeys, DevIdpStateError
from suite.auth.dev_idp.tokens import mint_access_token

__all__ = [
    "DevIdpKeys",
    "DevIdpRequestFailed",
    "DevIdpStateError",
    "create_dev_idp_app",
    "mint_access_token",
    "request_access_token",
]
