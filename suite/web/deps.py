"""Dependencies of the web routes: the web context and the signed-in user of a page's API call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Request

from suite.audit import AuditEvent, AuditTrail, principal_fields
from suite.auth import ApiKeyStore, Policy, Principal, QuotaEnforcer
from suite.config import Settings
from suite.db import Database
from suite.errors import AuditUnavailable, AuthenticationFailed, PermissionDenied
from suite.rag import RagService
from suite.serving import ModelCatalog
from suite.web.security import SESSION_PRINCIPAL, SESSION_REFUSED
from suite.web.store import ConversationStore

log = structlog.get_logger(__name__)


# The key under which the gateway's lifespan state carries the WebContext into every request.
WEB_STATE = "web"


@dataclass(frozen=True)
class WebParts:
    """The gateway's parts the web routes use, given to ``install_web`` by the app factory."""

    database: Database
    audit: AuditTrail
    policy: Policy
    catalog: ModelCatalog
    api_keys: ApiKeyStore
    quotas: QuotaEnforcer
    # None: RAG is not configured (no collection exists).
    rag: RagService | None


@dataclass(frozen=True)
class WebContext:
    """What the web routes work with; built by ``install_web``, handed to requests by the app's lifespan."""

    settings: Settings
    store: ConversationStore
    audit: AuditTrail
    # The gateway's parts (database, policy, catalog, API keys, RAG) for the consoles and citations.
    gateway: WebParts

    async def record(self, event: AuditEvent) -> None:
        """Write an audit record; a trail outage is logged, the user's action stands (like logins)."""
        try:
            await self.audit.record(event)
        except AuditUnavailable:
            log.error("web event not recorded: audit trail unavailable", action=event.action)


async def get_web(request: Request) -> WebContext:
    web: WebContext = getattr(request.state, WEB_STATE)
    return web


WebDep = Annotated[WebContext, Depends(get_web)]


async def web_principal(request: Request) -> Principal:
    """The user of a page's /web/api call: the session (checked by SessionApiMiddleware), never a token."""
    if refused := getattr(request.state, SESSION_REFUSED, None):
        raise PermissionDenied(refused)
    principal: Principal | None = getattr(request.state, SESSION_PRINCIPAL, None)
    if principal is None:
        raise AuthenticationFailed("Not signed in, or the session has expired: sign in at /auth/login.")
    request.state.principal = principal
    return principal


WebPrincipalDep = Annotated[Principal, Depends(web_principal)]


def audit_event(request: Request, principal: Principal | None, **fields: object) -> AuditEvent:
    """An audit record of a web action, with the request's who and where."""
    return AuditEvent(
        request_id=getattr(request.state, "request_id", None),
        client_address=request.client.host if request.client else None,
        route=request.url.path,
        **principal_fields(principal),
        **fields,
    )
