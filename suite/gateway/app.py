"""The gateway's app factory and its lifespan (engines, health checks, embedding models)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import structlog
from fastapi import FastAPI

from suite import __version__
from suite.audit import AuditTrail
from suite.auth import ApiKeyStore, Authenticator, Policy, QuotaEnforcer, StaticKeyAuthenticator
from suite.auth.login import install_browser_login
from suite.auth.oidc import OidcVerifier
from suite.config import Settings
from suite.db import Database, migrate
from suite.embeddings import EmbeddingService
from suite.gateway import health
from suite.gateway.audit import router as audit_router
from suite.gateway.deps import Services
from suite.gateway.errors import install_error_handlers
from suite.gateway.middleware import RequestContextMiddleware
from suite.gateway.openai.router import router as openai_router
from suite.serving import EngineSupervisor, ModelCatalog, Relay

log = structlog.get_logger(__name__)


def create_app(settings: Settings, *, manage_engines: bool = True) -> FastAPI:
    """Build the gateway for these settings.

    With manage_engines the app starts the configured vLLM engines on start-up and
    stops them on shutdown; without, it only talks to backends that are already running.
    """
    catalog = ModelCatalog(settings.serving)
    # One client for every backend call: keep-alive connections, no proxy from the environment.
    client = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=1024, max_keepalive_connections=256), trust_env=False
    )
    database = Database(settings.database_url, echo=settings.database.echo)
    api_keys = ApiKeyStore(database)
    # One verifier (one key cache) for API bearer tokens and the browser login's access tokens.
    token_verifier = _token_verifier(settings, client)
    services = Services(
        settings=settings,
        database=database,
        authenticator=Authenticator(
            static_keys=StaticKeyAuthenticator(settings.auth),
            api_keys=api_keys,
            tokens=token_verifier,
        ),
        api_keys=api_keys,
        policy=Policy(settings.identity.policy),
        quotas=QuotaEnforcer(settings.identity.quotas, database),
        catalog=catalog,
        relay=Relay(settings.serving, client),
        embeddings=EmbeddingService(settings),
        audit=AuditTrail(settings.audit, database, data_dir=settings.data_dir),
        started_at=time.time(),
    )
    supervisor = EngineSupervisor(settings, catalog) if manage_engines else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, database)
        await services.audit.start()
        if supervisor:
            supervisor.start(client)
        await catalog.probe_all(client)
        health_checks = asyncio.create_task(catalog.run_health_checks(client), name="health-checks")
        purges = asyncio.create_task(services.audit.run_purges(), name="audit-purges")
        await services.embeddings.load()
        log.info("gateway started", port=settings.gateway.port, models=catalog.names)
        try:
            yield
        finally:
            health_checks.cancel()
            purges.cancel()
            if supervisor:
                await supervisor.stop()
            await asyncio.gather(*services.background, return_exceptions=True)
            await services.audit.stop()
            services.embeddings.close()
            await client.aclose()
            database.dispose()

    app = FastAPI(title="suite gateway", version=__version__, lifespan=lifespan)
    app.state.services = services
    app.state.supervisor = supervisor
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(openai_router)
    app.include_router(audit_router)
    if settings.identity.dev_idp.enabled:
        _mount_dev_idp(app, settings)
    install_browser_login(app, settings, database, access_tokens=token_verifier)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.gateway.max_body_bytes)
    return app


def _token_verifier(settings: Settings, client: httpx.AsyncClient) -> OidcVerifier | None:
    issuer = settings.oidc_issuer
    if issuer is None:
        return None
    return OidcVerifier(settings.identity.oidc.model_copy(update={"issuer": issuer}), client)


def _mount_dev_idp(app: FastAPI, settings: Settings) -> None:
    """The development IdP at /idp, for the embedded default (never in production: settings refuse it)."""
    from suite.auth.dev_idp import create_dev_idp_app

    issuer = settings.oidc_issuer
    assert issuer is not None
    idp = create_dev_idp_app(
        settings.identity.dev_idp,
        issuer=issuer,
        audience=settings.identity.oidc.audience,
        state_dir=settings.data_dir / "dev-idp",
    )
    app.mount("/idp", idp)
    log.warning("development identity provider mounted: not for production", issuer=issuer)
