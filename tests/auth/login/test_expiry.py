"""Sessions end after the idle timeout and at their absolute lifetime, whatever the cookie says."""

from __future__ import annotations

from datetime import timedelta

import httpx

from suite.gateway import services_of
from tests.auth.login.flow import SESSION_COOKIE, Gateway, backdate, now, session_row, sign_in


def test_an_idle_session_is_refused_and_deleted(login_gateway: Gateway, browser: httpx.Client) -> None:
    sign_in(browser, login_gateway)
    cookie = browser.cookies[SESSION_COOKIE]
    idle = services_of(login_gateway.app).settings.identity.session.idle_timeout_s
    backdate(login_gateway.database, cookie, last_seen_at=now() - timedelta(seconds=idle - 60))
    assert browser.get(f"{login_gateway.url}/auth/me").status_code == 200  # within the timeout: touched

    backdate(login_gateway.database, cookie, last_seen_at=now() - timedelta(seconds=idle + 1))

    assert browser.get(f"{login_gateway.url}/auth/me").status_code == 401
    assert session_row(login_gateway.database, cookie) is None


def test_an_expired_session_is_refused_and_deleted_though_in_use(login_gateway: Gateway, browser: httpx.Client) -> None:
    sign_in(browser, login_gateway)
    cookie = browser.cookies[SESSION_COOKIE]
    backdate(login_gateway.database, cookie, expires_at=now() - timedelta(seconds=1))

    assert browser.get(f"{login_gateway.url}/auth/me").status_code == 401
    assert session_row(login_gateway.database, cookie) is None
