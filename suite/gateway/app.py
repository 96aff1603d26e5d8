"""The gateway's app factory and its lifespan (engines, health checks, embedding models)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Any

import httpx
import structlog
from fastapi import FastAPI
from starlette.types import ASGIApp

from suite import __version__
from suite.audit import AuditTrail, SiemForwarder, Witness
from suite.auth import (
    LOGIN_STATE,
    ApiKeyStore,
    Authenticator,
    OidcVerifier,
    Policy,
    QuotaEnforcer,
    StaticKeyAuthenticator,
    TokenIssuers,
    install_browser_login,
)
from suite.config import Settings
from suite.db import Database, migrate
from suite.embeddings import EmbeddingService
from suite.gateway import health
from suite.gateway.audit import router as audit_router
from suite.gateway.audit import witness_router
from suite.gateway.deps import SERVICES_STATE, Services
from suite.gateway.errors import install_error_handlers
from suite.gateway.guardrails import router as guardrails_router
from suite.gateway.middleware import RequestContextMiddleware
from suite.gateway.openai.router import router as openai_router
from suite.gateway.rag import admin_router as rag_admin_router
from suite.gateway.rag import router as rag_router
from suite.gateway.records import ContentRecorder
from suite.guardrails import GuardrailChunkScreen, Guardrails
from suite.rag import RagService
from suite.registry import ModelRegistry
from suite.serving import EngineSupervisor, ModelCatalog, Relay
from suite.web import WEB_STATE, WebParts, install_web
from suite.web import run_purges as run_web_purges

log = structlog.get_logger(__name__)


def create_app(settings: Settings, *, manage_engines: bool = True, clock: Callable[[], float] = time.time) -> FastAPI:
    """Build the gateway for these settings.

    With manage_engines the app starts the configured vLLM engines on start-up and
    stops them on shutdown; without, it only talks to backends that are already running.
    clock (unix seconds) decides quota windows; tests pass a fixed one.
    """
    # One client for every backend call: keep-alive connections, no proxy from the environment.
    client = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=1024, max_keepalive_connections=256), trust_env=False
    )
    # One key cache per issuer, shared by API bearer tokens and the browser login's access tokens.
    token_verifier = _token_verifier(settings, client)
    services = _services(settings, client, token_verifier, clock)
    # Models with source "registry" serve the version the model registry promoted, and follow its changes.
    supervisor = (
        EngineSupervisor(settings, services.catalog, ModelRegistry(services.database)) if manage_engines else None
    )
    # What the lifespan hands to every request as its state; the installers below add their parts.
    handed: dict[str, Any] = {SERVICES_STATE: services}
    app = FastAPI(title="suite gateway", version=__version__, lifespan=_lifespan(services, client, supervisor, handed))
    # For tools and tests only (services_of); no route or handler reads app.state.
    app.state.services = services
    install_error_handlers(app, services.audit)
    app.include_router(health.router)
    app.include_router(openai_router)
    app.include_router(audit_router)
    app.include_router(guardrails_router)
    app.include_router(rag_router)
    app.include_router(rag_admin_router)
    if settings.audit.witness.origins:
        # This suite witnesses other trails' heads, countersigning with its own audit key.
        witness = Witness(settings.audit.witness, data_dir=settings.data_dir, keys=services.audit.keys)
        app.include_router(witness_router(witness))
    if settings.identity.dev_idp.enabled:
        _mount_dev_idp(app, settings)
    login = install_browser_login(
        app, settings, services.database, audit=services.audit, access_tokens=_login_tokens(settings, token_verifier)
    )
    handed[LOGIN_STATE] = login
    handed[WEB_STATE] = install_web(
        app,
        settings,
        WebParts(
            database=services.database,
            audit=services.audit,
            policy=services.policy,
            catalog=services.catalog,
            api_keys=services.api_keys,
            quotas=services.quotas,
            rag=services.rag,
        ),
        login=login,
    )
    _outermost(app, settings.gateway.max_body_bytes)
    return app


def services_of(app: FastAPI) -> Services:
    """The services an app built by ``create_app`` works with (for tools and tests; routes use dependencies)."""
    services: Services = app.state.services
    return services


def _outermost(app: FastAPI, max_body_bytes: int) -> None:
    """RequestContextMiddleware around Starlette's whole stack, ServerErrorMiddleware included.

    So an unhandled error's 500 carries ``x-request-id`` too and its access-log line says 500.
    """
    build = app.build_middleware_stack

    def build_with_context() -> ASGIApp:
        return RequestContextMiddleware(build(), max_body_bytes=max_body_bytes)

    app.build_middleware_stack = build_with_context  # type: ignore[method-assign]


def _services(
    settings: Settings, client: httpx.AsyncClient, token_verifier: TokenIssuers | None, clock: Callable[[], float]
) -> Services:
    database = Database(settings.database_url, echo=settings.database.echo)
    api_keys = ApiKeyStore(database)
    embeddings = EmbeddingService(settings)
    policy = Policy(settings.identity.policy)
    guardrails = Guardrails(settings.guardrails, data_dir=settings.data_dir)
    # Retrieved chunks pass the guardrails' retrieval stage (indirect injection) before any prompt.
    rag = RagService.configured(settings, embeddings, policy, screen=GuardrailChunkScreen(guardrails))
    return Services(
        settings=settings,
        database=database,
        authenticator=Authenticator(
            static_keys=StaticKeyAuthenticator(settings.auth),
            api_keys=api_keys,
            tokens=token_verifier,
        ),
        api_keys=api_keys,
        policy=policy,
        quotas=QuotaEnforcer(settings.identity.quotas, database, clock=clock),
        catalog=ModelCatalog(settings.serving),
        relay=Relay(settings.serving, client),
        embeddings=embeddings,
        audit=AuditTrail(settings.audit, database, data_dir=settings.data_dir),
        siem=SiemForwarder(settings.audit.siem, database, data_dir=settings.data_dir),
        started_at=time.time(),
        content=ContentRecorder(settings.audit, guardrails),
        guardrails=guardrails,
        rag=rag,
    )


def _lifespan(
    services: Services, client: httpx.AsyncClient, supervisor: EngineSupervisor | None, handed: dict[str, Any]
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[Mapping[str, Any]]]:
    """Start-up and shutdown of every resource the gateway holds, in this one place.

    Each part that started is stopped again, in reverse order, also after a failed start. What it
    yields (``handed``: the services, the browser login, the web context) is the lifespan's state,
    which Starlette copies into every request: that is how dependencies reach the parts.
    """
    settings, catalog = services.settings, services.catalog
    siem = services.siem

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Mapping[str, Any]]:
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(services.database.dispose)
            stack.push_async_callback(client.aclose)
            await asyncio.to_thread(migrate, services.database)
            await services.audit.start()
            stack.push_async_callback(services.audit.stop)
            await siem.start()
            stack.push_async_callback(siem.stop)
            await services.quotas.start()  # syncs the in-memory quota counters with the database
            stack.push_async_callback(services.quotas.stop)  # saves the counts made since the last sync
            stack.push_async_callback(_settle, services.background)
            if supervisor:
                await supervisor.start(client)
                stack.push_async_callback(supervisor.stop)
            await catalog.probe_all(client)
            _in_background(stack, catalog.run_health_checks(client), "health-checks")
            _in_background(stack, services.audit.run_purges(), "audit-purges")
            _in_background(stack, services.quotas.run_prunes(), "quota-prunes")
            if supervisor:
                _in_background(stack, supervisor.follow_registry(), "registry")
            await services.embeddings.load()
            stack.callback(services.embeddings.close)
            if services.guardrails is not None:
                stack.callback(services.guardrails.close)
                await services.guardrails.presidio_pool.run(services.guardrails.load)
            if services.rag is not None:  # after the embedding models: it encodes with one of them
                await services.rag.open()
                stack.callback(services.rag.close)
            _in_background(stack, run_web_purges(handed[WEB_STATE]), "web-retention")
            if not catalog.names:
                # Loud: a gateway that can answer nothing is almost always a configuration not found.
                log.error("NO MODELS CONFIGURED: the gateway answers no model requests and /readyz says not ready")
            log.info("gateway started", port=settings.gateway.port, models=catalog.names)
            yield dict(handed)

    return lifespan


def _in_background(stack: contextlib.AsyncExitStack, work: Coroutine[Any, Any, None], name: str) -> None:
    task = asyncio.create_task(work, name=name)
    stack.callback(task.cancel)


async def _settle(tasks: set[asyncio.Task[None]]) -> None:
    # Fire-and-forget work (records of abandoned streams) finishes before the audit trail stops.
    await asyncio.gather(*tasks, return_exceptions=True)


def _token_verifier(settings: Settings, client: httpx.AsyncClient) -> TokenIssuers | None:
    issuer = settings.oidc_issuer
    primary = [settings.identity.oidc.model_copy(update={"issuer": issuer})] if issuer else []
    configured = [*primary, *settings.identity.extra_issuers]
    return TokenIssuers.from_settings(configured, client) if configured else None


def _login_tokens(settings: Settings, tokens: TokenIssuers | None) -> OidcVerifier | None:
    """The browser login's access-token check: identity.oidc's own (the first issuer)."""
    if tokens is None or settings.oidc_issuer is None:
        return None
    return tokens.issuers[0].jwt


def _mount_dev_idp(app: FastAPI, settings: Settings) -> None:
    """The development IdP at /idp, for the embedded default (never in production: settings refuse it)."""
    from suite.auth import create_dev_idp_app

    issuer = settings.oidc_issuer
    assert issuer is not None
    idp = create_dev_idp_app(
        settings.dev_idp_on_gateway,  # redirect URIs such as /auth/callback follow the gateway's port
        issuer=issuer,
        audience=settings.identity.oidc.audience,
        state_dir=settings.data_dir / "dev-idp",
    )
    app.mount("/idp", idp)
    log.warning("development identity provider mounted: not for production", issuer=issuer)
