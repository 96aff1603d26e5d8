"""FastAPI dependencies: how routes receive the principal and the narrow parts of the gateway they use.

The app factory (``suite.gateway.app``) builds every part once, as a frozen ``Services``; its one
lifespan opens them and hands them to requests as the lifespan's state (Starlette copies that state
into each request's scope). A route never takes the whole bag: it names the parts it uses through
the ``Annotated`` dependencies below (``PolicyDep``, ``AuditDep``, ...). Nothing reads ``app.state``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request

from suite.audit import AuditTrail, SiemForwarder
from suite.auth import ApiKeyStore, Authenticator, Policy, Principal, QuotaEnforcer
from suite.config import Settings
from suite.db import Database
from suite.embeddings import EmbeddingService
from suite.errors import AuthenticationFailed, PermissionDenied
from suite.gateway.records import ContentRecorder
from suite.guardrails import Guardrails
from suite.rag import RagService
from suite.serving import ModelCatalog, Relay

log = structlog.get_logger(__name__)

# The key under which the lifespan's state carries the services into every request.
SERVICES_STATE = "services"


@dataclass(frozen=True)
class Services:
    """The gateway's parts, built once by the app factory and never changed afterwards (frozen)."""

    settings: Settings
    database: Database
    authenticator: Authenticator
    api_keys: ApiKeyStore
    policy: Policy
    quotas: QuotaEnforcer
    catalog: ModelCatalog
    relay: Relay
    embeddings: EmbeddingService
    audit: AuditTrail
    # Forwards committed audit records to the SIEMs in audit.siem (none configured: does nothing).
    siem: SiemForwarder
    started_at: float
    # What every route's audit record keeps of the content (suite.gateway.records).
    content: ContentRecorder
    # Fire-and-forget work (e.g. the record of a stream the client abandoned), kept referenced until done.
    background: set[asyncio.Task[Any]] = field(default_factory=set)
    # The guardrail pipeline (loaded in the lifespan); None: no guardrails (tools that need none).
    guardrails: Guardrails | None = None
    # RAG (opened in the lifespan); None: rag.embedding_model is not configured, so no collection exists.
    rag: RagService | None = None


# The dependencies are coroutines even where they need not await: FastAPI runs a plain
# function dependency on a worker thread, a thread hand-off per request for a lookup.
async def get_services(request: Request) -> Services:
    """The services the lifespan handed to this request (its state), for the narrow dependencies below."""
    services: Services = getattr(request.state, SERVICES_STATE)
    return services


def _part(name: str) -> Callable[[Request], Awaitable[Any]]:
    async def part(request: Request) -> Any:
        return getattr(await get_services(request), name)

    part.__name__ = f"get_{name}"
    return part


SettingsDep = Annotated[Settings, Depends(_part("settings"))]
DatabaseDep = Annotated[Database, Depends(_part("database"))]
PolicyDep = Annotated[Policy, Depends(_part("policy"))]
QuotasDep = Annotated[QuotaEnforcer, Depends(_part("quotas"))]
CatalogDep = Annotated[ModelCatalog, Depends(_part("catalog"))]
RelayDep = Annotated[Relay, Depends(_part("relay"))]
EmbeddingsDep = Annotated[EmbeddingService, Depends(_part("embeddings"))]
AuditDep = Annotated[AuditTrail, Depends(_part("audit"))]
SiemDep = Annotated[SiemForwarder, Depends(_part("siem"))]
GuardrailsDep = Annotated[Guardrails | None, Depends(_part("guardrails"))]
RagDep = Annotated[RagService | None, Depends(_part("rag"))]
BackgroundDep = Annotated[set[asyncio.Task[Any]], Depends(_part("background"))]
StartedAtDep = Annotated[float, Depends(_part("started_at"))]
ContentDep = Annotated[ContentRecorder, Depends(_part("content"))]
AuthenticatorDep = Annotated[Authenticator, Depends(_part("authenticator"))]


async def require_principal(request: Request, authenticator: AuthenticatorDep) -> Principal:
    """The authenticated caller of a /v1 route (401 in the OpenAI shape otherwise).

    Credentials are read from the Authorization header only, never from the query string; a web
    page's call carries the browser session instead (``suite.web.SessionApiMiddleware`` checked it).
    """
    if refused := getattr(request.state, "session_refused", None):
        raise PermissionDenied(refused)
    if (session_principal := getattr(request.state, "session_principal", None)) is not None:
        request.state.principal = session_principal
        return session_principal  # type: ignore[no-any-return]
    try:
        principal = await authenticator.authenticate(request.headers.get("authorization"))
    except AuthenticationFailed as exc:
        # The reason, never the credential.
        log.info("authentication refused", request_id=request.state.request_id, reason=exc.message)
        raise
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(require_principal)]


async def get_request_id(request: Request) -> str:
    request_id: str = request.state.request_id
    return request_id


RequestIdDep = Annotated[str, Depends(get_request_id)]
