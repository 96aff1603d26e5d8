"""`/v1/audit/...`: search, show and export the audit trail (RBAC route "audit").

Every call is itself recorded (event class "audit_access"), before the data leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from suite.audit import AuditFilters, AuditQuery, AuditRecord, AuditTrail
from suite.auth import Policy, Principal
from suite.db import Database
from suite.errors import InvalidRequest, SuiteError
from suite.gateway.deps import (
    AuditDep,
    ContentDep,
    DatabaseDep,
    PolicyDep,
    PrincipalDep,
    RequestIdDep,
    require_principal,
)
from suite.gateway.records import ContentRecorder, request_event

router = APIRouter(prefix="/v1/audit", tags=["audit"], dependencies=[Depends(require_principal)])


class AuditEventList(BaseModel):
    object: Literal["list"] = "list"
    data: list[AuditRecord]
    next_cursor: str | None


class RecordNotFound(SuiteError):
    status_code = 404
    error_type = "invalid_request_error"
    code = "record_not_found"


# The filters' fields are the query parameters.
FiltersDep = Annotated[AuditFilters, Depends(AuditFilters)]


@dataclass(frozen=True)
class AuditAccess:
    """What the audit routes use: the policy (route "audit"), the trail itself, its database and content policy."""

    policy: Policy
    audit: AuditTrail
    database: Database
    content: ContentRecorder

    async def record(
        self, request: Request, principal: Principal, request_id: str, action: str, details: dict[str, Any]
    ) -> None:
        """The access itself on the trail, before any data leaves (PermissionDenied without the "audit" route)."""
        decision = self.policy.require(principal, "audit")
        event = request_event(
            request,
            principal,
            request_id,
            event_class="audit_access",
            action=action,
            decision="allow",
            decision_rule=decision.rule,
            details=details,
        )
        await self.audit.record(event)

    async def details(self, filters: AuditFilters) -> dict[str, Any]:
        """The filters as the access record keeps them."""
        # The search text is content too: it is kept as the content policy says, like prompts.
        details = filters.describe()
        if filters.text is not None:
            details["text"] = await self.content.keep(self.content.policy_for(route="audit", model=None), filters.text)
        return details


async def _access(policy: PolicyDep, audit: AuditDep, database: DatabaseDep, content: ContentDep) -> AuditAccess:
    return AuditAccess(policy, audit, database, content)


AccessDep = Annotated[AuditAccess, Depends(_access)]


def _json(model: BaseModel) -> JSONResponse:
    # Records are returned as stored, unvalidated: a tampered record must reach the investigator, not fail as a 500.
    return JSONResponse(model.model_dump(mode="json"))


@router.get("/events", response_model=AuditEventList)
async def search_events(
    request: Request,
    access: AccessDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
    filters: FiltersDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> JSONResponse:
    """Records matching the filters, newest first, a page at a time (follow ``next_cursor``)."""
    await access.record(request, principal, request_id, "audit.query", await access.details(filters))
    query = AuditQuery(access.database)
    page = await access.database.workers.run(query.search, filters, cursor=cursor, limit=limit)
    return _json(AuditEventList.model_construct(data=page.records, next_cursor=page.next_cursor))


@router.get("/events/{record_id}", response_model=AuditRecord)
async def show_event(
    record_id: str, request: Request, access: AccessDep, principal: PrincipalDep, request_id: RequestIdDep
) -> JSONResponse:
    """One record with its chain fields."""
    await access.record(request, principal, request_id, "audit.show", {"record_id": record_id})
    record = await access.database.workers.run(AuditQuery(access.database).get, record_id)
    if record is None:
        raise RecordNotFound(f"No audit record {record_id!r}.", param="record_id")
    return _json(record)


@router.get("/export")
async def export_events(
    request: Request,
    access: AccessDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
    filters: FiltersDep,
    format: Literal["jsonl", "csv"] = "jsonl",
) -> StreamingResponse:
    """The matching records as JSON lines or CSV, streamed, with the chain fields and checkpoints
    so that the file verifies on its own (`suite audit verify --export FILE`)."""
    if filters.time_to and filters.time_from and filters.time_to <= filters.time_from:
        raise InvalidRequest("time_to must be after time_from.", param="time_to")
    details = {**await access.details(filters), "format": format}
    await access.record(request, principal, request_id, "audit.export", details)
    lines = AuditQuery(access.database).export(filters, keys=access.audit.keys, fmt=format)
    media_type = "application/x-ndjson" if format == "jsonl" else "text/csv"
    filename = f"audit-export.{format}"
    # A sync iterator: Starlette reads it on a worker thread, so the database never blocks the loop.
    return StreamingResponse(
        lines, media_type=media_type, headers={"content-disposition": f'attachment; filename="{filename}"'}
    )
