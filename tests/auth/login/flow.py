"""A real gateway with the dev IdP mounted at /idp and browser login installed, and a browser's walk through it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.cookies import Morsel, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI

from suite.auth.browser import CsrfDep, SessionPrincipalDep
from suite.auth.sessions import session_id_for
from suite.auth.tables import WebSessionRow
from suite.config import Settings
from suite.db import Database
from suite.gateway import create_app, services_of
from tests.auth.dev_idp.flow import form_action
from tests.support import ALLOW_EMPLOYEES, MODEL, ServerThread, free_port

SESSION_COOKIE = "suite_session"
LOGIN_COOKIE = "suite_login"
WEB_SECRET = "web-secret-0123456789"
USERS = [
    {
        "username": "alice",
        "password": "alice",
        "name": "Alice Adler",
        "email": "alice@example.test",
        "groups": ["finance"],
        "roles": ["employee"],
    },
    {
        "username": "carol",
        "password": "carol",
        "name": "Carol Curie",
        "email": "carol@example.test",
        "groups": ["compliance"],
        "roles": ["compliance_officer"],
    },
]


@dataclass(frozen=True)
class Gateway:
    """A running gateway: its URL, the app and the database its sessions live in."""

    url: str
    app: FastAPI
    database: Database


def login_settings(tmp_path: Path, port: int, *, identity: dict[str, Any] | None = None) -> Settings:
    """A gateway on ``port`` whose dev IdP knows alice and carol and the confidential client suite-web."""
    base = f"http://127.0.0.1:{port}"
    defaults: dict[str, Any] = {
        "oidc": {"client_id": "suite-web", "client_secret": WEB_SECRET},
        "dev_idp": {
            "enabled": True,
            "users": USERS,
            "clients": [
                {
                    "client_id": "suite-web",
                    "client_secret": WEB_SECRET,
                    "redirect_uris": [f"{base}/auth/callback"],
                    "post_logout_redirect_uris": [f"{base}/"],
                }
            ],
        },
        "policy": [ALLOW_EMPLOYEES],
        "quotas": {"enabled": False},
    }
    return Settings(
        data_dir=tmp_path,
        logging={"level": "warning"},
        gateway={"port": port},
        identity=defaults | (identity or {}),
        # No vLLM: the backend is a closed port; browser login does not need one.
        serving={"models": [{"name": MODEL, "engines": 0, "backends": [f"http://127.0.0.1:{free_port()}"]}]},
    )


def _add_probe_routes(app: FastAPI) -> None:
    """Two routes as web pages will write them: one reads the session principal, one is a CSRF-checked post."""

    @app.get("/probe/whoami")
    async def whoami(principal: SessionPrincipalDep) -> dict[str, str]:
        return {"subject": principal.subject, "auth_method": principal.auth_method}

    @app.post("/probe/action")
    async def action(session: CsrfDep) -> dict[str, str]:
        return {"done_by": session.principal.subject}


@contextmanager
def serve_gateway(tmp_path: Path, *, identity: dict[str, Any] | None = None) -> Iterator[Gateway]:
    """The real gateway app with browser login installed, served by uvicorn on the port its settings name."""
    port = free_port()
    settings = login_settings(tmp_path, port, identity=identity)
    app = create_app(settings, manage_engines=False)  # installs the browser login itself
    database: Database = services_of(app).database
    _add_probe_routes(app)
    server = ServerThread(app, port=port).start()
    try:
        yield Gateway(url=server.url, app=app, database=database)
    finally:
        server.stop()


def start_login(http: httpx.Client, gateway: Gateway, *, next_path: str = "/chat") -> str:
    """GET /auth/login; the IdP's authorize URL it redirects to (with PKCE S256, state and nonce)."""
    response = http.get(f"{gateway.url}/auth/login", params={"next": next_path})
    assert response.status_code == 302, response.text
    authorize = response.headers["location"]
    assert authorize.startswith(f"{gateway.url}/idp/authorize?")
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"]
    for name in ("code_challenge", "state", "nonce"):
        assert query[name][0], name
    assert query["redirect_uri"] == [f"{gateway.url}/auth/callback"]
    return authorize


def submit_credentials(http: httpx.Client, authorize: str, *, username: str, password: str) -> httpx.Response:
    """Open the IdP's login page and post the form, as a user would; the answer is not followed."""
    page = http.get(authorize)
    assert page.status_code == 200, page.text
    return http.post(form_action(page.text), data={"username": username, "password": password})


def callback_url(http: httpx.Client, gateway: Gateway, *, username: str = "alice", next_path: str = "/chat") -> str:
    """Everything up to the IdP's redirect back to /auth/callback (not yet followed)."""
    authorize = start_login(http, gateway, next_path=next_path)
    back = submit_credentials(http, authorize, username=username, password=username)
    assert back.status_code == 302, back.text
    location = back.headers["location"]
    assert location.startswith(f"{gateway.url}/auth/callback?")
    return location


def sign_in(
    http: httpx.Client, gateway: Gateway, *, username: str = "alice", next_path: str = "/chat"
) -> httpx.Response:
    """The whole login; the callback's answer (the redirect to next, with the session cookie)."""
    return http.get(callback_url(http, gateway, username=username, next_path=next_path))


def set_cookie(response: httpx.Response, name: str) -> Morsel[str]:
    """The Set-Cookie of ``name`` in a response, parsed (attributes included)."""
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie[name]
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers.get_list('set-cookie')}")


def session_row(database: Database, cookie_value: str) -> WebSessionRow | None:
    """The stored row of a session cookie, read directly from the database."""
    with database.session() as session:
        return session.get(WebSessionRow, session_id_for(cookie_value))


def backdate(database: Database, cookie_value: str, **moments: datetime) -> None:
    """Move a session's timestamps (last_seen_at, expires_at) to the given moments: time travel without sleeping."""
    with database.sessions.begin() as session:
        row = session.get(WebSessionRow, session_id_for(cookie_value))
        assert row is not None
        for column, moment in moments.items():
            setattr(row, column, moment)


def now() -> datetime:
    return datetime.now(UTC)
