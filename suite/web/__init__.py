"""The web front ends the gateway serves: the employees' chat, the audit console, the admin console.

Server-rendered shells (Jinja2) with small vanilla scripts and vendored marked + DOMPurify
(``scripts/web-assets.sh``); the scripts call the /v1 API and ``/web/api`` with the browser's
server-side session. ``install_web`` mounts it all on the gateway app.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from suite.auth import BrowserLogin
from suite.config import Settings
from suite.web import admin_console, api, audit_console, pages, passages
from suite.web.deps import WEB_STATE, WebContext, WebParts
from suite.web.errors import ConversationNotFound
from suite.web.retention import purge_once, run_purges
from suite.web.security import SecurityHeadersMiddleware, SessionApiMiddleware, content_security_policy
from suite.web.store import ConversationStore

STATIC_DIR = Path(__file__).parent / "static"


def install_web(app: FastAPI, settings: Settings, parts: WebParts, *, login: BrowserLogin) -> WebContext:
    """Mount the pages, their API and static files, the session-on-API and security-header middleware.

    Returns the web routes' context; the app factory hands it to requests (lifespan state, ``WEB_STATE``)
    and its lifespan runs the retention purge (``run_purges``).
    """
    web = WebContext(settings=settings, store=ConversationStore(parts.database), audit=parts.audit, gateway=parts)
    app.include_router(api.router)
    app.include_router(passages.router)
    app.include_router(audit_console.router)
    app.include_router(admin_console.router)
    app.include_router(pages.router)
    app.mount("/web/static", StaticFiles(directory=STATIC_DIR), name="web-static")
    app.add_middleware(SessionApiMiddleware, login=login)
    app.add_middleware(SecurityHeadersMiddleware, csp=content_security_policy(settings.oidc_issuer))
    return web


__all__ = [
    "WEB_STATE",
    "ConversationNotFound",
    "ConversationStore",
    "WebContext",
    "WebParts",
    "content_security_policy",
    "install_web",
    "purge_once",
    "run_purges",
]
