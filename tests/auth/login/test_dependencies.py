"""The dependencies web routes use: the session principal, and CSRF checks on state changes."""

from __future__ import annotations

import httpx

from tests.auth.login.flow import Gateway, sign_in


def test_session_principal_needs_a_live_session(login_gateway: Gateway, browser: httpx.Client) -> None:
    anonymous = browser.get(f"{login_gateway.url}/probe/whoami")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["type"] == "authentication_error"

    sign_in(browser, login_gateway)

    assert browser.get(f"{login_gateway.url}/probe/whoami").json() == {"subject": "alice", "auth_method": "session"}


def test_a_bearer_api_key_is_no_session(login_gateway: Gateway) -> None:
    response = httpx.get(
        f"{login_gateway.url}/probe/whoami", headers={"authorization": "Bearer sk-suite-dev-embedded-default"}
    )
    assert response.status_code == 401


def test_require_csrf_accepts_the_form_field_or_the_header(login_gateway: Gateway, browser: httpx.Client) -> None:
    sign_in(browser, login_gateway)
    csrf = browser.get(f"{login_gateway.url}/auth/me").json()["csrf_token"]
    url = f"{login_gateway.url}/probe/action"

    assert browser.post(url, data={"note": "x"}).status_code == 403
    assert browser.post(url, headers={"x-csrf-token": csrf[:-1]}).status_code == 403
    assert browser.post(url, data={"csrf_token": csrf}).json() == {"done_by": "alice"}
    assert browser.post(url, headers={"x-csrf-token": csrf}, json={}).json() == {"done_by": "alice"}
    assert browser.post(url, files={"csrf_token": (None, csrf)}).status_code == 200


def test_require_csrf_without_a_session_is_401(login_gateway: Gateway, browser: httpx.Client) -> None:
    assert browser.post(f"{login_gateway.url}/probe/action", data={"csrf_token": "x"}).status_code == 401
