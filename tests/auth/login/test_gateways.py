"""Gateways set up otherwise: cookies always Secure, an unreachable IdP, no IdP at all."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.auth.login.flow import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    WEB_SECRET,
    serve_gateway,
    set_cookie,
    sign_in,
    submit_credentials,
)
from tests.support import free_port


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
