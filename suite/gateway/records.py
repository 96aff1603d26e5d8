"""Audit records of gateway requests: the fields every such record takes from the HTTP request."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from suite.audit import AuditEvent, principal_fields
from suite.auth import Principal


def request_event(request: Request, principal: Principal, request_id: str, **fields: Any) -> AuditEvent:
    """An audit event for this request and caller: request id, client address, route and principal filled in."""
    return AuditEvent(
        request_id=request_id,
        client_address=request.client.host if request.client else None,
        route=request.url.path,
        **fields,
        **principal_fields(principal),
    )
