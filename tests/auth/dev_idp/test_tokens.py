"""Refresh tokens, service tokens and userinfo."""

from __future__ import annotations

import httpx

from tests.auth.dev_idp.flow import (
    BATCH_SECRET,
    CLI_CALLBACK,
    WEB_SECRET,
    Idp,
    authorization_code,
    jwks,
    redeem,
    start_authorization,
    verify,
)


def _refresh(http: httpx.Client, idp: Idp, refresh_token: str) -> httpx.Response:
    return http.post(
        f"{idp.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=("suite-web", WEB_SECRET),
    )


def test_refresh_gives_new_tokens_and_rotates_the_refresh_token(idp: Idp, http: httpx.Client) -> None:
    auth = start_authorization()
    first = redeem(http, idp, auth, authorization_code(http, idp, auth, username="carol")).json()

    response = _refresh(http, idp, first["refresh_token"])

    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    claims = verify(second["access_token"], jwks(http, idp), issuer=idp.url).claims
    assert claims["sub"] == "carol"
    assert claims["roles"] == ["compliance_officer"]
    assert claims["scope"] == "openid profile email"
    # The exchanged refresh token is spent; its successor works.
    assert _refresh(http, idp, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert _refresh(http, idp, second["refresh_token"]).status_code == 200


def test_refresh_token_is_bound_to_its_client(idp: Idp, http: httpx.Client) -> None:
    auth = start_authorization()
    tokens = redeem(http, idp, auth, authorization_code(http, idp, auth)).json()
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "suite-cli"}

    response = http.post(f"{idp.url}/token", data=data)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_public_client_refreshes_without_a_secret(idp: Idp, http: httpx.Client) -> None:
    auth = start_authorization("suite-cli", redirect_uri=CLI_CALLBACK)
    code = authorization_code(http, idp, auth)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CLI_CALLBACK,
        "client_id": "suite-cli",
        "code_verifier": auth.verifier,
    }
    tokens = http.post(f"{idp.url}/token", data=data).json()

    response = http.post(
        f"{idp.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "suite-cli"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["refresh_token"] != tokens["refresh_token"]


def test_client_credentials_give_a_service_token(idp: Idp, http: httpx.Client) -> None:
    response = http.post(
        f"{idp.url}/token", data={"grant_type": "client_credentials"}, auth=("svc-batch", BATCH_SECRET)
    )

    assert response.status_code == 200, response.text
    tokens = response.json()
    assert "refresh_token" not in tokens
    claims = verify(tokens["access_token"], jwks(http, idp), issuer=idp.url).claims
    assert claims["sub"] == "svc-batch"
    assert claims["client_id"] == "svc-batch"
    assert claims["roles"] == ["employee"]
    assert claims["realm_access"] == {"roles": ["employee"]}
    assert "email" not in claims


def test_client_credentials_need_the_right_secret_and_the_grant(idp: Idp, http: httpx.Client) -> None:
    wrong = http.post(f"{idp.url}/token", data={"grant_type": "client_credentials"}, auth=("svc-batch", "wrong"))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"

    public = http.post(f"{idp.url}/token", data={"grant_type": "client_credentials", "client_id": "suite-cli"})
    assert public.status_code in (400, 401)
    assert "access_token" not in public.json()

    not_allowed = http.post(
        f"{idp.url}/token", data={"grant_type": "client_credentials"}, auth=("suite-web", WEB_SECRET)
    )
    assert not_allowed.status_code == 400
    assert not_allowed.json()["error"] == "unauthorized_client"


def test_userinfo_answers_for_a_user_access_token(idp: Idp, http: httpx.Client) -> None:
    auth = start_authorization()
    tokens = redeem(http, idp, auth, authorization_code(http, idp, auth, username="bob")).json()

    response = http.get(f"{idp.url}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})

    assert response.status_code == 200, response.text
    info = response.json()
    assert info["sub"] == "bob"
    assert info["name"] == "Bob Brandt"
    assert info["preferred_username"] == "bob"
    assert info["email"] == "bob@example.test"
    assert info["groups"] == ["engineering"]


def test_userinfo_refuses_missing_forged_and_wrong_kinds_of_token(idp: Idp, http: httpx.Client) -> None:
    missing = http.get(f"{idp.url}/userinfo")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")

    forged = http.get(f"{idp.url}/userinfo", headers={"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."})
    assert forged.status_code == 401
    assert 'error="invalid_token"' in forged.headers["www-authenticate"]

    auth = start_authorization()
    id_token = redeem(http, idp, auth, authorization_code(http, idp, auth)).json()["id_token"]
    not_access = http.get(f"{idp.url}/userinfo", headers={"Authorization": f"Bearer {id_token}"})
    assert not_access.status_code == 401

    service = http.post(
        f"{idp.url}/token", data={"grant_type": "client_credentials"}, auth=("svc-batch", BATCH_SECRET)
    ).json()
    no_user = http.get(f"{idp.url}/userinfo", headers={"Authorization": f"Bearer {service['access_token']}"})
    assert no_user.status_code == 403
