"""RP-initiated logout: back to a registered URI only, and the session's refresh tokens end."""

from __future__ import annotations

import httpx

from suite.auth.dev_idp.pages import BANNER
from tests.auth.dev_idp.flow import (
    SIGNED_OUT,
    WEB_SECRET,
    Idp,
    authorization_code,
    redeem,
    redirect_params,
    start_authorization,
)


def _signed_in(http: httpx.Client, idp: Idp) -> dict[str, str]:
    auth = start_authorization()
    tokens: dict[str, str] = redeem(http, idp, auth, authorization_code(http, idp, auth)).json()
    return tokens


def test_logout_returns_to_the_registered_uri_with_state(idp: Idp, http: httpx.Client) -> None:
    tokens = _signed_in(http, idp)

    response = http.get(
        f"{idp.url}/logout",
        params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": SIGNED_OUT, "state": "s-123"},
    )

    assert redirect_params(response, SIGNED_OUT) == {"state": "s-123"}
    refreshed = http.post(
        f"{idp.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=("suite-web", WEB_SECRET),
    )
    assert refreshed.json()["error"] == "invalid_grant"


def test_logout_never_redirects_to_an_unregistered_uri(idp: Idp, http: httpx.Client) -> None:
    tokens = _signed_in(http, idp)

    response = http.get(
        f"{idp.url}/logout",
        params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://127.0.0.1:9/evil"},
    )

    assert response.status_code == 200
    assert "location" not in response.headers
    assert "signed out" in response.text
    assert BANNER in response.text


def test_logout_without_a_hint_shows_the_page_instead_of_redirecting(idp: Idp, http: httpx.Client) -> None:
    response = http.get(f"{idp.url}/logout", params={"client_id": "suite-web", "post_logout_redirect_uri": SIGNED_OUT})

    assert response.status_code == 200
    assert "location" not in response.headers


def test_logout_with_a_forged_hint_is_an_error_without_redirect(idp: Idp, http: httpx.Client) -> None:
    response = http.get(
        f"{idp.url}/logout",
        params={"id_token_hint": "eyJhbGciOiJub25lIn0.e30.", "post_logout_redirect_uri": SIGNED_OUT},
    )

    assert response.status_code == 400
    assert "location" not in response.headers
