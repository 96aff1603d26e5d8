"""authlib's authorization server on Starlette.

authlib has integrations for Flask and Django, not Starlette; this is the thin
equivalent. authlib's server code is synchronous, so a request is read in full
first (``read_request``) and authlib only ever sees the finished ``HttpRequest``.
"""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import structlog
from authlib.oauth2.rfc6749 import (  # type: ignore[import-untyped, unused-ignore]
    AuthorizationServer,
    JsonPayload,
    JsonRequest,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6750 import BearerTokenGenerator  # type: ignore[import-untyped, unused-ignore]
from starlette.datastructures import Headers, ImmutableMultiDict, QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from suite.auth.dev_idp.grants import CodeGrant, IdTokens, LogoutEndpoint, RefreshGrant, S256CodeChallenge, ServiceGrant
from suite.auth.dev_idp.keys import DevIdpKeys
from suite.auth.dev_idp.store import SCOPES_SUPPORTED, Client, Store
from suite.auth.dev_idp.tokens import mint_access_token, mint_service_token
from suite.config import DevIdpSettings, DevIdpUser

log = structlog.get_logger(__name__)

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(frozen=True)
class HttpRequest:
    """A request read in full: what authlib is handed instead of a framework request."""

    method: str
    url: str
    headers: Headers
    args: QueryParams
    form: ImmutableMultiDict[str, str]
    body: bytes


async def read_request(request: Request) -> HttpRequest:
    """Read method, URL, headers, query and form (or raw body) of a Starlette request."""
    form: list[tuple[str, str]] = []
    body = b""
    if request.headers.get("content-type", "").startswith(_FORM_TYPES):
        async with request.form() as data:
            # OAuth parameters are text; an uploaded file is never one.
            form = [(key, value) for key, value in data.multi_items() if isinstance(value, str)]
    else:
        body = await request.body()
    return HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=request.headers,
        args=request.query_params,
        form=ImmutableMultiDict(form),
        body=body,
    )


class _Payload(OAuth2Payload):  # type: ignore[misc, unused-ignore]
    def __init__(self, request: HttpRequest) -> None:
        # Query first, form over it: like Flask's request.values, but the body wins on a clash.
        self._data = {**dict(request.args), **dict(request.form)}
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in [*request.args.multi_items(), *request.form.multi_items()]:
            self._datalist[key].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class _OAuth2Request(OAuth2Request):  # type: ignore[misc, unused-ignore]
    def __init__(self, request: HttpRequest) -> None:
        super().__init__(method=request.method, uri=request.url, headers=request.headers)
        self.payload = _Payload(request)
        self._http = request

    @property
    def args(self) -> QueryParams:
        return self._http.args

    @property
    def form(self) -> ImmutableMultiDict[str, str]:
        return self._http.form


class _JsonPayload(JsonPayload):  # type: ignore[misc, unused-ignore]
    def __init__(self, body: bytes) -> None:
        self._body = body

    @property
    def data(self) -> Any:
        return json.loads(self._body) if self._body else {}


class _JsonRequest(JsonRequest):  # type: ignore[misc, unused-ignore]
    def __init__(self, request: HttpRequest) -> None:
        super().__init__(request.method, request.url, request.headers)
        self.payload = _JsonPayload(request.body)


class StarletteAuthorizationServer(AuthorizationServer):  # type: ignore[misc, unused-ignore]
    """authlib's ``AuthorizationServer`` for Starlette, backed by the in-memory ``Store``."""

    def __init__(self, store: Store) -> None:
        super().__init__(scopes_supported=SCOPES_SUPPORTED)
        self.store = store

    def query_client(self, client_id: str) -> Client | None:
        return self.store.client(client_id)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        # Access tokens are self-contained JWTs; only refresh tokens need remembering.
        if "refresh_token" in token:
            user: DevIdpUser = request.user
            self.store.save_refresh_token(
                token=token["refresh_token"],
                client_id=request.client.client_id,
                username=user.username,
                scope=token.get("scope", ""),
            )

    def create_oauth2_request(self, request: HttpRequest) -> _OAuth2Request:
        return _OAuth2Request(request)

    def create_json_request(self, request: HttpRequest) -> _JsonRequest:
        return _JsonRequest(request)

    def handle_response(self, status_code: int, payload: Any, headers: list[tuple[str, str]]) -> Response:
        if isinstance(payload, dict):
            return JSONResponse(payload, status_code=status_code, headers=dict(headers))
        return Response(payload, status_code=status_code, headers=dict(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        # Starlette has no signal bus; the events are logged for whoever debugs a flow.
        log.debug("dev_idp.signal", signal=name)


def build_server(
    settings: DevIdpSettings, keys: DevIdpKeys, store: Store, *, issuer: str, audience: str
) -> StarletteAuthorizationServer:
    """The authorization server with the code (+PKCE, +OIDC), refresh and client-credentials grants."""
    server = StarletteAuthorizationServer(store)

    def access_token(client: Client, grant_type: str, user: DevIdpUser | None, scope: str) -> str:
        if user is None:
            config = client.config
            return mint_service_token(settings, keys, issuer=issuer, audience=audience, client=config, scope=scope)
        return mint_access_token(
            settings, keys, issuer=issuer, audience=audience, user=user, client_id=client.client_id, scope=scope
        )

    def refresh_token(**_: Any) -> str:
        return secrets.token_urlsafe(32)

    server.register_token_generator(
        "default", BearerTokenGenerator(access_token, refresh_token, settings.access_token_ttl_s)
    )
    id_tokens = IdTokens(keys=keys, issuer=issuer, ttl_s=settings.access_token_ttl_s, store=store)
    server.register_grant(CodeGrant, [S256CodeChallenge(required=True), id_tokens])
    server.register_grant(RefreshGrant)
    server.register_grant(ServiceGrant)
    server.register_endpoint(LogoutEndpoint(keys=keys, store=store))
    return server
