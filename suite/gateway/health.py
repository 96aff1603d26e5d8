"""Unauthenticated probes for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from suite.gateway.deps import CatalogDep, EmbeddingsDep, SiemDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The gateway process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(catalog: CatalogDep, embeddings: EmbeddingsDep, siem: SiemDep) -> JSONResponse:
    """At least one model is configured, each has a backend that answered its last probe, embeddings are loaded.

    A gateway with no model at all (a configuration that was not found, say) is never ready.

    The SIEM destinations' backlogs are reported too, but never make the gateway unready: the
    audit trail is the durable queue, and a SIEM outage must not take answers away.
    """
    models = {pool.model: pool.ready for pool in catalog.pools}
    ready = bool(models) and all(models.values()) and embeddings.ready
    backlogs = {
        name: {"backlog": state.backlog, "over_bound": state.over_bound, "last_error": state.last_error}
        for name, state in siem.states.items()
    }
    body = {
        "status": "ready" if ready else "not ready",
        "models": models,
        "embeddings": embeddings.ready,
        "siem": backlogs,
    }
    if not models:
        body["problem"] = "no models are configured (serving.models is empty)"
    return JSONResponse(body, status_code=200 if ready else 503)
