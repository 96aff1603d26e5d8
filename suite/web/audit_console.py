"""``POST /web/api/audit/verify``: the audit console's chain verification (role route ``audit``).

Searching, showing and exporting go straight to the ``/v1/audit`` API with the session; only the
verification, which the API does not offer over HTTP, lives here. It checks the stored chain against
the gateway's own public keys and is itself an audit record (``audit.verify``) written before the work.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request

from suite.audit import KeyRing, key_dir_of, verify_database
from suite.web.deps import WebDep, WebPrincipalDep, audit_event

router = APIRouter(prefix="/web/api/audit", tags=["web"], include_in_schema=False)


@router.post("/verify")
async def verify(request: Request, web: WebDep, principal: WebPrincipalDep) -> dict[str, Any]:
    """Verify the whole stored chain; the report names the first bad record, if any."""
    decision = web.gateway.policy.require(principal, "audit")  # PermissionDenied (audited) for anyone else
    await web.gateway.audit.record(
        audit_event(
            request,
            principal,
            event_class="audit_access",
            action="audit.verify",
            decision="allow",
            decision_rule=decision.rule,
        )
    )
    settings = web.settings
    trusted = KeyRing(key_dir_of(settings.audit, settings.data_dir)).public_keys()
    report = await asyncio.to_thread(verify_database, web.gateway.database, trusted)
    return asdict(report)
