"""Logout: a CSRF-protected form post that ends the session here and at the IdP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from tests.auth.login.flow import SESSION_COOKIE, Gateway, session_row, set_cookie, sign_in


def test_logout_without_the_csrf_token_is_refused_and_the_session_lives_on(
    login_gateway: Gateway, browser: httpx.Client
) -> None:
    sign_in(browser, login_gateway)

    without = browser.post(f"{login_gateway.url}/auth/logout", data={})
    wrong = browser.post(f"{login_gateway.url}/auth/logout", data={"csrf_token": "guessed"})

    for refused in (without, wrong):
        assert refused.status_code == 403
        assert refused.json()["error"]["message"] == "CSRF token missing or invalid."
        assert refused.json()["error"]["type"] == "permission_error"
    assert browser.get(f"{login_gateway.url}/auth/me").status_code == 200


def test_logout_ends_the_session_and_signs_out_at_the_idp(login_gateway: Gateway, browser: httpx.Client) -> None:
    sign_in(browser, login_gateway)
    cookie = browser.cookies[SESSION_COOKIE]
    csrf = browser.get(f"{login_gateway.url}/auth/me").json()["csrf_token"]

    response = browser.post(f"{login_gateway.url}/auth/logout", data={"csrf_token": csrf})

    assert response.status_code == 303
    end_session = urlsplit(response.headers["location"])
    assert f"{end_session.scheme}://{end_session.netloc}{end_session.path}" == f"{login_gateway.url}/idp/logout"
    params = {key: values[0] for key, values in parse_qs(end_session.query).items()}
    assert params["id_token_hint"].count(".") == 2
    assert params["post_logout_redirect_uri"] == f"{login_gateway.url}/"
    assert params["state"]
    cleared = set_cookie(response, SESSION_COOKIE)
    assert cleared["max-age"] == "0" or "1970" in cleared["expires"]
    assert session_row(login_gateway.database, cookie) is None

    back = browser.get(response.headers["location"])
    assert back.status_code == 302
    returned = urlsplit(back.headers["location"])
    assert f"{returned.scheme}://{returned.netloc}{returned.path}" == f"{login_gateway.url}/"
    assert parse_qs(returned.query)["state"] == [params["state"]]

    me = browser.get(f"{login_gateway.url}/auth/me")
    assert me.status_code == 401
    assert set(me.json()["error"]) == {"message", "type", "param", "code"}
    # The old cookie, replayed, is dead too.
    assert httpx.get(f"{login_gateway.url}/auth/me", cookies={SESSION_COOKIE: cookie}).status_code == 401


def test_logout_without_a_session_just_returns_home(login_gateway: Gateway, browser: httpx.Client) -> None:
    response = browser.post(f"{login_gateway.url}/auth/logout", data={})

    assert response.status_code == 303
    assert response.headers["location"] == "/"
