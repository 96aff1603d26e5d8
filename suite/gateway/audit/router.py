"""`/v1/audit/...`: search, show and export the audit trail (RBAC route "audit").

Every call is itself recorded (event class "audit_access"), before the data leaves.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from suite.audit import AuditFilters, AuditQuery, AuditRecord, apply_content_policy
from suite.auth import Principal
from suite.errors import InvalidRequest, SuiteError
from suite.gateway.deps import PrincipalDep, RequestIdDep, Services, ServicesDep, require_principal
from suite.gateway.records import request_event

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


async def _record_access(
    request: Request, services: Services, principal: Principal, request_id: str, action: str, details: dict[str, Any]
) -> None:
    decision = services.policy.require(principal, "audit")
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
    await services.audit.record(event)


def _access_details(services: Services, filters: AuditFilters) -> dict[str, Any]:
    # The search text is content too: it is kept as the content policy says, like prompts.
    details = filters.describe()
    if filters.text is not None:
        details["text"] = apply_content_policy(services.settings.audit.content, filters.text)
    return details


def _json(model: BaseModel) -> JSONResponse:
    # Records are returned as stored, unvalidated: a tampered record must reach the investigator, not fail as a 500.
    return JSONResponse(model.model_dump(mode="json"))


@router.get("/events", response_model=AuditEventList)
async def search_events(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
    filters: FiltersDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> JSONResponse:
    """Records matching the filters, newest first, a page at a time (follow ``next_cursor``)."""
    await _record_access(request, services, principal, request_id, "audit.query", _access_details(services, filters))
    query = AuditQuery(services.database)
    page = await services.database.workers.run(query.search, filters, cursor=cursor, limit=limit)
    return _json(AuditEventList.model_construct(data=page.records, next_cursor=page.next_cursor))


@router.get("/events/{record_id}", response_model=AuditRecord)
async def show_event(
    record_id: str, request: Request, services: ServicesDep, principal: PrincipalDep, request_id: RequestIdDep
) -> JSONResponse:
    """One record with its chain fields."""
    await _record_access(request, services, principal, request_id, "audit.show", {"record_id": record_id})
    record = await services.database.workers.run(AuditQuery(services.database).get, record_id)
    if record is None:
        raise RecordNotFound(f"No audit record {record_id!r}.", param="record_id")
    return _json(record)


@router.get("/export")
async def export_events(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
    filters: FiltersDep,
    format: Literal["jsonl", "csv"] = "jsonl",
) -> StreamingResponse:
    """The matching records as JSON lines or CSV, streamed, with the chain fields and checkpoints
    so that the file verifies on its own (`suite audit verify --export FILE`)."""
    if filters.time_to and filters.time_from and filters.time_to <= filters.time_from:
        raise InvalidRequest("time_to must be after time_from.", param="time_to")
    details = {**_access_details(services, filters), "format": format}
    await _record_access(request, services, principal, request_id, "audit.export", details)
    lines = AuditQuery(services.database).export(filters, keys=services.audit.keys, fmt=format)
    media_type = "application/x-ndjson" if format == "jsonl" else "text/csv"
    filename = f"audit-export.{format}"
    # A sync iterator: Starlette reads it on a worker thread, so the database never blocks the loop.
    return StreamingResponse(
        lines, media_type=media_type, headers={"content-disposition": f'attachment; filename="{filename}"'}
    )
