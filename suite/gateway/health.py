"""Unauthenticated probes for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from suite.gateway.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The gateway process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    """Every configured model has a backend that answered its last probe, and embeddings are loaded.

    The SIEM destinations' backlogs are reported too, but never make the gateway unready: the
    audit trail is the durable queue, and a SIEM outage must not take answers away.
    """
    models = {pool.model: pool.ready for pool in services.catalog.pools}
    ready = all(models.values()) and services.embeddings.ready
    siem = {
        name: {"backlog": state.backlog, "over_bound": state.over_bound, "last_error": state.last_error}
        for name, state in services.siem.states.items()
    }
    body = {
        "status": "ready" if ready else "not ready",
        "models": models,
        "embeddings": services.embeddings.ready,
        "siem": siem,
    }
    return JSONResponse(body, status_code=200 if ready else 503)
