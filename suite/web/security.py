"""The web front ends at the HTTP edge: security headers, and the browser session on the API.

``SecurityHeadersMiddleware`` puts a strict Content-Security-Policy (no inline script, no eval,
nothing from another origin), ``nosniff``, ``no-referrer``, framing refused, and HSTS over TLS
on every answer of the gateway (the dev IdP's pages keep their own).

``SessionApiMiddleware`` lets the pages call the ``/v1`` API and ``/web/api`` with the browser's
server-side session instead of a token (so no token ever sits in browser storage). A request
with an Authorization header is left alone. One with the session cookie and no Authorization:

- is refused when it comes from another origin (``Sec-Fetch-Site`` cross-site or same-site, or an
  ``Origin`` that is not the gateway's own), also for GET;
- must carry the session's CSRF token in ``X-CSRF-Token`` unless it is GET, HEAD or OPTIONS;
- otherwise runs as the session's principal (``auth_method`` "session").

The middleware only looks; the refusal is raised by the route's principal dependency
(``suite.gateway.deps.require_principal``, ``suite.web.deps``) so it is audited like any other.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from suite.auth import BrowserLogin, came_over_https

SESSION_PRINCIPAL = "session_principal"
SESSION_REFUSED = "session_refused"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_API_PREFIXES = ("/v1/", "/web/api/")


def content_security_policy(issuer: str | None) -> str:
    """The pages' CSP; forms may also go to the IdP (the logout redirect continues there)."""
    form_action = "'self'"
    if issuer:
        parts = urlsplit(issuer)
        form_action += f" {parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        f"font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action {form_action}"
    )


class SecurityHeadersMiddleware:
    """Security headers on every answer except the dev IdP's (pure ASGI, streams untouched)."""

    def __init__(self, app: ASGIApp, *, csp: str) -> None:
        self.app = app
        self.csp = csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path == "/idp" or path.startswith("/idp/"):
            await self.app(scope, receive, send)
            return
        https = came_over_https(Headers(scope=scope), scope.get("scheme", "http"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:
                    headers["content-security-policy"] = self.csp
                headers["x-content-type-options"] = "nosniff"
                headers["referrer-policy"] = "no-referrer"
                headers["x-frame-options"] = "DENY"
                if https:
                    headers["strict-transport-security"] = "max-age=31536000; includeSubDomains"
            await send(message)

        await self.app(scope, receive, with_headers)


def _same_origin(headers: Headers, scope: Scope) -> bool:
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin is None:
        return True
    scheme = "https" if came_over_https(headers, scope.get("scheme", "http")) else scope.get("scheme", "http")
    return origin == f"{scheme}://{headers.get('host', '')}"


class SessionApiMiddleware:
    """The browser's session as the caller of /v1 and /web/api (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, login: BrowserLogin) -> None:
        self.app = app
        self.login = login

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(_API_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        cookie = _cookie(headers, self.login.settings.identity.session.cookie_name)
        if "authorization" in headers or cookie is None:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if not _same_origin(headers, scope):
            state[SESSION_REFUSED] = "Cross-origin request with a session cookie refused."
        else:
            session = await self.login.sessions.lookup(cookie)
            if session is not None:
                state["web_session"] = session
                submitted = headers.get("x-csrf-token", "")
                if scope["method"] not in _SAFE_METHODS and not secrets.compare_digest(
                    submitted.encode(), session.csrf_token.encode()
                ):
                    state[SESSION_REFUSED] = "CSRF token missing or invalid."
                else:
                    state[SESSION_PRINCIPAL] = session.principal
        await self.app(scope, receive, send)


def _cookie(headers: Headers, name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None
