"""The browser login end to end: gateway, dev IdP and browser, over real HTTP."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select

from suite.audit import AuditFilters, AuditQuery
from suite.auth.tables import WebSessionRow
from tests.auth.login.flow import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Gateway,
    callback_url,
    set_cookie,
    sign_in,
    start_login,
    submit_credentials,
)


def test_login_ends_with_a_session_cookie_and_me_shows_alice(login_gateway: Gateway, browser: httpx.Client) -> None:
    response = sign_in(browser, login_gateway, next_path="/chat?tab=2")

    assert response.status_code == 303
    assert response.headers["location"] == "/chat?tab=2"
    cookie = set_cookie(response, SESSION_COOKIE)
    assert cookie["httponly"]
    assert cookie["samesite"].lower() == "lax"
    assert not cookie["secure"]
    assert cookie["path"] == "/"
    me = browser.get(f"{login_gateway.url}/auth/me")
    assert me.status_code == 200, me.text
    assert me.headers["cache-control"] == "no-store"
    body = me.json()
    assert body["subject"] == "alice"
    assert body["name"] == "Alice Adler"
    assert body["roles"] == ["employee"]
    assert body["groups"] == ["finance"]
    assert body["auth_method"] == "session"
    assert len(body["csrf_token"]) >= 32
    logins = AuditQuery(login_gateway.database).search(AuditFilters(action="login", subject="alice")).records
    assert logins
    assert (logins[0].event_class, logins[0].status, logins[0].auth_method) == ("auth", "ok", "session")


def test_login_transaction_cookie_is_signed_short_lived_and_dropped_after_the_callback(
    login_gateway: Gateway, browser: httpx.Client
) -> None:
    started = browser.get(f"{login_gateway.url}/auth/login")
    transaction = set_cookie(started, LOGIN_COOKIE)
    assert transaction["httponly"]
    assert transaction["samesite"].lower() == "lax"
    assert transaction["path"] == "/auth"
    assert 0 < int(transaction["max-age"]) <= 600
    assert not transaction["secure"]

    authorize = started.headers["location"]
    back = submit_credentials(browser, authorize, username="alice", password="alice")
    done = browser.get(back.headers["location"])

    assert done.status_code == 303
    assert set_cookie(done, LOGIN_COOKIE).value == "null"  # cleared: the transaction is over


def test_carol_gets_her_roles_and_groups(login_gateway: Gateway, browser: httpx.Client) -> None:
    assert sign_in(browser, login_gateway, username="carol").status_code == 303

    body = browser.get(f"{login_gateway.url}/auth/me").json()

    assert (body["subject"], body["roles"], body["groups"]) == ("carol", ["compliance_officer"], ["compliance"])


def test_a_wrong_password_never_reaches_the_callback(login_gateway: Gateway, browser: httpx.Client) -> None:
    authorize = start_login(browser, login_gateway)

    answer = submit_credentials(browser, authorize, username="alice", password="not-alices")

    assert answer.status_code == 200
    assert "location" not in answer.headers
    assert "Wrong username or password" in answer.text
    assert SESSION_COOKIE not in browser.cookies
    assert browser.get(f"{login_gateway.url}/auth/me").status_code == 401


def test_a_tampered_state_is_refused(login_gateway: Gateway, browser: httpx.Client) -> None:
    location = urlsplit(callback_url(browser, login_gateway))
    params = {key: values[0] for key, values in parse_qs(location.query).items()}

    refused = browser.get(f"{login_gateway.url}/auth/callback", params=params | {"state": "forged-state"})

    assert refused.status_code == 400
    error = refused.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "state mismatch" in error["message"]
    assert SESSION_COOKIE not in refused.headers.get("set-cookie", "")
    # The genuine state no longer works either: a refused callback ends the login transaction.
    assert browser.get(f"{login_gateway.url}/auth/callback", params=params).status_code == 400
    assert browser.get(f"{login_gateway.url}/auth/me").status_code == 401


def test_an_idp_error_is_a_clear_page_for_a_browser(login_gateway: Gateway, browser: httpx.Client) -> None:
    start_login(browser, login_gateway)

    page = browser.get(
        f"{login_gateway.url}/auth/callback",
        params={"error": "access_denied", "error_description": "<script>alert(1)</script>"},
        headers={"accept": "text/html,application/xhtml+xml"},
    )

    assert page.status_code == 401
    assert page.headers["content-type"].startswith("text/html")
    assert "refused the sign-in (access_denied" in page.text
    assert "<script>" not in page.text
    assert "Traceback" not in page.text
    assert 'href="/auth/login"' in page.text


def test_a_callback_without_a_login_is_refused_in_the_openai_shape(
    login_gateway: Gateway, browser: httpx.Client
) -> None:
    refused = browser.get(f"{login_gateway.url}/auth/callback", params={"code": "abc", "state": "xyz"})

    assert refused.status_code == 400
    assert refused.json()["error"]["type"] == "invalid_request_error"


def test_next_to_another_site_ends_at_the_root(login_gateway: Gateway, browser: httpx.Client) -> None:
    for evil in ("https://evil.example", "//evil.example/x", "/\\evil.example"):
        browser.cookies.clear()
        response = sign_in(browser, login_gateway, next_path=evil)
        assert response.headers["location"] == "/", evil


def test_login_while_signed_in_goes_straight_to_next(login_gateway: Gateway, browser: httpx.Client) -> None:
    sign_in(browser, login_gateway)

    again = browser.get(f"{login_gateway.url}/auth/login", params={"next": "/consoles"})

    assert again.status_code == 303
    assert again.headers["location"] == "/consoles"


def test_a_login_never_continues_a_session_the_browser_already_had(
    login_gateway: Gateway, browser: httpx.Client
) -> None:
    sign_in(browser, login_gateway)
    planted = browser.cookies[SESSION_COOKIE]
    with httpx.Client(trust_env=False) as other:
        location = callback_url(other, login_gateway, username="carol")
        # The callback arrives with a session cookie from before (stale, or planted: session fixation).
        other.cookies.set(SESSION_COOKIE, planted, domain="127.0.0.1")
        done = other.get(location)

        fresh = set_cookie(done, SESSION_COOKIE).value
        assert fresh != planted
        assert other.get(f"{login_gateway.url}/auth/me").json()["subject"] == "carol"
    assert browser.get(f"{login_gateway.url}/auth/me").status_code == 401


def test_secure_cookie_behind_a_tls_proxy(login_gateway: Gateway, browser: httpx.Client) -> None:
    location = callback_url(browser, login_gateway)

    response = browser.get(location, headers={"x-forwarded-proto": "https"})

    assert response.status_code == 303
    cookie = set_cookie(response, SESSION_COOKIE)
    assert cookie["secure"]
    assert cookie["httponly"]


def test_the_database_keeps_only_the_cookie_hash(login_gateway: Gateway, browser: httpx.Client) -> None:
    sign_in(browser, login_gateway)
    cookie = browser.cookies[SESSION_COOKIE]

    with login_gateway.database.session() as session:
        rows = session.scalars(select(WebSessionRow)).all()
    mine = [row for row in rows if row.id == hashlib.sha256(cookie.encode()).hexdigest()]

    assert len(mine) == 1
    assert all(cookie not in repr(vars(row)) for row in rows)
    assert mine[0].subject == "alice"
    assert mine[0].id_token  # kept for the logout hint
