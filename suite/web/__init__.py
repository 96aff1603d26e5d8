"""The web front ends the gateway serves: the employees' chat, the audit console, the admin console.

Server-rendered shells (Jinja2) with small vanilla scripts and vendored marked + DOMPurify
(``scripts/web-assets.sh``); the scripts call the /v1 API and ``/web/api`` with the browser's
server-side session. ``install_web`` mounts it all on the gateway app.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, FastAPI
from starlette.staticfiles import StaticFiles

from suite.audit import AuditTrail
from suite.auth.browser import BrowserLogin
from suite.config import Settings
from suite.db import Database
from suite.web import admin_console, api, audit_console, pages, passages
from suite.web.deps import WebContext
from suite.web.errors import ConversationNotFound
from suite.web.retention import purge_once, run_purges
from suite.web.security import SecurityHeadersMiddleware, SessionApiMiddleware, content_security_policy
from suite.web.store import ConversationStore

STATIC_DIR = Path(__file__).parent / "static"


def install_web(app: FastAPI, settings: Settings, database: Database, audit: AuditTrail) -> None:
    """Mount the pages, their API and static files, the session-on-API and security-header middleware,
    and the retention purge. Call after ``install_browser_login`` (it needs ``app.state.browser_login``)."""
    login: BrowserLogin = app.state.browser_login
    web = WebContext(settings=settings, store=ConversationStore(database), audit=audit)
    app.state.web = web

    @contextlib.asynccontextmanager
    async def retention(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(run_purges(web), name="web-retention")
        try:
            yield
        finally:
            task.cancel()

    lifespan_router = APIRouter(lifespan=retention)
    app.include_router(lifespan_router)
    app.include_router(api.router)
    app.include_router(passages.router)
    app.include_router(audit_console.router)
    app.include_router(admin_console.router)
    app.include_router(pages.router)
    app.mount("/web/static", StaticFiles(directory=STATIC_DIR), name="web-static")
    app.add_middleware(SessionApiMiddleware, login=login)
    app.add_middleware(SecurityHeadersMiddleware, csp=content_security_policy(settings.oidc_issuer))


__all__ = [
    "ConversationNotFound",
    "ConversationStore",
    "WebContext",
    "content_security_policy",
    "install_web",
    "purge_once",
]
