"""``/web/api/admin``: the admin console's routes (role ``admin``): model versions with promote and
rollback (the registry's own operations), managed API keys (the key is shown once), and nothing that
reads conversations. Every change is an audit record; anyone without the role gets 403, audited.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from suite.auth import ApiKeyInfo, Principal, parse_duration
from suite.errors import PermissionDenied
from suite.registry import ModelRegistry
from suite.web.deps import WebDep, audit_event, web_principal
from suite.web.protocol import WebModel

router = APIRouter(prefix="/web/api/admin", tags=["web"], include_in_schema=False)


async def admin_principal(request: Request) -> Principal:
    """The signed-in admin; PermissionDenied (403, audited) for anyone else."""
    principal = await web_principal(request)
    if "admin" not in principal.roles:
        raise PermissionDenied("The admin console needs the role admin.")
    return principal


AdminDep = Annotated[Principal, Depends(admin_principal)]


class NewKey(WebModel):
    owner: str = Field(min_length=1, max_length=200)
    roles: list[str] = Field(default_factory=lambda: ["employee"])
    models: list[str] = Field(default_factory=list)
    expires: str | None = Field(default="90d", max_length=10)


def _key(info: ApiKeyInfo) -> dict[str, Any]:
    return {
        "key_id": info.key_id,
        "owner": info.owner,
        "roles": info.roles,
        "models": info.models,
        "status": info.status,
        "created_by": info.created_by,
        "created_at": info.created_at.isoformat(),
        "expires_at": info.expires_at.isoformat() if info.expires_at else None,
    }


@router.get("/models")
async def models(web: WebDep, principal: AdminDep) -> dict[str, Any]:
    """Each configured model with its backends' health, and every registry version with its state."""
    registry = ModelRegistry(web.gateway.database)
    versions = await asyncio.to_thread(registry.versions)
    return {
        "models": web.gateway.catalog.names,
        "versions": [
            {"name": v.name, "version": v.version, "state": v.state, "promoted_at": v.promoted_at} for v in versions
        ],
    }


@router.post("/models/{name}/promote/{version}")
async def promote(request: Request, web: WebDep, principal: AdminDep, name: str, version: str) -> dict[str, str]:
    """Promote a version (the registry's operation; the engines follow it)."""
    registry = ModelRegistry(web.gateway.database)
    promoted = await asyncio.to_thread(registry.promote, name, version, actor=principal.subject)
    await web.record(
        audit_event(
            request, principal, event_class="admin", action="models.promote", model=name, details={"version": version}
        )
    )
    return {"name": promoted.name, "version": promoted.version, "state": promoted.state}


@router.post("/models/{name}/rollback")
async def rollback(request: Request, web: WebDep, principal: AdminDep, name: str) -> dict[str, str]:
    """Go back to the version served before."""
    registry = ModelRegistry(web.gateway.database)
    current = await asyncio.to_thread(registry.rollback, name, actor=principal.subject)
    await web.record(
        audit_event(
            request,
            principal,
            event_class="admin",
            action="models.rollback",
            model=name,
            details={"version": current.version},
        )
    )
    return {"name": current.name, "version": current.version, "state": current.state}


@router.get("/keys")
async def keys(web: WebDep, principal: AdminDep) -> dict[str, Any]:
    """The managed API keys (never the keys themselves)."""
    store = web.gateway.api_keys
    return {"data": [_key(info) for info in await asyncio.to_thread(store.list)]}


@router.post("/keys", status_code=201)
async def create_key(request: Request, web: WebDep, principal: AdminDep, body: NewKey) -> dict[str, Any]:
    """A new key; the answer is the only time it is shown."""
    store = web.gateway.api_keys
    expires = parse_duration(body.expires) if body.expires else None
    key, info = await asyncio.to_thread(
        store.create,
        owner=body.owner,
        roles=body.roles,
        models=body.models,
        expires_in=expires,
        created_by=principal.subject,
    )
    await web.record(
        audit_event(
            request,
            principal,
            event_class="admin",
            action="keys.create",
            details={"key_id": info.key_id, "owner": info.owner},
        )
    )
    return {"key": key, **_key(info)}


@router.delete("/keys/{key_id}", status_code=204)
async def revoke_key(request: Request, web: WebDep, principal: AdminDep, key_id: str) -> Response:
    """Revoke a key."""
    store = web.gateway.api_keys
    await asyncio.to_thread(store.revoke, key_id)
    await web.record(
        audit_event(request, principal, event_class="admin", action="keys.revoke", details={"key_id": key_id})
    )
    return Response(status_code=204)
