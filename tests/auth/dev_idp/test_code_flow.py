"""Authorization code flow with PKCE, driven like a browser and an app would drive it."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest
from joserfc import jwt

from suite.auth.dev_idp.pages import BANNER
from tests.auth.dev_idp.flow import (
    CALLBACK,
    CLI_CALLBACK,
    Idp,
    authorization_code,
    form_action,
    jwks,
    log_in,
    redeem,
    redirect_params,
    start_authorization,
    verify,
)


def test_login_page_is_plainly_a_development_provider(idp: Idp, http: httpx.Client) -> None:
    page = http.get(f"{idp.url}/authorize", params=start_authorization().params)

    assert page.status_code == 200
    assert BANNER in page.text
    assert 'name="password"' in page.text
    assert "suite-web" in page.text
    assert page.headers["cache-control"] == "no-store"


def test_code_flow_gives_tokens_that_verify_against_the_jwks(idp: Idp, http: httpx.Client) -> None:
    auth = start_authorization()
    code = authorization_code(http, idp, auth)

    response = redeem(http, idp, auth, code)

    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 300
    assert tokens["refresh_token"]
    keys = jwks(http, idp)
    access = verify(tokens["access_token"], keys, issuer=idp.url)
    assert access.header["kid"] == idp.keys.current_kid
    claims = access.claims
    assert claims["sub"] == "alice"
    assert claims["aud"] == "suite"
    assert claims["client_id"] == "suite-web"
    assert claims["scope"] == "openid profile email"
    assert claims["name"] == "Alice Adler"
    assert claims["preferred_username"] == "alice"
    assert claims["email"] == "alice@example.test"
    assert claims["groups"] == ["finance"]
    assert claims["roles"] == ["employee"]
    assert claims["realm_access"] == {"roles": ["employee"]}
    assert claims["exp"] - claims["iat"] == 300
    assert claims["nbf"] <= claims["iat"]
    assert claims["jti"]

    id_token = verify(tokens["id_token"], keys, issuer=idp.url, audience="suite-web", typ="JWT")
    assert id_token.claims["nonce"] == auth.nonce
    assert id_token.claims["sub"] == "alice"
    assert id_token.claims["email"] == "alice@example.test"
    assert id_token.header["kid"] == idp.keys.current_kid
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()
    assert id_token.claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def test_each_persona_gets_its_own_roles_and_groups(idp: Idp, http: httpx.Client) -> None:
    expected = {
        "bob": (["engineering"], ["employee"]),
        "carol": (["compliance"], ["compliance_officer"]),
        "adam": (["it"], ["admin"]),
    }
    for username, (groups, roles) in expected.items():
        auth = start_authorization()
        tokens = redeem(http, idp, auth, authorization_code(http, idp, auth, username=username)).json()
        claims = jwt.decode(tokens["access_token"], jwks(http, idp)).claims
        assert (claims["sub"], claims["groups"], claims["roles"]) == (username, groups, roles)


def test_public_client_redeems_with_pkce_alone(idp: Idp, http: httpx.Client) -> None:
    auth = start_authorization("suite-cli", redirect_uri=CLI_CALLBACK)
    code = authorization_code(http, idp, auth)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CLI_CALLBACK,
        "client_id": "suite-cli",
        "code_verifier": auth.verifier,
    }

    response = http.post(f"{idp.url}/token", data=data)

    assert response.status_code == 200, response.text
    claims = verify(response.json()["access_token"], jwks(http, idp), issuer=idp.url).claims
    assert claims["client_id"] == "suite-cli"


def test_confidential_client_may_use_client_secret_post(idp: Idp, http: httpx.Client) -> None:
    auth = start_authorization()
    code = authorization_code(http, idp, auth)
    data = {
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": auth.verifier,
        "client_id": "suite-web", "client_secret": "web-secret-0123456789",
    }  # fmt: skip

    assert http.post(f"{idp.url}/token", data=data).status_code == 200


def test_confidential_client_without_its_secret_is_refused(idp: Idp, http: httpx.Client) -> None:
    auth = start_authorization()
    code = authorization_code(http, idp, auth)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "client_id": "suite-web",
        "code_verifier": auth.verifier,
    }

    response = http.post(f"{idp.url}/token", data=data)

    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


def test_wrong_pkce_verifier_is_refused(idp: Idp, http: httpx.Client) -> None:
    auth = start_authorization()
    code = authorization_code(http, idp, auth)

    response = redeem(http, idp, auth, code, code_verifier=start_authorization().verifier)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "access_token" not in response.json()


@pytest.mark.parametrize(
    ("change", "removed"),
    [
        ({}, ["code_challenge", "code_challenge_method"]),
        ({"code_challenge_method": "plain"}, []),
        ({}, ["code_challenge_method"]),
    ],
    ids=["no-pkce", "plain", "method-missing"],
)
def test_authorization_without_s256_pkce_is_refused(
    idp: Idp, http: httpx.Client, change: dict[str, str], removed: list[str]
) -> None:
    auth = start_authorization()
    params = {k: v for k, v in auth.params.items() if k not in removed} | change

    response = http.get(f"{idp.url}/authorize", params=params)

    # The redirect URI is registered, so the error goes back to the client (RFC 6749 section 4.1.2.1).
    error = redirect_params(response, CALLBACK)
    assert error["error"] == "invalid_request"
    assert error["state"] == auth.state
    assert "code" not in error


def test_wrong_password_shows_the_form_again_and_issues_no_code(idp: Idp, http: httpx.Client) -> None:
    response = log_in(http, idp, start_authorization(), password="not-alices-password")

    assert response.status_code == 200
    assert "location" not in response.headers
    assert "Wrong username or password." in response.text
    assert BANNER in response.text
    assert form_action(response.text).startswith(f"{idp.url}/authorize?")


def test_unknown_user_issues_no_code(idp: Idp, http: httpx.Client) -> None:
    response = log_in(http, idp, start_authorization(), username="mallory", password="guess")

    assert response.status_code == 200
    assert "location" not in response.headers
    assert "Wrong username or password." in response.text


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unregistered_redirect_uri_is_refused_without_redirect(idp: Idp, http: httpx.Client, method: str) -> None:
    auth = start_authorization(redirect_uri="http://127.0.0.1:9/evil")
    data = {"username": "alice", "password": "alice-pw"} if method == "POST" else None

    response = http.request(method, f"{idp.url}/authorize", params=auth.params, data=data)

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "invalid_request" in response.text
    assert BANNER in response.text


def test_unknown_client_is_refused_without_redirect(idp: Idp, http: httpx.Client) -> None:
    auth = start_authorization("no-such-client")

    response = http.get(f"{idp.url}/authorize", params=auth.params)

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "invalid_client" in response.text


def test_a_code_is_redeemed_once_only(idp: Idp, http: httpx.Client) -> None:
    auth = start_authorization()
    code = authorization_code(http, idp, auth)
    assert redeem(http, idp, auth, code).status_code == 200

    again = redeem(http, idp, auth, code)

    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_code_is_bound_to_its_redirect_uri(idp: Idp, http: httpx.Client) -> None:
    auth = start_authorization()
    code = authorization_code(http, idp, auth)

    response = redeem(http, idp, auth, code, redirect_uri="http://127.0.0.1:9/other")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
