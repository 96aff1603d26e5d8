"""Gateways set up otherwise: cookies always Secure, an unreachable IdP, no IdP at all."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response as StarletteResponse
from starlette.routing import Route

from tests.auth.login.flow import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    WEB_SECRET,
    serve_gateway,
    set_cookie,
    sign_in,
    submit_credentials,
)
from tests.support import ServerThread, free_port, running


def test_secure_cookie_always_marks_both_cookies_secure(tmp_path: Path) -> None:
    with (
        serve_gateway(tmp_path, identity={"session": {"secure_cookie": "always"}}) as gateway,
        httpx.Client(trust_env=False) as browser,
    ):
        started = browser.get(f"{gateway.url}/auth/login")
        transaction = set_cookie(started, LOGIN_COOKIE)
        assert transaction["secure"]
        back = submit_credentials(browser, started.headers["location"], username="alice", password="alice")
        # A browser keeps Secure cookies off plain HTTP; the test hands the login cookie over itself.
        done = browser.get(back.headers["location"], cookies={LOGIN_COOKIE: transaction.value})

        assert done.status_code == 303, done.text
        cookie = set_cookie(done, SESSION_COOKIE)
        assert cookie["secure"]
        assert cookie["httponly"]
        assert cookie["samesite"].lower() == "lax"


def test_an_unreachable_idp_is_a_clear_error(tmp_path: Path) -> None:
    issuer = f"http://127.0.0.1:{free_port()}/idp"
    identity = {"oidc": {"issuer": issuer, "client_id": "suite-web"}, "dev_idp": {"enabled": False}}
    with serve_gateway(tmp_path, identity=identity) as gateway:
        as_api = httpx.get(f"{gateway.url}/auth/login", trust_env=False)
        as_browser = httpx.get(f"{gateway.url}/auth/login", headers={"accept": "text/html"}, trust_env=False)

    assert as_api.status_code == 502
    assert "could not be reached" in as_api.json()["error"]["message"]
    assert as_browser.status_code == 502
    assert "could not be reached" in as_browser.text
    assert "Traceback" not in as_browser.text


def test_without_an_idp_sign_in_says_why(tmp_path: Path) -> None:
    with serve_gateway(tmp_path, identity={"dev_idp": {"enabled": False}}) as gateway:
        login = httpx.get(f"{gateway.url}/auth/login", trust_env=False)
        me = httpx.get(f"{gateway.url}/auth/me", trust_env=False)

    assert login.status_code == 401
    assert "identity.oidc.issuer" in login.json()["error"]["message"]
    assert me.status_code == 401


def test_roles_only_the_access_token_carries_count(tmp_path: Path) -> None:
    # Keycloak-style: realm roles sit under realm_access.roles, which the dev IdP puts in access tokens only.
    oidc = {"client_id": "suite-web", "client_secret": WEB_SECRET, "claims": {"roles": ["realm_access.roles"]}}
    with serve_gateway(tmp_path, identity={"oidc": oidc}) as gateway, httpx.Client(trust_env=False) as browser:
        assert sign_in(browser, gateway).status_code == 303
        me = browser.get(f"{gateway.url}/auth/me").json()

    assert me["roles"] == ["employee"]
    assert me["groups"] == ["finance"]


def _broken_idp(status: int, body: bytes, *, content_type: str = "application/json") -> Starlette:
    """An IdP that answers its discovery URL with the given status and body."""

    async def discovery(request: StarletteRequest) -> StarletteResponse:
        return StarletteResponse(body, status_code=status, media_type=content_type)

    return Starlette(routes=[Route("/idp/.well-known/openid-configuration", discovery)])


@pytest.mark.parametrize(
    ("status", "body", "says"),
    [
        (500, b'{"error": "boom"}', "answered HTTP 500 for /idp/.well-known/openid-configuration"),
        (200, b"<html>a portal login page</html>", "answer is not JSON"),
        (200, b'["not", "an", "object"]', "discovery document is not a JSON object"),
        (200, b'{"issuer": "http://elsewhere.example/idp"}', "names the issuer 'http://elsewhere.example/idp'"),
    ],
    ids=["http-500", "not-json", "not-an-object", "another-issuer"],
)
def test_an_idp_answering_unusably_is_named_not_called_unreachable(
    tmp_path: Path, status: int, body: bytes, says: str
) -> None:
    with running(_broken_idp(status, body)) as idp:
        issuer = f"{idp.url}/idp"
        identity = {"oidc": {"issuer": issuer, "client_id": "suite-web"}, "dev_idp": {"enabled": False}}
        with serve_gateway(tmp_path, identity=identity) as gateway:
            answer = httpx.get(f"{gateway.url}/auth/login", trust_env=False)

    assert answer.status_code == 502
    message = answer.json()["error"]["message"]
    assert says in message
    assert "could not be reached" not in message


def test_a_discovery_document_without_endpoints_names_them(tmp_path: Path) -> None:
    port = free_port()  # the document names the server's own URL, so the port is chosen first
    issuer = f"http://127.0.0.1:{port}/idp"
    document = json.dumps({"issuer": issuer, "token_endpoint": f"{issuer}/token"}).encode()
    idp = ServerThread(_broken_idp(200, document), port=port).start()
    try:
        identity = {"oidc": {"issuer": issuer, "client_id": "suite-web"}, "dev_idp": {"enabled": False}}
        with serve_gateway(tmp_path, identity=identity) as gateway:
            answer = httpx.get(f"{gateway.url}/auth/login", trust_env=False)
    finally:
        idp.stop()

    assert answer.status_code == 502
    assert "has no authorization_endpoint, jwks_uri" in answer.json()["error"]["message"]
