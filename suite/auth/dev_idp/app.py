"""The development provider's HTTP surface and its app factory.

Routes stay thin: the OAuth work is authlib's (``server.py``, ``grants.py``), the
token contents are ``tokens.py``'s, and the pages are ``pages.py``'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Error  # type: ignore[import-untyped, unused-ignore]
from joserfc.errors import JoseError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from suite.auth.dev_idp.keys import ALGORITHM, DevIdpKeys
from suite.auth.dev_idp.pages import error_page, logged_out_page, login_page
from suite.auth.dev_idp.server import HttpRequest, build_server, read_request
from suite.auth.dev_idp.store import SCOPES_SUPPORTED, Store
from suite.auth.dev_idp.tokens import user_claims, verify_access_token
from suite.config import DevIdpSettings

_CLAIMS_SUPPORTED = [
    "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "name", "preferred_username",
    "email", "email_verified", "groups", "roles",
]  # fmt: skip


class _DevIdp:
    """The provider's endpoints, bound to one settings object, one key store and one issuer."""

    def __init__(self, settings: DevIdpSettings, keys: DevIdpKeys, *, issuer: str, audience: str) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.store = Store(settings)
        self.server = build_server(settings, keys, self.store, issuer=issuer, audience=audience)
        # The issuer is used verbatim as iss; endpoint URLs are built from it without a doubled slash.
        self.base = issuer.rstrip("/")

    def routes(self) -> list[Route]:
        """The provider's routes, relative to the issuer URL."""
        return [
            Route("/.well-known/openid-configuration", self.discovery, methods=["GET"]),
            Route("/jwks", self.jwks, methods=["GET"]),
            Route("/authorize", self.authorize, methods=["GET", "POST"]),
            Route("/token", self.token, methods=["POST"]),
            Route("/userinfo", self.userinfo, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["GET", "POST"]),
        ]

    async def discovery(self, request: Request) -> JSONResponse:
        """OpenID Provider metadata (OIDC Discovery 1.0)."""
        return JSONResponse(self.metadata())

    def metadata(self) -> dict[str, Any]:
        """The discovery document: endpoints and what each supports."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.base}/authorize",
            "token_endpoint": f"{self.base}/token",
            "jwks_uri": f"{self.base}/jwks",
            "userinfo_endpoint": f"{self.base}/userinfo",
            "end_session_endpoint": f"{self.base}/logout",
            "scopes_supported": SCOPES_SUPPORTED,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": _CLAIMS_SUPPORTED,
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
        }

    async def jwks(self, request: Request) -> JSONResponse:
        """The public signing keys, current and recently rotated out."""
        return JSONResponse(self.keys.public_jwks())

    async def authorize(self, request: Request) -> Response:
        """GET shows the login form; POST checks the credentials and redirects back with a code."""
        http = await read_request(request)
        try:
            grant = self.server.get_consent_grant(http)
        except OAuth2Error as error:
            return self._authorization_error(error)
        client_id: str = grant.client.client_id
        # The form posts back to the same URL, so the OAuth parameters travel exactly as the client sent them.
        action = f"{self.base}/authorize?{request.url.query}"
        if http.method == "GET":
            return login_page(action=action, client_id=client_id)
        username, password = _credentials(http)
        user = self.store.authenticate(username, password)
        if user is None:
            message = "Wrong username or password."
            return login_page(action=action, client_id=client_id, username=username, error=message)
        response: Response = self.server.create_authorization_response(grant.request, grant_user=user, grant=grant)
        return response

    def _authorization_error(self, error: OAuth2Error) -> Response:
        # authlib attaches a redirect_uri only once client and URI are validated (RFC 6749 section 4.1.2.1);
        # without one, the user sees the error here and nothing is sent to an unverified address.
        if error.redirect_uri:
            response: Response = self.server.handle_error_response(None, error)
            return response
        return error_page(error.error, error.description)

    async def token(self, request: Request) -> Response:
        """The token endpoint: authorization_code (PKCE), refresh_token (rotating), client_credentials."""
        response: Response = self.server.create_token_response(await read_request(request))
        return response

    async def userinfo(self, request: Request) -> JSONResponse:
        """The signed-in user's claims, for a bearer access token with the openid scope."""
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            return _bearer_error(401, "invalid_request", "Send 'Authorization: Bearer <access token>'.")
        try:
            claims = verify_access_token(self.keys, credential.strip(), issuer=self.issuer, audience=self.audience)
        except JoseError as exc:
            return _bearer_error(401, "invalid_token", exc.description or exc.error)
        user = self.store.user(claims["sub"])
        scope = str(claims.get("scope", ""))
        if user is None or "openid" not in scope.split():
            return _bearer_error(403, "insufficient_scope", "The token is not a user token with the openid scope.")
        return JSONResponse(user_claims(user, scope), headers={"Cache-Control": "no-store"})

    async def logout(self, request: Request) -> Response:
        """RP-initiated logout: back to a registered post_logout_redirect_uri, or a signed-out page."""
        http = await read_request(request)
        try:
            end_session = self.server.validate_endpoint_request("end_session", http)
        except OAuth2Error as error:
            return error_page(error.error, error.description)
        response: Response | None = self.server.create_endpoint_response("end_session", end_session)
        return response or logged_out_page()


def _credentials(http: HttpRequest) -> tuple[str, str]:
    return http.form.get("username", "").strip(), http.form.get("password", "")


def _bearer_error(status_code: int, error: str, description: str) -> JSONResponse:
    # RFC 6750 section 3: the challenge names the error; the body repeats it for humans.
    quoted = description.replace("\\", "").replace('"', "'")
    challenge = f'Bearer error="{error}", error_description="{quoted}"'
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status_code,
        headers={"WWW-Authenticate": challenge},
    )


def create_dev_idp_app(
    settings: DevIdpSettings, *, issuer: str, audience: str, state_dir: Path, keys: DevIdpKeys | None = None
) -> Starlette:
    """The development OIDC provider as an ASGI app.

    ``issuer`` is the externally visible base URL (``http://127.0.0.1:8090``) and the
    ``iss`` of every token; ``audience`` the ``aud`` of access tokens; signing keys
    live in ``state_dir/keys.json`` unless ``keys`` is given.
    """
    provider = _DevIdp(settings, keys or DevIdpKeys.load_or_create(state_dir), issuer=issuer, audience=audience)
    return Starlette(routes=provider.routes())
