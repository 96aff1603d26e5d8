"""Browser sessions at the HTTP edge: the cookies, and the dependencies web routes use.

Two cookies, both HttpOnly and SameSite=Lax:

- the session cookie (``identity.session.cookie_name``, Path=/): a random value whose
  SHA-256 names a row in ``web_sessions`` (``suite.auth.sessions``);
- the login-transaction cookie (``suite_login``, Path=/auth, 10 minutes): Starlette's signed
  session, in which authlib keeps state, nonce and PKCE verifier between ``/auth/login`` and
  ``/auth/callback``.

Secure is set per ``secure_cookie``: ``auto`` means when the request came over HTTPS,
``X-Forwarded-Proto: https`` from the TLS proxy included (a client that fakes the header only
makes its own cookie stricter). Web routes take ``SessionPrincipalDep`` (401 without a live
session) and state-changing form posts also ``CsrfDep`` (403 without the session's CSRF token).
A refused sign-in is a small HTML page for browsers, the OpenAI error shape for anything else.
"""

from __future__ import annotations

import html
import secrets
from dataclasses import dataclass
from string import Template
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import structlog
from fastapi import Depends, Request
from starlette.datastructures import Headers
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from suite.auth.oidc import OidcVerifier
from suite.auth.principal import Principal
from suite.auth.sessions import WebSession, WebSessionStore
from suite.config import Settings
from suite.errors import AuthenticationFailed, PermissionDenied, SuiteError

if TYPE_CHECKING:
    from suite.audit import AuditTrail

log = structlog.get_logger(__name__)

LOGIN_COOKIE = "suite_login"
# Long enough to type a password at the IdP, short enough that a stale transaction dies.
LOGIN_TRANSACTION_MAX_AGE_S = 600
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


# The key under which the gateway's lifespan state carries the BrowserLogin into every request.
LOGIN_STATE = "browser_login"


@dataclass(frozen=True)
class BrowserLogin:
    """What the login routes and the session dependencies need; handed to requests by the app's lifespan."""

    settings: Settings
    # Logins and logouts are recorded here.
    audit: AuditTrail
    sessions: WebSessionStore
    # authlib's StarletteOAuth2App (untyped); None when no IdP is configured.
    oauth: Any
    # Validates the access token of a login, so its roles and groups can count; None without an IdP.
    access_tokens: OidcVerifier | None
    issuer: str | None


def browser_login(request: Request) -> BrowserLogin:
    """The browser-login state of the app (built by ``install_browser_login``, in the lifespan's state)."""
    state: BrowserLogin = getattr(request.state, LOGIN_STATE)
    return state


def came_over_https(headers: Headers, scheme: str) -> bool:
    """Whether the browser's request used HTTPS, directly or through a TLS proxy."""
    forwarded = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return scheme == "https" or forwarded == "https"


def external_url(request: Request, path: str) -> str:
    """An absolute URL of this gateway as the browser sees it (the scheme of the TLS proxy, if any)."""
    scheme = "https" if came_over_https(request.headers, request.url.scheme) else request.url.scheme
    return str(request.url.replace(scheme=scheme, path=path, query="", fragment=""))


def _secure(request: Request, settings: Settings) -> bool:
    mode = settings.identity.session.secure_cookie
    return mode == "always" or (mode == "auto" and came_over_https(request.headers, request.url.scheme))


def set_session_cookie(response: Response, request: Request, settings: Settings, cookie_value: str) -> None:
    """Give the browser its session cookie (lives at most as long as the session)."""
    session = settings.identity.session
    response.set_cookie(
        session.cookie_name,
        cookie_value,
        max_age=session.max_age_s,
        path="/",
        secure=_secure(request, settings),
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, request: Request, settings: Settings) -> None:
    """Tell the browser to drop its session cookie."""
    response.delete_cookie(
        settings.identity.session.cookie_name,
        path="/",
        secure=_secure(request, settings),
        httponly=True,
        samesite="lax",
    )


def session_cookie(request: Request) -> str | None:
    """The session cookie's value, if the browser sent one."""
    return request.cookies.get(browser_login(request).settings.identity.session.cookie_name) or None


async def lookup_session(request: Request) -> WebSession | None:
    """The request's live session, or None; looked up once per request."""
    if hasattr(request.state, "web_session"):
        found: WebSession | None = request.state.web_session
        return found
    cookie = session_cookie(request)
    session = await browser_login(request).sessions.lookup(cookie) if cookie else None
    request.state.web_session = session
    return session


async def current_session(request: Request) -> WebSession:
    """The request's live session; AuthenticationFailed (401) without one."""
    session = await lookup_session(request)
    if session is None:
        raise AuthenticationFailed("Not signed in, or the session has expired: sign in at /auth/login.")
    return session


async def session_principal(request: Request) -> Principal:
    """The signed-in user of a web route (auth_method "session"); AuthenticationFailed without a live session."""
    principal = (await current_session(request)).principal
    request.state.principal = principal
    return principal


async def check_csrf(request: Request, session: WebSession) -> None:
    """Refuse a state-changing request that does not carry the session's CSRF token (header or form field)."""
    submitted = request.headers.get("x-csrf-token")
    if submitted is None and request.headers.get("content-type", "").startswith(_FORM_TYPES):
        # Starlette keeps the parsed form, so a route can still read it afterwards.
        value = (await request.form()).get("csrf_token")
        submitted = value if isinstance(value, str) else None
    if not submitted or not secrets.compare_digest(submitted.encode(), session.csrf_token.encode()):
        log.info("csrf refused", session=session.session_id[:12], path=request.url.path)
        raise PermissionDenied("CSRF token missing or invalid.")


async def require_csrf(request: Request) -> WebSession:
    """For state-changing form posts: the live session, whose CSRF token the request must carry (else 403)."""
    session = await current_session(request)
    await check_csrf(request, session)
    return session


def safe_next(value: str | None) -> str:
    """A local path to return to after the login; anything else (another site, //host, a scheme) is /."""
    if not value or len(value) > 2048 or not value.startswith("/") or value.startswith("//"):
        return "/"
    # Browsers read a backslash as a slash ("/\\evil.example") and drop tabs and newlines.
    if "\\" in value or any(ord(char) < 0x21 or ord(char) == 0x7F for char in value):
        return "/"
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else "/"


_ERROR_PAGE = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in failed</title></head>
<body><h1>Sign-in failed</h1><p>$message</p><p><a href="/auth/login">Sign in again</a></p></body></html>
""")
_PAGE_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
}


def failure_response(request: Request, error: SuiteError) -> Response:
    """A refused sign-in: a page for a browser; for other clients the error itself, which the app's handlers shape."""
    log.info("browser request refused", reason=error.message)
    if "text/html" not in request.headers.get("accept", ""):
        raise error
    page = _ERROR_PAGE.substitute(message=html.escape(error.message))
    return HTMLResponse(page, status_code=error.status_code, headers=_PAGE_HEADERS)


SessionPrincipalDep = Annotated[Principal, Depends(session_principal)]
WebSessionDep = Annotated[WebSession, Depends(current_session)]
CsrfDep = Annotated[WebSession, Depends(require_csrf)]


class LoginTransactionMiddleware:
    """Starlette's SessionMiddleware for /auth paths only, with Secure chosen per request (pure ASGI)."""

    def __init__(self, app: ASGIApp, *, secret_key: str, secure_cookie: str) -> None:
        self.app = app
        self.secure_cookie = secure_cookie
        self._plain = _transaction_sessions(app, secret_key, https_only=False)
        self._secure = _transaction_sessions(app, secret_key, https_only=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/auth" or path.startswith("/auth/")):
            await self.app(scope, receive, send)
            return
        secure = self.secure_cookie == "always" or (
            self.secure_cookie == "auto" and came_over_https(Headers(scope=scope), scope.get("scheme", "http"))
        )
        await (self._secure if secure else self._plain)(scope, receive, send)


def _transaction_sessions(app: ASGIApp, secret_key: str, *, https_only: bool) -> SessionMiddleware:
    return SessionMiddleware(
        app,
        secret_key=secret_key,
        session_cookie=LOGIN_COOKIE,
        max_age=LOGIN_TRANSACTION_MAX_AGE_S,
        path="/auth",
        same_site="lax",
        https_only=https_only,
    )


def login_secret_key(settings: Settings) -> str:
    """The key that signs the login-transaction cookie: the configured one, else a random one in memory.

    Production refuses to start without a configured key (checked in the settings tree); a
    development gateway without one only loses the logins in progress when it restarts.
    """
    configured = settings.identity.session.secret_key
    if configured is not None:
        return configured.get_secret_value()
    return secrets.token_urlsafe(48)
